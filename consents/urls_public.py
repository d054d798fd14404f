"""The privacy center's public pages: the signed link opens a visit (consents.privacy), and
the pages after it carry no token in their address."""

from django.urls import path

from consents.views import public

app_name = "privacy"

urlpatterns = [
    path("", public.privacy_home, name="home"),
    path("withdraw/", public.privacy_withdraw, name="withdraw"),
    path("download/", public.privacy_download, name="download"),
    path("request/", public.privacy_request, name="request"),
    path("<str:token>/", public.privacy_open, name="open"),
]
