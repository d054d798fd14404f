"""Cutting a user off, in one place: offboarding and suspension both end here.

`user_cut_off` deactivates the account, deletes every session of the user and their API token,
and closes their live websockets at once (a `session.ended` event to the user's group: the
consumer closes with 4401). Sessions are found through `UserSession`, recorded at login, so
nothing scans the session table. The keys taken away are kept as SHA-256 digests
(`RevokedCredential`): a later request that presents one is refused like any stranger's (a
login redirect for pages, 401 for the API, a closed socket) and, because we recognise it,
logged through `log_refused_credential`.

Even a session this module never saw (opened before the tracking existed) is refused: Django
and Channels load no inactive user from a session, and DRF takes no token of one. The
tracking is what lets us end it at once, close its sockets and log it later.

Suspension (`user_suspend`, for the alert rules and the incident page) is a cut-off with a
reason and a time, until an admin or a security officer `user_reinstate`s the account.
"""

import hashlib
import logging

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from core import events
from security import roles
from security.models import RevokedCredential, Suspension, User, UserSession

refusals = logging.getLogger("security.access")

# The session remembers which key was recorded: a request of a session whose key changed
# since (a password change cycles it) records the new key, without a query on the others.
_TRACKED = "_tracked_key"

REINSTATING_ROLES = (roles.ADMIN, roles.SECURITY_OFFICER)


def credential_digest(key: str) -> str:
    # Session keys and tokens are long random strings: a plain hash cannot be reversed.
    return hashlib.sha256(key.encode()).hexdigest()


# --- Which sessions are whose ----------------------------------------------------------------


def session_track(*, user, session) -> None:
    """Record that `session` (a request's SessionStore) belongs to `user`."""
    if session.session_key is None:
        # Logging in as another user flushed the session; its new key exists once saved.
        session.save()
    key = session.session_key
    marker = credential_digest(key)[:16]
    if session.get(_TRACKED) == marker:
        return
    try:
        with transaction.atomic():
            UserSession.objects.update_or_create(session_id=key, defaults={"user": user})
    except IntegrityError:
        return  # the session row was deleted meanwhile (a concurrent logout): nothing to track
    session[_TRACKED] = marker


