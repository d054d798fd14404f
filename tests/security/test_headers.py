"""Security headers: a nonce'd Content-Security-Policy on every page (security/headers.py), and
the production settings that make browsers keep to HTTPS, refuse framing and guard cookies.

The pages come from the URL resolver, with the objects of the authorization matrix's world:
a new page is checked without being listed here.
"""

import json
import os
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from tests.routes import site_routes
from tests.test_authorization_matrix import (  # noqa: F401  (anna_company, world: fixtures)
    NOT_OBJECT_ROUTES,
    ROUTES,
    anna_company,
    world,
)
from tests.test_settings_env import PRODUCTION, ROOT

CSP = "Content-Security-Policy"


def _policy(response) -> dict[str, list[str]]:
    directives = {}
    for part in response[CSP].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _nonce(policy: dict) -> str:
    nonces = {v for v in policy["script-src"] + policy["style-src"] if v.startswith("'nonce-")}
    assert len(nonces) == 1, policy
    return nonces.pop()[len("'nonce-"):-1]


class _InlineCode(HTMLParser):
    """What a page runs or styles inline: <script> without src and <style> elements with their
    nonce, and the attributes a nonce cannot allow (style=, on*=, javascript: URLs)."""

    def __init__(self):
        super().__init__()
        self.nonces: list[tuple[str, str | None]] = []
        self.forbidden: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "style" or (tag == "script" and "src" not in attributes):
            self.nonces.append((tag, attributes.get("nonce")))
        elif "nonce" in attributes:
            self.nonces.append((tag, attributes["nonce"]))
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.forbidden.append(f"<{tag} {name}={value!r}>")
            elif name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                    "javascript:"):
                self.forbidden.append(f"<{tag} {name}={value!r}>")


def assert_page_keeps_its_policy(response, url="", markup=True):
    """A CSP with one nonce and nothing 'unsafe-', and every inline <script>/<style> of the
    page carrying that nonce (`markup`: our own templates, not a library's)."""
    assert CSP in response, url
    header = response[CSP]
    assert "unsafe-" not in header, (url, header)
    policy = _policy(response)
    nonce = _nonce(policy)
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["form-action"] == ["'self'"]
    if not markup:
        return
    parser = _InlineCode()
    parser.feed(response.content.decode())
    for tag, tag_nonce in parser.nonces:
        assert tag_nonce == nonce, (url, tag, tag_nonce, nonce)
    assert not parser.forbidden, (url, parser.forbidden)


def _get_routes():
    """(name, pattern) of every route of the site, the Django admin's without parameters."""
    return [(route.name, route.pattern) for route in site_routes()
            if route.pattern.name and not (route.namespace == "admin" and route.parameters)]


def _url(name, pattern, objects):
    if not pattern.pattern.regex.groupindex:
        return reverse(name)
    route = ROUTES.get(name)
    if route is None or "get" not in route.methods:
        return None
    return reverse(name, kwargs=route.kwargs(objects))


def test_every_page_the_director_opens_has_a_nonced_policy(request, director):
    objects = request.getfixturevalue("world")
    client = Client()
    client.force_login(director)
    pages = set()
    for name, pattern in _get_routes():
        if name in NOT_OBJECT_ROUTES or name.startswith("privacy:") or name == "mail_html":
            # Public endpoints of their own: widget script, webhooks, and the privacy center
            # (a stricter policy with no script at all: tests/consents/test_privacy_center.py);
            # a mail's HTML in the card's frame, likewise (tests/inbox/test_email.py).
            continue
        url = _url(name, pattern, objects)
        if url is None:
            continue
        if name.startswith("api:"):
            continue  # JSON; the browsable API: test_the_browsable_api_has_the_policy
        response = client.get(url, HTTP_ACCEPT="text/html")
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        assert_page_keeps_its_policy(response, url)
        if response.status_code == 200:
            pages.add(name)
    # The walk reached the pages that matter, not only refusals.
    assert {"deal_list", "deal_detail", "deal_board", "contact_detail", "company_detail",
            "conversation_list", "task_list", "user_list", "security_home", "campaign_detail",
            "offboarding_detail", "admin:index"} <= pages, pages
    assert len(pages) > 40, pages


