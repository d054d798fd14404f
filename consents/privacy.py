"""The privacy center's links: signed, expiring, revocable; and the staff action that sends one.

A link is `/privacy/<token>/`, the token a `TimestampSigner` signature (salt of its own, so no
other signed value of the site is ever accepted as a link) over:
- `c`: the contact's id;
- `g`: the contact's link generation: how many times their links were revoked, counted on
  their timeline (`privacy_links_revoked` entries). Revoking adds an entry, so every link
  signed before stops matching, while links signed after work at once (a timestamp cut-off
  would void a link signed in the same second as the revocation);
- `k`: a tag derived from the contact's SubjectKey. Erasure deletes that key (crypto-
  shredding), so an erased client's links die with it, even if the erasure also wiped their
  timeline and the generation fell back to 0;
- `t`: the link's lifetime in seconds (PRIVACY_LINK_HOURS by default), checked against the
  signature's timestamp.
No table is needed. The token is a bearer credential: whoever holds it sees the client's data
until it expires, so it is never written to the access log (consents.views.public records the path
without it) and each page says "do not forward this link".

Errors: a token that does not verify answers 400, an expired one 410, a revoked one (or one
whose contact is gone) 404; the pages say so in plain Russian and show no data.
"""

import hmac
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from consents import subject_keys
from core.holdings import declared
from crm import selectors as crm_selectors
from crm import services as crm_services
from crm.models import Contact, ContactPoint, TimelineEntry
from security import masking

logger = logging.getLogger("consents.privacy")

SALT = "consents.privacy-center.link"
KIND_SENT = "privacy_link_sent"
KIND_REVOKED = "privacy_links_revoked"


class LinkError(Exception):
    status = 400


class LinkInvalid(LinkError):
    status = 400


class LinkExpired(LinkError):
    status = 410


class LinkRevoked(LinkError):
    status = 404


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def _generation(contact_id: int) -> int:
    return TimelineEntry.objects.filter(contact_id=contact_id, kind=KIND_REVOKED).count()


def _key_tag(contact_id: int, *, create: bool) -> str | None:
    # The contact's own data key (consents.subject_keys), never shown: only an HMAC of it.
    return subject_keys.tag(contact_id, b"privacy-center-link", create=create)


def lifetime() -> timedelta:
    return timedelta(hours=settings.PRIVACY_LINK_HOURS)


def privacy_token(contact: Contact, *, ttl: timedelta | None = None) -> str:
    ttl = ttl or lifetime()
    return _signer().sign_object({
        "c": contact.pk, "g": _generation(contact.pk),
        "k": _key_tag(contact.pk, create=True), "t": int(ttl.total_seconds()),
    })


def privacy_link(contact: Contact, *, ttl: timedelta | None = None, base_url: str = "") -> str:
    """The absolute URL of the contact's privacy center (base: PRIVACY_BASE_URL, else the
    caller's, else a path)."""
    path = reverse("privacy:open", kwargs={"token": privacy_token(contact, ttl=ttl)})
    base = (settings.PRIVACY_BASE_URL or base_url).rstrip("/")
    return f"{base}{path}"


def privacy_contact(token: str) -> Contact:
    """The contact a token is for, or LinkInvalid / LinkExpired / LinkRevoked."""
    signer = _signer()
    try:
        data = signer.unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        raise LinkInvalid from None
    if not (isinstance(data, dict) and isinstance(data.get("c"), int)
            and isinstance(data.get("g"), int) and isinstance(data.get("t"), int)):
        raise LinkInvalid
    try:
        signer.unsign_object(token, max_age=data["t"])
    except signing.SignatureExpired:
        raise LinkExpired from None
    contact = Contact.objects.filter(pk=data["c"]).select_related("company").first()
    if contact is None or data["g"] != _generation(contact.pk):
        raise LinkRevoked
    tag = _key_tag(contact.pk, create=False)
    if tag is None or not hmac.compare_digest(tag, str(data.get("k", ""))):
        raise LinkRevoked
    return contact


# --- Staff: sending and revoking links -------------------------------------------------------


def _chat_routes(*, user, contact: Contact) -> dict[str, tuple[str, object]]:
    """The client's chats `user` may answer (a reply in a chat the client opened), as the
    apps holding them declare (core.holdings: client_routes): route -> (label, the holdings
    that sends there)."""
    return {route: (label, holdings) for holdings in declared() if holdings.client_routes
            for route, label in holdings.client_routes(user=user, contact=contact)}


def _email_routes(contact: Contact):
    """The contact's addresses a link may go to: one the client reached us from, which staff
    have not added or changed within a link's lifetime. An address a manager typed in (their
    own, say) never qualifies, so the link and the data behind it cannot be routed to staff."""
    return contact.points.filter(
        kind=ContactPoint.Kind.EMAIL, client_used_at__isnull=False,
    ).exclude(staff_set_at__gt=timezone.now() - lifetime()).order_by("pk")


