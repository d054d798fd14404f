"""The settings refuse bad configuration loudly instead of guessing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env

ROOT = Path(__file__).resolve().parent.parent


def test_envbool_accepts_the_usual_spellings_and_refuses_others(monkeypatch):
    monkeypatch.setenv("X_FLAG", "Yes")
    assert env.envbool("X_FLAG", False) is True
    monkeypatch.setenv("X_FLAG", "0")
    assert env.envbool("X_FLAG", True) is False
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env.envbool("X_FLAG", False)


def test_envint_refuses_garbage_and_values_below_the_minimum(monkeypatch):
    monkeypatch.setenv("X_NUM", "12a")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env.envint("X_NUM", 1)
    monkeypatch.setenv("X_NUM", "0")
    with pytest.raises(ImproperlyConfigured, match="minimum"):
        env.envint("X_NUM", 1, minimum=1)


def test_a_value_can_come_from_a_secret_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env.envstr("X_SECRET") == "s3cret"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env.envstr("X_SECRET")


@pytest.mark.parametrize(
    "url, engine, name",
    [
        ("postgres://u:p%40ss@db:5432/crm", "django.db.backends.postgresql", "crm"),
        ("sqlite:////tmp/x.sqlite3", "django.db.backends.sqlite3", "/tmp/x.sqlite3"),
    ],
)
def test_database_urls_are_parsed(url, engine, name):
    parsed = env.database_from_url(url)
    assert (parsed["ENGINE"], parsed["NAME"]) == (engine, name)
    if engine.endswith("postgresql"):
        assert parsed["PASSWORD"] == "p@ss" and parsed["PORT"] == "5432"


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres://host/", "sqlite://"])
def test_unsupported_or_incomplete_database_urls_fail(url):
    with pytest.raises(ImproperlyConfigured):
        env.database_from_url(url)


def _boot(extra_env: dict) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items()
                   if k not in {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CRM_MODE", "DEBUG"}}
    environment.update(extra_env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT, env=environment | {"DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True, text=True, timeout=60,
    )


PRODUCTION = {
    "CRM_MODE": "production",
    "DATABASE_URL": "postgres://u:p@127.0.0.1:1/crm",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "ALLOWED_HOSTS": "crm.example.ru",
    # Encryption keys (tests/security/test_crypto.py covers their checks).
    "FIELD_ENCRYPTION_KEYS": "k1:" + "a" * 43 + "=",
    "BLIND_INDEX_KEY": "b" * 43 + "=",
}


@pytest.mark.parametrize(
    "secret", [None, "change-me", "django-insecure-" + "x" * 50, "short-but-random"]
)
def test_production_refuses_a_missing_or_default_secret_key(secret):
    extra = dict(PRODUCTION)
    if secret is not None:
        extra["SECRET_KEY"] = secret
    result = _boot(extra)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_starts_with_a_real_secret_key():
    result = _boot(PRODUCTION | {"SECRET_KEY": "k" * 20 + "Zq9-" * 10})
    assert result.returncode == 0, result.stderr


def test_production_requires_a_database_url():
    extra = {k: v for k, v in PRODUCTION.items() if k != "DATABASE_URL"}
    result = _boot(extra | {"SECRET_KEY": "Zq9-" * 15})
    assert result.returncode != 0 and "DATABASE_URL" in result.stderr


def test_a_bad_debug_value_fails_loudly():
    result = _boot({"DEBUG": "perhaps"})
    assert result.returncode != 0 and "DEBUG" in result.stderr


def test_healthz_reports_the_database_and_the_cache(client, db):
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}


def test_tls_and_ssl_for_mail_are_exclusive():
    result = _boot({"EMAIL_USE_TLS": "1", "EMAIL_USE_SSL": "1"})
    assert result.returncode != 0 and "EMAIL_USE_TLS" in result.stderr
