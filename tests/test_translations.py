"""The Russian UI has no English leftovers: every page, walked as each role in Russian, asks the
translation catalog only for messages it holds.

The pages come from the URL resolver (every GET route outside the API, with the objects of the
authorization matrix's world); while they render, gettext and its plural and context variants
record each message id the Russian catalog (ours merged with Django's and the libraries')
does not hold. A new `{% translate %}` or `_()` without its Russian line fails here.
"""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import trans_real

from tests.routes import site_routes
from tests.test_authorization_matrix import ROUTES, anna_company, world  # noqa: F401

LATIN = re.compile(r"[A-Za-z]")
# A placeholder alone ("%(name)s") or a proper name that reads the same in Russian.
SAME_IN_RUSSIAN = {"CRM", "Telegram", "WhatsApp", "MAX", "VK", "E-mail", "ID", "API", "TOTP",
                   "URL", "IP", "CSV", "XLSX", "Mango Office", "English"}
PLACEHOLDERS = re.compile(r"%(\([a-z_]+\))?[sd]|\{[a-z_]*\}")


def _needs_russian(message: str) -> bool:
    text = PLACEHOLDERS.sub("", str(message))
    return bool(LATIN.search(text)) and str(message).strip() not in SAME_IN_RUSSIAN


class MissRecorder:
    """Wraps django.utils.translation's gettext family and keeps what Russian lacks."""

    def __init__(self):
        self.misses: dict[str, set[str]] = {}
        self.page = ""

    def _catalog(self):
        return trans_real.translation(translation.get_language())._catalog

    def _miss(self, key, shown: str):
        if translation.get_language() != "ru" or key in self._catalog():
            return
        if _needs_russian(shown):
            self.misses.setdefault(shown, set()).add(self.page)

    def install(self, monkeypatch):
        trans = translation._trans
        real = {name: getattr(trans, name)
                for name in ("gettext", "ngettext", "pgettext", "npgettext")}

        def gettext(message):
            if message:
                self._miss(str(message), str(message))
            return real["gettext"](message)

        def ngettext(singular, plural, number):
            self._miss((str(singular), 0), str(singular))
            return real["ngettext"](singular, plural, number)

        def pgettext(context, message):
            self._miss(f"{context}\x04{message}", f"{message} [{context}]")
            return real["pgettext"](context, message)

        def npgettext(context, singular, plural, number):
            self._miss((f"{context}\x04{singular}", 0), f"{singular} [{context}]")
            return real["npgettext"](context, singular, plural, number)

        for name, fn in {"gettext": gettext, "ngettext": ngettext, "pgettext": pgettext,
                         "npgettext": npgettext}.items():
            monkeypatch.setattr(trans, name, fn)


def _page_routes():
    """(name, route) of every GET page outside the API and the Django admin: those without a
    parameter from the resolver, the object routes from the authorization matrix."""
    found = [route.name for route in site_routes(skip_namespaces=("admin", "api", "privacy"))
             if route.pattern.name and not route.parameters]
    plain = [(name, None) for name in sorted(set(found)) if name not in NOT_PAGES]
    return plain + [(name, route) for name, route in ROUTES.items()
                    if "get" in route.methods and not route.api]


# GET routes that are not pages a person reads: files, JSON, the logout, the language switch.
NOT_PAGES = {"logout", "set_language", "healthz", "widget:script", "widget:messages",
             "export_download", "attachment_download", "call_recording"}


def _walk(user, world, monkeypatch):  # noqa: F811
    recorder = MissRecorder()
    recorder.install(monkeypatch)
    # A page that fails is other tests' business; its words up to the failure still count.
    client = Client(HTTP_ACCEPT_LANGUAGE="ru", raise_request_exception=False)
    client.force_login(user)
    statuses = {}
    urls = [(name, reverse(name, kwargs=route.kwargs(world)) if route else reverse(name))
            for name, route in _page_routes()]
    urls.append(("a missing page", "/no-such-page/"))
    for name, url in urls:
        recorder.page = url
        response = client.get(url)
        statuses[name] = response.status_code
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
    return recorder, statuses


@pytest.mark.parametrize("actor", ["anna", "head_north", "director", "marketer", "support",
                                   "security_officer"])
def test_every_page_is_in_russian_for_every_role(world, actor, request,  # noqa: F811
                                                 monkeypatch):
    user = request.getfixturevalue(actor)
    recorder, statuses = _walk(user, world, monkeypatch)
    assert statuses["home"] == 302
    shown = sum(1 for status in statuses.values() if status == 200)
    assert shown >= 3, statuses  # the walk did see pages
    assert not recorder.misses, "untranslated:\n" + "\n".join(
        f"{message!r} on {', '.join(sorted(pages)[:3])}"
        for message, pages in sorted(recorder.misses.items()))


def test_the_admin_names_every_section_in_russian(director):
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    client.force_login(director)
    page = client.get("/admin/").content.decode()
    from django.contrib import admin

    for config in {model._meta.app_config for model in admin.site._registry}:
        with translation.override("ru"):
            name = str(config.verbose_name)
        assert not LATIN.search(name) or name in SAME_IN_RUSSIAN, (config.label, name)
    for english in ("AUDIT LOG", "AXES", "OTP_TOTP", "Audit log", "Axes"):
        assert english not in page


@pytest.mark.parametrize("count, expected", [(1, "1 субъекта"), (2, "2 субъектов"),
                                             (5, "5 субъектов"), (21, "21 субъекта"),
                                             (0, "0 субъектов")])
def test_plural_forms_follow_russian_rules(count, expected):
    """The incident notification's "данные N субъектов" (was "субъект(ов)")."""
    from django.utils.translation import ngettext

    with translation.override("ru"):
        text = ngettext("%(counter)s data subject", "%(counter)s data subjects", count) % {
            "counter": count}
    assert text == expected
