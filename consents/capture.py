"""The public endpoint of the company's website forms: `POST /consents/capture/<site key>/`.

    {"email": "...", "phone": "...", "name": "...",           (an e-mail or a phone at least)
     "purposes": ["newsletter", ...],                            (purpose codes, one grant each)
     "text_versions": {"newsletter": 2},                         (the texts shown; default current)
     "page_url": "https://example.ru/form"}

-> 201 `{"consents": [{"purpose", "text_version"}]}`; or, where the site confirms by e-mail
(ConsentSite.double_opt_in, the default for new sites), 202 `{"status": "pending", "detail":
<words to show>}`: a link is mailed to the address and nothing is recorded until it is
followed (consents/confirmation.py), so such a form must give an e-mail.

The answer is the same whether the address belonged to a client already or a new one was
made: a public endpoint that named the contact (or a ledger position) would tell anyone who
types an address whether that person is a client. So it names no internal id.

No session, no CSRF token: the caller is a browser on the company's site. The site's key
(ConsentSite.public_key) is public, so what protects the endpoint is the browser's Origin
(exactly one of the site's, else 403 without CORS headers, so the browser shows the page
nothing), a budget per address and site (429), and a body limit (413). Every refusal is a
JSON `{"error": <code>, "detail": <words>}` a form can show.
"""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from consents import confirmation, services
from consents.models import ConsentSite, Purpose
from core.untrusted import BodyTooLarge, UntrustedJSON, request_json
from security import ratelimit
from security.requests import client_ip, origin_in

logger = logging.getLogger("consents.capture")

MAX_BODY_BYTES = 16 * 1024
MAX_PURPOSES = 20
FIELD_LIMIT = 254


def _error(status: int, code: str, detail: str, origin: str = "") -> JsonResponse:
    response = JsonResponse({"error": code, "detail": detail}, status=status,
                            json_dumps_params={"ensure_ascii": False})
    return _cors(response, origin) if origin else response


def _cors(response, origin: str):
    response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    return response


@csrf_exempt
@never_cache
@require_http_methods(["POST", "OPTIONS"])
def capture(request, site_key):
    with translation.override(settings.LANGUAGE_CODE):
        return _capture(request, site_key)


def _capture(request, site_key):
    site = ConsentSite.objects.filter(public_key=site_key, is_active=True).select_related(
        "team").first()
    if site is None:
        return _error(404, "unknown_site", _("Unknown site key."))
    origin = request.headers.get("Origin", "")
    if not origin_in(site.allowed_origins, origin):
        logger.warning("consent site %s: %s refused from origin %r (address %s)", site.pk,
                       request.method, origin[:200], client_ip(request))
        return _error(403, "origin_not_allowed", _("This site may not use this form."))
    if request.method == "OPTIONS":
        response = _cors(HttpResponse(status=204), origin)
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = "600"
        return response
    wait = ratelimit.spend(f"consent-capture:{site.pk}:{client_ip(request) or '-'}",
                           *ratelimit.parse_rate(settings.CONSENT_CAPTURE_RATE))
    if wait:
        response = _error(429, "rate_limited", _("Too many requests. Please wait a little."),
                          origin)
        response["Retry-After"] = str(wait)
        return response
    try:
        data = request_json(request, max_bytes=MAX_BODY_BYTES)
    except BodyTooLarge:
        return _error(413, "too_large", _("The request is too large."), origin)
    except UntrustedJSON:
        return _error(400, "malformed_json", _("The request body is not valid JSON."), origin)
    try:
        fields = _cleaned(data)
        page_url = fields.pop("page_url")
        evidence = {"ip": client_ip(request) or "",
                    "user_agent": request.headers.get("User-Agent", "")[:300],
                    "page_url": page_url, "origin": origin}
        if site.double_opt_in:
            if not fields["email"]:
                raise ValidationError({"email": _(
                    "Give an e-mail: the consent is confirmed by a link sent to it.")})
            confirmation.pending_create(site=site, **fields, evidence=evidence,
                                        base_url=request.build_absolute_uri("/"))
            logger.info("consent site %s: a confirmation link was mailed", site.pk)
            return _cors(JsonResponse({"status": "pending", "detail": _(
                "Check your mail: the consent is recorded once you confirm it by the link "
                "we sent.")}, status=202, json_dumps_params={"ensure_ascii": False}), origin)
        contact, events = services.consent_capture(site=site, **fields, evidence=evidence)
    except ValidationError as exc:
        code, detail = _first_error(exc)
        return _error(400, code, detail, origin)
    logger.info("consent site %s: %s grant(s) recorded for contact %s", site.pk, len(events),
                contact.pk)
    return _cors(JsonResponse({
        "consents": [{"purpose": purpose.code, "text_version": event.text_version}
                     for purpose, event in zip(fields["purposes"], events, strict=True)],
    }, status=201), origin)


def _first_error(exc: ValidationError) -> tuple[str, str]:
    if hasattr(exc, "error_dict"):
        field, errors = next(iter(exc.error_dict.items()))
        return f"invalid_{field}", " ".join(e.message % (e.params or {}) for e in errors)
    return "invalid", " ".join(exc.messages)


def _text(data: dict, name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > FIELD_LIMIT:
        raise ValidationError({name: _('"%(name)s" must be a string of at most %(limit)d '
                                       "characters.") % {"name": name, "limit": FIELD_LIMIT}})
    return value.strip()


def _cleaned(data) -> dict:
    """The form's fields, checked; a ValidationError naming the first thing wrong."""
    from crm import services as crm_services
    from crm.models import ContactPoint

    if not isinstance(data, dict):
        raise ValidationError({"body": _("Send a JSON object.")})
    email, phone, name = _text(data, "email"), _text(data, "phone"), _text(data, "name")
    page_url = _text(data, "page_url")
    if not email and not phone:
        raise ValidationError({"contact": _("Give an e-mail or a phone number.")})
    for kind, value in ((ContactPoint.Kind.EMAIL, email), (ContactPoint.Kind.PHONE, phone)):
        if value:
            try:
                crm_services.contact_point_normalize(kind, value)
            except ValidationError as exc:
                raise ValidationError({kind: exc.messages}) from None
    codes = data.get("purposes")
    if (not isinstance(codes, list) or not codes or len(codes) > MAX_PURPOSES
            or not all(isinstance(code, str) for code in codes)):
        raise ValidationError({"purposes": _('"purposes" must be a non-empty list of purpose '
                                             "codes.")})
    codes = list(dict.fromkeys(codes))
    found = {p.code: p for p in Purpose.objects.filter(code__in=codes, is_active=True)}
    unknown = [code for code in codes if code not in found]
    if unknown:
        raise ValidationError({"purpose": _("Unknown purpose: %(codes)s.") % {
            "codes": ", ".join(code[:50] for code in unknown)}})
    versions = data.get("text_versions") or {}
    if not isinstance(versions, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0
            for v in versions.values()):
        raise ValidationError({"text_versions": _('"text_versions" must map purpose codes to '
                                                  "version numbers.")})
    if set(versions) - set(codes):
        raise ValidationError({"text_versions": _(
            '"text_versions" names a purpose that is not in "purposes".')})
    return {"email": email, "phone": phone, "name": name, "page_url": page_url,
            "purposes": [found[code] for code in codes], "text_versions": versions}
