from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class SecurityConfig(AppConfig):
    name = "security"
    verbose_name = _("Security, users and teams")

    def ready(self):
        from auditlog.registry import auditlog

        from security.models import DealUserObjectPermission
        from security.roles import sync_role_groups
        from security.sharing import register_timeline_kinds

        register_timeline_kinds()
        # Who shared what with whom, and every change of a share, in the change log too.
        auditlog.register(DealUserObjectPermission)

        # Groups need the permissions that only exist after every app migrated.
        post_migrate.connect(sync_role_groups, dispatch_uid="security.sync_role_groups")
