"""No privacy link's token in any log the product ships: Django's (every line through the
console handler), the embedded server's access log, and the proxy's (deploy/nginx.conf). The
proxy's rule is a regex of nginx's; it is read from the file and run here on the same paths
as the Python filter, so the two cannot drift apart."""

import io
import logging
import logging.config
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from consents import privacy
from consents.log_filters import RedactPrivacyTokens, redact
from crm.management.commands.serve import _log_config

NGINX = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
TOKEN = "eyJjIjoxLCJnIjowLCJrIjoiYWJjIiwidCI6MjU5MjAwfQ:1vS4Fz:kq0-Zt_3x9yQmE1aHc8oYbY1uVnQe7w"

PATHS = {
    f"/privacy/{TOKEN}/": "/privacy/<token>/",
    f"/privacy/{TOKEN}": "/privacy/<token>",
    f"/privacy/{TOKEN}/?utm=1": "/privacy/<token>/?utm=1",
    "/privacy/": "/privacy/",
    "/privacy/withdraw/?purpose=newsletter": "/privacy/withdraw/?purpose=newsletter",
    "/privacy/download/": "/privacy/download/",
    "/privacy/request/?kind=erasure": "/privacy/request/?kind=erasure",
    "/deals/7/": "/deals/7/",
}


@pytest.mark.parametrize("path, logged", PATHS.items())
def test_the_filter_cuts_the_token_and_nothing_else(path, logged):
    assert redact(path) == logged
    assert redact(f'GET {path} HTTP/1.1" 302') == f'GET {logged} HTTP/1.1" 302'


def _nginx_maps() -> dict[str, tuple[re.Pattern, str]]:
    """The proxy's maps: variable -> (regex, replacement in Python's syntax)."""
    text = NGINX.read_text()
    maps = {}
    for _source, target, body in re.findall(r"map \$(\w+) \$(\w+) \{(.*?)\}", text, re.S):
        rule = re.search(r'"~(.+?)"\s+"(.+?)";', body)
        if rule:
            replacement = re.sub(r"\$(\w+)", r"\\g<\1>", rule[2])
            maps[target] = (re.compile(rule[1]), replacement)
    return maps


def _nginx_logged(variable: str, value: str) -> str:
    pattern, replacement = _nginx_maps()[variable]
    return pattern.sub(replacement, value) if pattern.match(value) else value


@pytest.mark.parametrize("path, logged", PATHS.items())
def test_the_proxy_logs_the_same_paths(path, logged):
    assert _nginx_logged("loggable_uri", path) == logged
    referer = f"https://crm.example.ru{path}"
    assert _nginx_logged("loggable_referer", referer) == f"https://crm.example.ru{logged}"


def test_the_proxy_logs_through_that_format_only():
    text = NGINX.read_text()
    [log_format] = re.findall(r"log_format crm (.*?);", text, re.S)
    assert "$loggable_uri" in log_format and "$loggable_referer" in log_format
    for raw in ("$request ", "$request\"", "$request_uri", "$http_referer", "$uri", "$args"):
        assert raw not in log_format, raw
    logs = set(re.findall(r"^\s*access_log (\S+)(?: (\w+))?;", text, re.M)) - {("off", "")}
    assert logs == {("/var/log/nginx/access.log", "crm")}


def test_the_embedded_servers_access_log_cuts_the_token():
    config = _log_config()
    access = config["handlers"]["access"]
    assert "privacy_tokens" in access["filters"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactPrivacyTokens())
    formatter = logging.config.DictConfigurator(config).configure_formatter(
        config["formatters"]["access"])
    handler.setFormatter(formatter)
    handler.handle(logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/privacy/{TOKEN}/", "1.1", 302), None))
    line = stream.getvalue()
    assert "/privacy/<token>/" in line and TOKEN not in line


def test_djangos_own_lines_go_through_the_filter():
    console = settings.LOGGING["handlers"]["console"]
    assert console["filters"] == ["privacy_tokens"]
    assert settings.LOGGING["filters"]["privacy_tokens"]["()"] == (
        "consents.log_filters.RedactPrivacyTokens")


@pytest.mark.django_db
def test_a_refused_link_is_logged_without_its_token(anna_contact, caplog):
    """The view's own warning (and Django's, which it stands in for) names the path with the
    token cut out, before any filter."""
    token = privacy.privacy_token(anna_contact)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    caplog.set_level(logging.INFO)
    response = Client().get(reverse("privacy:open", kwargs={"token": tampered}))
    assert response.status_code == 400
    messages = [record.getMessage() for record in caplog.records]
    assert any("/privacy/<token>/" in message for message in messages)
    assert not any(tampered in message or token in message for message in messages)
