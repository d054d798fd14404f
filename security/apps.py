from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class SecurityConfig(AppConfig):
    name = "security"
    verbose_name = _("Security, users and teams")

    def ready(self):
        from auditlog.models import LogEntry
        from auditlog.registry import auditlog
        from django.db.models.signals import post_save

        from core import holdings
        from security import accounts, exports, sandbox
        from security.audit.change_log import seal
        from security.models import Alert, RuleSetting
        from security.roles import sync_role_groups

        holdings.declare(holdings.Holdings(
            app="security", api_urls="security.api.urls",
            encrypted_files=(exports.storage.declared(),),
            pseudonymize=sandbox.pseudonymize))
        # Accounts, roles and teams and the field policy: who changed the access. And the
        # security officer's own work: a rule's threshold or response changed, an alert
        # assigned or closed (who, when, from what to what).
        from security.models import FieldPolicy, Team, User

        auditlog.register(User, m2m_fields={"groups"},
                          exclude_fields=["password", "last_login"])
        auditlog.register(Team)
        auditlog.register(FieldPolicy)
        auditlog.register(RuleSetting)
        auditlog.register(Alert, exclude_fields=["evidence"])
        # Each change log entry is sealed into a hash chain as it is written.
        post_save.connect(seal, sender=LogEntry, dispatch_uid="security.seal_change")

        # The anomaly rules hear every batch of reads, every deletion and every login.
        from security.audit import rules
        from security.audit.access_log import access_recorded

        access_recorded.connect(rules.on_access, dispatch_uid="security.rules.access")
        post_save.connect(rules.on_change, sender=LogEntry, dispatch_uid="security.rules.change")
        user_logged_in.connect(_login_seen, dispatch_uid="security.rules.login")

        user_logged_out.connect(_close_session_sockets, dispatch_uid="security.close_sockets")
        # Whose each session is, so cutting a user off ends exactly theirs.
        user_logged_in.connect(accounts.on_user_logged_in, dispatch_uid="security.track_session")

        # Groups need the permissions that only exist after every app migrated.
        post_migrate.connect(sync_role_groups, dispatch_uid="security.sync_role_groups")


def _close_session_sockets(sender, request, user, **kwargs):
    """Logging out closes the websockets opened with that session (the page stops getting
    events at once, not when the socket next reconnects)."""
    from core import events

    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        events.session_ended(session_key=session_key)


def _login_seen(sender, request, user, **kwargs):
    from security.audit import rules
    from security.requests import client_ip

    rules.on_login(user=user, ip=client_ip(request) if request is not None else None)
