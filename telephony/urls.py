"""The PBX webhooks, under /hooks/ (the app's pages are in telephony/urls_app.py)."""

from django.urls import path, register_converter

from telephony import webhooks
from telephony.providers.mango import PATH_KINDS


class MangoPathConverter:
    """The paths Mango appends to the webhook base; a trailing slash is forgiven."""

    regex = "(?:" + "|".join(PATH_KINDS) + ")/?"

    def to_python(self, value: str) -> str:
        return value.rstrip("/")

    def to_url(self, value: str) -> str:
        return value


register_converter(MangoPathConverter, "mango_path")

app_name = "telephony"

urlpatterns = [
    path("mango/<uuid:account_uuid>/<mango_path:event_path>", webhooks.mango_webhook,
         name="mango_webhook"),
]
