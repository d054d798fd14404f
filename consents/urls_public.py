"""The privacy center's public pages, reached through a signed link (consents.privacy)."""

from django.urls import path

from consents import views_public

app_name = "privacy"

urlpatterns = [
    path("<str:token>/", views_public.privacy_home, name="home"),
    path("<str:token>/withdraw/", views_public.privacy_withdraw, name="withdraw"),
    path("<str:token>/download/", views_public.privacy_download, name="download"),
    path("<str:token>/request/", views_public.privacy_request, name="request"),
]
