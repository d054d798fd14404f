"""Double opt-in for the website forms (ConsentSite.double_opt_in): a form's consents wait as a
PendingConsent, a link is mailed to the address the form gave, and only when its owner follows
it (and presses the button: mail scanners open links, people press buttons) are the grants on
the ledger, with the evidence of both events: the form's request and the confirmation's.

No contact is made and nothing is on the ledger before that: anyone may type anyone's
address into a form. A link works once and for CONSENT_CONFIRM_HOURS; an expired, tampered or
unknown one grants nothing. Unconfirmed requests are deleted when they expire
(`pending_purge`, daily).
"""

import hashlib
import json
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from consents import services
from consents.models import PendingConsent, Purpose

logger = logging.getLogger("consents.confirmation")


class LinkInvalid(Exception):
    """No such link (tampered, never made, or purged)."""


class LinkExpired(Exception):
    pass


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def confirm_hours() -> int:
    return getattr(settings, "CONSENT_CONFIRM_HOURS", 48)


@transaction.atomic
def pending_create(*, site, purposes: list[Purpose], email: str, phone: str = "",
                   name: str = "", text_versions: dict | None = None, evidence: dict,
                   base_url: str) -> PendingConsent:
    """Keep the form's consents as pending and mail the confirmation link (after commit)."""
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    pending = PendingConsent.objects.create(
        site=site, token_hash=_hash(token), email=email, phone=phone, name=name,
        purposes=[purpose.code for purpose in purposes], text_versions=text_versions or {},
        evidence=json.dumps({**evidence, "at": now.isoformat()}, ensure_ascii=False),
        expires_at=now + timedelta(hours=confirm_hours()),
    )
    link = base_url.rstrip("/") + reverse("consent_confirm", args=[token])
    titles = [purpose.title for purpose in purposes]
    transaction.on_commit(lambda: _mail(email=email, site=site, titles=titles, link=link))
    return pending


def _mail(*, email: str, site, titles: list[str], link: str) -> None:
    with translation.override(settings.LANGUAGE_CODE):
        body = "\n".join([
            _("Hello!"), "",
            _("Your address was given in a form on %(site)s, with consent to:") % {
                "site": site.name},
            *(f"  • {title}" for title in titles), "",
            _("To confirm, open the link and press the button (it works for %(hours)d "
              "hours):") % {"hours": confirm_hours()},
            link, "",
            _("If it was not you, ignore this message: nothing is recorded without your "
              "confirmation."),
        ])
        subject = _("Confirm your consent: %(site)s") % {"site": site.name}
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email])
    except Exception:  # the form's answer stands; the visitor may send the form again
        logger.exception("consent site %s: the confirmation mail was not sent", site.pk)


def pending_get(token: str) -> PendingConsent:
    """The pending consent a link names; LinkInvalid or LinkExpired."""
    pending = (PendingConsent.objects.select_related("site")
               .filter(token_hash=_hash(token)).first())
    if pending is None:
        raise LinkInvalid
    if pending.confirmed_at is None and pending.expires_at <= timezone.now():
        raise LinkExpired
    return pending


def pending_purposes(pending: PendingConsent) -> list[Purpose]:
    found = {p.code: p for p in Purpose.objects.filter(code__in=pending.purposes)}
    return [found[code] for code in pending.purposes if code in found]


def pending_confirm(*, token: str, evidence: dict) -> PendingConsent:
    """Record the grants of a confirmed link (once: a second press changes nothing)."""
    with transaction.atomic():
        pending = pending_get(token)
        pending = PendingConsent.objects.select_for_update().select_related("site").get(
            pk=pending.pk)
        if pending.confirmed_at is not None:
            return pending
        purposes = [p for p in pending_purposes(pending) if p.is_active]
        now = timezone.now()
        services.consent_capture(
            site=pending.site, purposes=purposes, name=pending.name, email=pending.email,
            phone=pending.phone, text_versions=pending.text_versions,
            evidence={"form": json.loads(pending.evidence),
                      "confirmation": {**evidence, "at": now.isoformat()}},
        )
        pending.confirmed_at = now
        pending.save(update_fields=["confirmed_at"])
    logger.info("consent site %s: pending consent %s confirmed", pending.site_id, pending.pk)
    return pending


def pending_purge(*, now=None) -> int:
    """Delete the requests whose link has expired (confirmed ones are on the ledger)."""
    now = now or timezone.now()
    deleted, _rows = PendingConsent.objects.filter(expires_at__lte=now).delete()
    return deleted
