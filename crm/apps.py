from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self):
        from crm import audit, timeline
        from crm.services import user_hand_over
        from crm.setup import ensure_default_pipeline
        from security.offboarding import register_handover

        timeline.register_crm_kinds()
        audit.register_models()
        register_handover("crm", user_hand_over, kinds={
            "deals": _("Deals"), "contacts": _("Contacts"), "companies": _("Companies"),
            "tasks": _("Open tasks"),
        })
        post_migrate.connect(ensure_default_pipeline, dispatch_uid="crm.default_pipeline")
