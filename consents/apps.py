from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsentsConfig(AppConfig):
    name = "consents"
    verbose_name = _("Consents and data subjects")

    def ready(self):
        from consents import demo, merge, sandbox
        from consents.models import ConsentEvent
        from core import holdings
        from crm.timeline import TimelineKind, payload_data

        # The privacy center's links on the contact's timeline: who sent one, over what, until
        # when; and revocations (which also void the links: consents.privacy).
        link = "consents/timeline/privacy_link.html"
        holdings.declare(holdings.Holdings(
            app="consents", api_urls="consents.api.urls", demo=demo.seed,
            merge_models=("consents.subjectrequest",), merge=merge.consents_merge,
            unmerge=merge.consents_unmerge, pseudonymize=sandbox.pseudonymize,
            audit_chains=((_("Consent ledger"), ConsentEvent),),
            timeline_kinds=(
                TimelineKind("privacy_link_sent", _("Privacy center link sent"), link,
                             payload_data),
                TimelineKind("privacy_links_revoked", _("Privacy center links revoked"), link,
                             payload_data),
            ),
        ))