def test_the_browsable_api_has_the_policy(director):
    """DRF's pages have a <style> and style attributes of their own, which the policy leaves
    unstyled (a few buttons out of place): that is all it costs."""
    client = Client()
    client.force_login(director)
    response = client.get("/api/v1/deals/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert_page_keeps_its_policy(response, markup=False)


def test_anonymous_pages_and_errors_have_the_policy_too(db):
    client = Client()
    for url in ("/login/", "/no-such-page/", "/deals/"):
        response = client.get(url)
        assert_page_keeps_its_policy(response, url)


def test_debug_error_pages_keep_their_inline_styles(db, settings):
    """Django's technical 404 and 500 pages are styled inline; DEBUG is off in production."""
    settings.DEBUG = True
    assert CSP not in Client().get("/no-such-page/")
    assert_page_keeps_its_policy(Client().get("/login/"))


def test_each_request_gets_its_own_nonce(db):
    first, second = Client().get("/login/"), Client().get("/login/")
    assert _nonce(_policy(first)) != _nonce(_policy(second))
    assert len(_nonce(_policy(first))) >= 22  # 128 bits or more


def test_the_demo_site_styles_and_loads_the_widget_with_the_nonce(db, north):
    from inbox.demo import DEMO_WEBSITE
    from inbox.models import Channel

    Channel.objects.create(kind=Channel.Kind.WEBSITE, name=DEMO_WEBSITE["name"], team=north,
                           public_key="headers-key")
    response = Client().get("/demo/site/")
    assert response.status_code == 200
    assert_page_keeps_its_policy(response)
    nonce = _nonce(_policy(response))
    html = response.content.decode()
    assert f'<style nonce="{nonce}">' in html
    assert f'nonce="{nonce}"' in html.split('src="/widget/headers-key.js"')[1].split(">")[0]
    # The widget's socket is on this host: allowed even where 'self' does not cover ws:.
    assert "ws://testserver" in _policy(response)["connect-src"]


def test_a_view_with_a_stricter_policy_keeps_it(db):
    from django.http import HttpResponse

    from security.headers import ContentSecurityPolicyMiddleware

    def view(request):
        response = HttpResponse("<p>x</p>")
        response[CSP] = "default-src 'none'"
        return response

    from django.test import RequestFactory

    response = ContentSecurityPolicyMiddleware(view)(RequestFactory().get("/"))
    assert response[CSP] == "default-src 'none'"


def test_non_html_answers_get_no_policy(db, director):
    client = Client()
    client.force_login(director)
    assert CSP not in client.get("/healthz/")
    assert CSP not in client.get("/api/v1/deals/", HTTP_ACCEPT="application/json")


# --- The other headers and the cookies -------------------------------------------------------


def test_pages_refuse_framing_and_keep_their_urls_to_themselves(db):
    response = Client().get("/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in response[CSP]
    # The embedded mode serves plain HTTP on a laptop: no HSTS pins it to HTTPS.
    assert "Strict-Transport-Security" not in Client().get("/login/", secure=True)


SETTINGS = ["SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
            "SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
            "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SECURE", "CSRF_COOKIE_SAMESITE",
            "LANGUAGE_COOKIE_SECURE", "X_FRAME_OPTIONS", "SECURE_REFERRER_POLICY",
            "SECURE_CONTENT_TYPE_NOSNIFF", "MIDDLEWARE"]


def _production_settings(extra: dict | None = None) -> dict:
    """The settings a production process starts with (its own interpreter and environment,
    as tests/test_settings_env.py boots them)."""
    environment = {k: v for k, v in os.environ.items()
                   if k not in {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CRM_MODE", "DEBUG"}
                   and not k.startswith("SECURE_")}
    environment |= PRODUCTION | {"SECRET_KEY": "Zq9-" * 15, **(extra or {})}
    code = ("import json, django; django.setup(); from django.conf import settings; "
            f"print(json.dumps({{n: getattr(settings, n) for n in {SETTINGS!r}}}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                            env=environment | {"DJANGO_SETTINGS_MODULE": "config.settings"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def production():
    return _production_settings()


def test_production_pins_https_and_guards_cookies(production):
    assert production["SECURE_HSTS_SECONDS"] >= 180 * 24 * 3600
    assert production["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert production["SESSION_COOKIE_SECURE"] and production["CSRF_COOKIE_SECURE"]
    assert production["LANGUAGE_COOKIE_SECURE"]
    assert production["SESSION_COOKIE_HTTPONLY"]
    assert production["SESSION_COOKIE_SAMESITE"] == production["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert production["X_FRAME_OPTIONS"] == "DENY"
    assert production["SECURE_REFERRER_POLICY"] == "same-origin"
    assert production["SECURE_CONTENT_TYPE_NOSNIFF"]
    assert "security.headers.ContentSecurityPolicyMiddleware" in production["MIDDLEWARE"]


def test_hsts_is_configurable():
    tuned = _production_settings({"SECURE_HSTS_SECONDS": "3600",
                                  "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1"})
    assert tuned["SECURE_HSTS_SECONDS"] == 3600 and tuned["SECURE_HSTS_INCLUDE_SUBDOMAINS"]


def test_production_headers_and_cookies_reach_the_browser(production, settings, anna):
    """The production values above, as a request behind the TLS proxy sees them."""
    for name in SETTINGS:
        if name != "MIDDLEWARE":
            value = production[name]
            setattr(settings, name, tuple(value) if isinstance(value, list) else value)
    client = Client()
    page = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert page["Strict-Transport-Security"] == f"max-age={production['SECURE_HSTS_SECONDS']}"
    assert "connect-src 'self' wss://testserver" in page[CSP]
    response = client.post("/login/", {"username": "anna", "password": "pw"},
                           HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 302
    for name in ("sessionid", "csrftoken"):
        cookie = response.cookies[name]
        assert cookie["secure"] and cookie["samesite"] == "Lax", (name, cookie)
    assert response.cookies["sessionid"]["httponly"]