def link_routes(*, user, contact: Contact) -> list[tuple[str, str]]:
    """Where `user` may send the contact their link: each chat the client wrote in that the
    user may answer, and each address the client used (`_email_routes`), as the user may see
    it: masked for most roles; the full address is never shown here."""
    routes = [(route, label)
              for route, (label, _holdings) in _chat_routes(user=user, contact=contact).items()]
    for point in _email_routes(contact):
        shown = masking.present_value(user=user, contact=contact, kind=point.kind,
                                      value=point.value)
        routes.append((f"email:{point.pk}",
                       _("E-mail: %(address)s") % {"address": shown or f"#{point.pk}"}))
    return routes


def _message_text(url: str, expires) -> tuple[str, str]:
    """The subject and text the client gets, in the site's language whatever the sender's."""
    with translation.override(settings.LANGUAGE_CODE):
        until = date_format(timezone.localtime(expires), "j E Y, H:i")
        subject = _("Your personal data and consents")
        text = _(
            "Here you can see what personal data we keep about you and why, withdraw a "
            "consent, download your data or ask us to correct or erase it:\n%(url)s\n\n"
            "The link is personal: please do not forward it. It works until %(until)s."
        ) % {"url": url, "until": until}
    return subject, text


def _shown_text(expires) -> str:
    """What the conversation shows staff in place of the message with the link."""
    with translation.override(settings.LANGUAGE_CODE):
        return _("🔒 Privacy center link sent to the client (valid until %(until)s). The "
                 "link is theirs alone and is not shown here.") % {
            "until": date_format(timezone.localtime(expires), "j E Y, H:i")}


@transaction.atomic
def privacy_link_send(*, contact: Contact, by, via: str, base_url: str = "") -> TimelineEntry:
    """Send the contact a fresh link over `via` (one of `link_routes`) and note it on their
    timeline. Only someone who may change the contact sends one."""
    if not crm_selectors.contact_can_edit(user=by, contact=contact):
        raise PermissionDenied(_("Your role does not allow this action."))
    chats = _chat_routes(user=by, contact=contact)
    kind, _sep, ident = via.partition(":")
    point = None
    if via not in chats:
        if kind == "email" and ident.isdigit():
            point = _email_routes(contact).filter(pk=int(ident)).first()
        if point is None:
            raise ValidationError({"via": _("Choose where to send the link.")})
    expires = timezone.now() + lifetime()
    subject, text = _message_text(privacy_link(contact, base_url=base_url), expires)
    if point is None:
        _label, holdings = chats[via]
        payload = holdings.client_send(route=via, by=by, text=text,
                                       shown=_shown_text(expires))
    else:
        try:
            send_mail(subject, text, None, [point.value])
        except Exception:
            # The address stays out of the log: the contact and point ids tell which.
            logger.exception("privacy link e-mail to contact %s (point %s) failed",
                             contact.pk, point.pk)
            raise ValidationError({"via": _("The e-mail could not be sent. Try again later "
                                             "or choose another channel.")}) from None
        payload = {"via": "email", "point": point.pk}
    payload["expires_at"] = expires.isoformat()
    logger.info("privacy link sent to contact %s via %s by user %s", contact.pk, kind, by.pk)
    return crm_services.timeline_add(kind=KIND_SENT, contact=contact, actor=by, payload=payload)


@transaction.atomic
def privacy_links_revoke(*, contact: Contact, by=None) -> TimelineEntry:
    """Void every link of the contact sent so far (a link sent to the wrong chat, a client who
    asks). Links sent afterwards work."""
    if by is not None and not crm_selectors.contact_can_edit(user=by, contact=contact):
        raise PermissionDenied(_("Your role does not allow this action."))
    # One revocation at a time per contact, so the generation a new link reads is settled.
    Contact.objects.select_for_update().filter(pk=contact.pk).first()
    return crm_services.timeline_add(kind=KIND_REVOKED, contact=contact, actor=by)


# --- Public side: the rate limit -------------------------------------------------------------

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
            "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def rate_limited(*, contact_id: int, ip: str | None) -> int:
    """0 when one more POST (withdraw, request, download) may go, else the seconds to wait.
    Counted per contact (whoever holds their link) and per address (whoever tries many)."""
    count, period = settings.PRIVACY_RATE.split("/")
    limit, window = int(count), _PERIODS[period]
    now = int(time.time())
    start = now - now % window
    wait = 0
    for key in (f"ratelimit:privacy:contact:{contact_id}:{start}",
                f"ratelimit:privacy:ip:{ip or '-'}:{start}"):
        cache.add(key, 0, window + 5)
        try:
            used = cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, window + 5)
            used = 1
        if used > limit:
            wait = max(1, start + window - now)
    return wait
