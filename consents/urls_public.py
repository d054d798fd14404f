"""The privacy center's public pages, reached through a signed link (consents.privacy)."""

from django.urls import path

from consents.views import public

app_name = "privacy"

urlpatterns = [
    path("<str:token>/", public.privacy_home, name="home"),
    path("<str:token>/withdraw/", public.privacy_withdraw, name="withdraw"),
    path("<str:token>/download/", public.privacy_download, name="download"),
    path("<str:token>/request/", public.privacy_request, name="request"),
]
