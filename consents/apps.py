from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _payload(entry) -> dict:
    return dict(entry.payload)


class ConsentsConfig(AppConfig):
    name = "consents"
    verbose_name = _("Consents and data subjects")

    def ready(self):
        from consents import demo
        from core import holdings
        from crm.timeline import register_kind

        holdings.declare(holdings.Holdings(app="consents", api_urls="consents.api.urls",
                                           demo=demo.seed))

        # The privacy center's links on the contact's timeline: who sent one, over what, until
        # when; and revocations (which also void the links: consents.privacy).
        register_kind("privacy_link_sent", label=_("Privacy center link sent"),
                      template="consents/timeline/privacy_link.html", serialize=_payload)
        register_kind("privacy_links_revoked", label=_("Privacy center links revoked"),
                      template="consents/timeline/privacy_link.html", serialize=_payload)
