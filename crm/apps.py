from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _hand_over(handover) -> dict[str, list[int]]:
    """What the leaver owns moves to the successor; then the shares they were given are
    revoked (a share was given to a person, it does not pass on)."""
    from crm.services import user_hand_over
    from crm.sharing import shares_hand_over

    return {**user_hand_over(handover), **shares_hand_over(handover)}


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self):
        from auditlog.registry import auditlog

        from core import holdings
        from crm import audit, exports, rollups, sandbox, search, selectors, sharing, timeline
        from crm.models import DealUserObjectPermission
        from crm.setup import ensure_default_pipeline

        timeline.register_crm_kinds()
        sharing.register_timeline_kinds()
        audit.register_models()
        # Who shared what with whom, and every change of a share, in the change log too.
        auditlog.register(DealUserObjectPermission)
        holdings.declare(holdings.Holdings(
            app="crm", handover=_hand_over, handover_kinds={
                "deals": _("Deals"), "contacts": _("Contacts"), "companies": _("Companies"),
                "tasks": _("Open tasks"), "shares": _("Deal shares revoked"),
            },
            handover_models={"deals": "crm.deal", "contacts": "crm.contact",
                             "companies": "crm.company", "tasks": "crm.task"},
            api_urls="crm.api.urls", exports=exports.EXPORTS,
            clients_worked_with=selectors.clients_worked_with,
            activity_facts=rollups.crm_facts, search_sources=search.SOURCES,
            pseudonym_sources=sandbox.pseudonym_sources, pseudonymize=sandbox.pseudonymize,
        ))
        post_migrate.connect(ensure_default_pipeline, dispatch_uid="crm.default_pipeline")