def on_user_logged_in(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is not None:
        session_track(user=user, session=session)


def request_session_track(request) -> None:
    """After a request: a logged-in session whose key changed during it (or since its login)
    is recorded under its new key."""
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if (session is None or user is None or not user.is_authenticated
            or session.session_key is None):
        return
    if session.get(_TRACKED) != credential_digest(session.session_key)[:16]:
        session_track(user=user, session=session)


# --- Cutting off -----------------------------------------------------------------------------


@transaction.atomic
def user_cut_off(user, *, reason: str) -> dict:
    """Deactivate `user`, end every session and revoke the API token; their open sockets
    close when the transaction commits. Returns how many sessions and tokens went."""
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.is_active = False
    session_keys = list(UserSession.objects.filter(user=user).values_list("session_id", flat=True))
    token_keys = list(Token.objects.filter(user=user).values_list("key", flat=True))
    now = timezone.now()
    RevokedCredential.objects.bulk_create(
        [RevokedCredential(kind=RevokedCredential.Kind.SESSION, digest=credential_digest(key),
                           user=user, reason=reason, revoked_at=now) for key in session_keys]
        + [RevokedCredential(kind=RevokedCredential.Kind.TOKEN, digest=credential_digest(key),
                             user=user, reason=reason, revoked_at=now) for key in token_keys],
        ignore_conflicts=True,
    )
    Session.objects.filter(session_key__in=session_keys).delete()  # UserSession rows go too
    Token.objects.filter(user=user).delete()
    # Every socket of the user, whichever session opened it, closes with 4401.
    events.send_after_commit(events.user_group(user.pk), {"type": "session.ended"})
    return {"sessions_ended": len(session_keys), "tokens_revoked": len(token_keys)}


def revoked_credentials_delete_stale(*, now=None) -> int:
    """Revoked session digests older than the longest session can never match a live cookie
    again; token digests stay (a token never expires by itself)."""
    limit = (now or timezone.now()) - timezone.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    deleted, _rows = RevokedCredential.objects.filter(
        kind=RevokedCredential.Kind.SESSION, revoked_at__lt=limit
    ).delete()
    return deleted


# --- Refused credentials ---------------------------------------------------------------------


def log_refused_credential(*, user_id: int, kind: str, surface: str, ip: str | None = None,
                           path: str = "") -> None:
    """The one hook for "a revoked session or token was presented": a record in the access
    log (which the security officer searches) and a WARNING on the `security.access` logger
    (which the operator's log collector sees)."""
    from security.audit import access_log

    user = User.objects.filter(pk=user_id).first()
    access_log.event(
        action=access_log.Action.REFUSED, user=user,
        surface={"websocket": access_log.Surface.WEBSOCKET}.get(surface, surface),
        detail={"credential": kind, "ip": ip or "", "path": path[:300]},
    )
    refusals.warning(
        "refused revoked %s of user %s on %s%s from %s",
        kind, user_id, surface, f" {path}" if path else "", ip or "unknown address",
        extra={"user_id": user_id, "credential": kind, "surface": surface, "ip": ip,
               "path": path},
    )


def _refused(kind: str, key: str, *, surface: str, ip, path: str) -> bool:
    user_id = (RevokedCredential.objects.filter(kind=kind, digest=credential_digest(key))
               .values_list("user_id", flat=True).first())
    if user_id is None:
        return False
    log_refused_credential(user_id=user_id, kind=kind, surface=surface, ip=ip, path=path)
    return True


def session_refused(session_key: str, *, surface: str, ip=None, path: str = "") -> bool:
    """Called for a session cookie that opened no session: log it if it was revoked."""
    return _refused(RevokedCredential.Kind.SESSION, session_key, surface=surface, ip=ip,
                    path=path)


def token_refused(token_key: str, *, surface: str = "api", ip=None, path: str = "") -> bool:
    """Called for an API token that matched no user: log it if it was revoked."""
    return _refused(RevokedCredential.Kind.TOKEN, token_key, surface=surface, ip=ip, path=path)


# --- Suspension ------------------------------------------------------------------------------


def suspension_open(user) -> Suspension | None:
    return Suspension.objects.filter(user=user, lifted_at__isnull=True).first()


@transaction.atomic
def user_suspend(user, *, reason: str, by=None) -> Suspension:
    """Suspend `user` until reinstated: inactive, every session and token gone, sockets
    closed. `by` is None when a rule suspends. Suspending a suspended account keeps the first
    suspension (a rule may fire twice)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the account is suspended.")})
    user = User.objects.select_for_update().get(pk=user.pk)
    suspension = suspension_open(user)
    if suspension is None:
        suspension = Suspension.objects.create(user=user, reason=reason[:500], suspended_by=by)
    user_cut_off(user, reason="suspended")
    return suspension


@transaction.atomic
def user_reinstate(user, *, by) -> Suspension:
    """Lift `user`'s suspension and make the account active again (they log in anew)."""
    if by is None or not by.is_active or by.role not in REINSTATING_ROLES:
        raise PermissionDenied(_("Only the administrator or a security officer reinstates "
                                 "an account."))
    user = User.objects.select_for_update().get(pk=user.pk)
    suspension = suspension_open(user)
    if suspension is None:
        raise ValidationError(_("This account is not suspended."))
    if user.offboardings.filter(status="done").exists():
        raise ValidationError(_("This employee has been offboarded; their account stays "
                                "closed."))
    suspension.lifted_at = timezone.now()
    suspension.lifted_by = by
    suspension.save(update_fields=["lifted_at", "lifted_by"])
    from auditlog.context import set_actor

    with set_actor(by):  # the change log names who opened the account again
        user.is_active = True
        user.save(update_fields=["is_active"])
    return suspension


# --- Selectors -------------------------------------------------------------------------------


def user_list() -> QuerySet[User]:
    """Every account for the admin's user list and the users API: team, role, whether
    suspended or offboarded, and the offboarding scheduled (`scheduled_offboardings`)."""
    from security.models import Offboarding

    return (
        User.objects.select_related("team")
        .prefetch_related(
            "groups",
            Prefetch("offboardings",
                     queryset=Offboarding.objects.filter(status=Offboarding.Status.SCHEDULED)
                     .select_related("successor"),
                     to_attr="scheduled_offboardings"),
        )
        .annotate(
            is_suspended=Exists(Suspension.objects.filter(user=OuterRef("pk"),
                                                          lifted_at__isnull=True)),
            is_offboarded=Exists(Offboarding.objects.filter(user=OuterRef("pk"),
                                                            status=Offboarding.Status.DONE)),
        )
        .order_by("-is_active", "first_name", "last_name", "username")
    )
