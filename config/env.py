"""Small helpers that read settings from the environment and fail loudly on bad values.

Each helper also reads `NAME_FILE` (a path to a file holding the value), so secrets can come
from Docker or Kubernetes secret files instead of the process environment.
"""

import json
import os
import re
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                return f.read().strip()
        except OSError as e:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {e}") from e
    return os.environ.get(name)


def envstr(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value is None else value


def envbool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no)")


def envint(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum {minimum}")
    return number


def envlist(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def envjson(name: str, default):
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        return json.loads(value)
    except ValueError as e:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {e}") from None


_RATE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")


def envrate(name: str, default: str) -> str:
    """A rate limit such as `120/min` (DRF's format: count/second|minute|hour|day)."""
    value = (_raw(name) or default).strip()
    if not _RATE.match(value):
        raise ImproperlyConfigured(f"{name}={value!r} is not a rate like 120/min or 1000/day")
    return value


def database_from_url(url: str) -> dict:
    """Turn `postgres://user:pass@host:port/name` or `sqlite:///path` into a DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute/path.db, as in dj-database-url
        path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
        if not path:
            raise ImproperlyConfigured(f"DATABASE_URL={url!r} names no SQLite file")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path}
    if parsed.scheme in {"postgres", "postgresql", "pgsql"}:
        name = parsed.path.lstrip("/")
        if not name:
            raise ImproperlyConfigured(f"DATABASE_URL={url!r} names no database")
        options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(name),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "OPTIONS": options,
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {parsed.scheme!r} is not supported (use postgres:// or sqlite://)"
    )


def check_redis_url(name: str, url: str | None) -> str | None:
    if url is None:
        return None
    if urlparse(url).scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(f"{name}={url!r} is not a redis:// or rediss:// URL")
    return url


def redis_database(url: str) -> int:
    """The database number of a Redis URL (`redis://host/3`, `unix:///sock?db=3`), 0 if none."""
    parsed = urlparse(url)
    database = parse_qs(parsed.query).get("db", [""])[0]
    if not database and parsed.scheme != "unix":
        database = parsed.path.strip("/")
    return int(database or 0)


def redis_pubsub_prefix(url: str) -> str:
    """The channel layer's prefix for a Redis URL. Pub/sub channels ignore the database
    number: two installations (or test workers) on one Redis server with different databases
    would hear each other's events without a prefix of their own."""
    return f"crm.db{redis_database(url)}"


OBJECT_STORAGE_SETTINGS = (
    "OBJECT_STORAGE_BUCKET", "OBJECT_STORAGE_ENDPOINT_URL", "OBJECT_STORAGE_REGION",
    "OBJECT_STORAGE_ACCESS_KEY_ID", "OBJECT_STORAGE_SECRET_ACCESS_KEY",
    "OBJECT_STORAGE_ADDRESSING_STYLE",
)


def file_storages_from_env() -> dict:
    """STORAGES' "files" and "backups" (core/storage.py): in the bucket OBJECT_STORAGE_BUCKET
    names, or on the local disk (MEDIA_ROOT, BACKUP_DIR) when it is not set. Half a
    configuration is refused, not taken for the disk."""
    from core.storage import local_storages, object_storages

    given = {name: (envstr(name) or "").strip() for name in OBJECT_STORAGE_SETTINGS}
    if not given["OBJECT_STORAGE_BUCKET"]:
        stray = [name for name, value in given.items() if value]
        if stray:
            raise ImproperlyConfigured(
                f"{', '.join(stray)} set without OBJECT_STORAGE_BUCKET: set the bucket to keep "
                "files in object storage, or unset them to keep files on the local disk")
        return local_storages()
    # The endpoint too: without it boto3 would send the files to Amazon's servers abroad.
    missing = [name for name in ("OBJECT_STORAGE_ENDPOINT_URL", "OBJECT_STORAGE_ACCESS_KEY_ID",
                                 "OBJECT_STORAGE_SECRET_ACCESS_KEY") if not given[name]]
    if missing:
        raise ImproperlyConfigured(
            f"OBJECT_STORAGE_BUCKET is set but {' and '.join(missing)} not: object storage "
            "needs its endpoint (e.g. https://storage.yandexcloud.net) and an access key")
    endpoint = urlparse(given["OBJECT_STORAGE_ENDPOINT_URL"])
    if endpoint.scheme not in {"http", "https"} or not endpoint.hostname:
        raise ImproperlyConfigured(
            f"OBJECT_STORAGE_ENDPOINT_URL={given['OBJECT_STORAGE_ENDPOINT_URL']!r} is not an "
            "https:// URL")
    style = given["OBJECT_STORAGE_ADDRESSING_STYLE"] or "path"
    if style not in {"path", "virtual", "auto"}:
        raise ImproperlyConfigured(
            f"OBJECT_STORAGE_ADDRESSING_STYLE={style!r} must be path, virtual or auto")
    return object_storages(
        bucket=given["OBJECT_STORAGE_BUCKET"], endpoint_url=given["OBJECT_STORAGE_ENDPOINT_URL"],
        region=given["OBJECT_STORAGE_REGION"],
        access_key_id=given["OBJECT_STORAGE_ACCESS_KEY_ID"],
        secret_access_key=given["OBJECT_STORAGE_SECRET_ACCESS_KEY"], addressing_style=style)
