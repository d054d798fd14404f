from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self):
        from crm import timeline
        from crm.setup import ensure_default_pipeline

        timeline.register_crm_kinds()
        post_migrate.connect(ensure_default_pipeline, dispatch_uid="crm.default_pipeline")
