from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self):
        from core import holdings
        from crm import audit, timeline
        from crm.services import user_hand_over
        from crm.setup import ensure_default_pipeline

        timeline.register_crm_kinds()
        audit.register_models()
        holdings.declare(holdings.Holdings(
            app="crm", handover=user_hand_over, handover_kinds={
                "deals": _("Deals"), "contacts": _("Contacts"), "companies": _("Companies"),
                "tasks": _("Open tasks"),
            },
            api_urls="crm.api.urls",
        ))
        post_migrate.connect(ensure_default_pipeline, dispatch_uid="crm.default_pipeline")
