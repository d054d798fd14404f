"""Settings, read from environment variables (see `.env.example` and the README's table).

Two modes:
- `CRM_MODE=embedded` (the default): SQLite under `var/`, in-memory channel layer, Celery tasks
  run in process, a secret key generated under `var/`. Nothing needs to be running.
- `CRM_MODE=production`: PostgreSQL and Redis are required, and the
  process refuses to start with a missing or default secret key.
"""

import secrets
from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import (
    check_redis_url,
    database_from_url,
    envbool,
    envint,
    envjson,
    envlist,
    envrate,
    envstr,
    file_storages_from_env,
    redis_pubsub_prefix,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("CRM_VAR_DIR", str(BASE_DIR / "var")))

CRM_MODE = envstr("CRM_MODE", "embedded")
if CRM_MODE not in {"embedded", "production"}:
    raise ImproperlyConfigured(f"CRM_MODE={CRM_MODE!r} must be 'embedded' or 'production'")
EMBEDDED = CRM_MODE == "embedded"

# Off in both modes unless asked for: the embedded demo shows the product's own error pages,
# never Django's debug page with its URL list, settings and local variables.
DEBUG = envbool("DEBUG", False)

# Known-bad values: Django's startproject prefix and the placeholder in .env.example.
_INSECURE_SECRETS = ("django-insecure", "change-me")


def _secret_key() -> str:
    key = envstr("SECRET_KEY")
    if key:
        if not EMBEDDED and (key.startswith(_INSECURE_SECRETS) or len(key) < 40):
            raise ImproperlyConfigured(
                "SECRET_KEY is a default or shorter than 40 characters; refusing to start in "
                "production. Generate one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(50))'"
            )
        return key
    if not EMBEDDED:
        raise ImproperlyConfigured("SECRET_KEY must be set in production")
    # The embedded demo keeps its own key so sessions survive restarts.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

# --- Encryption keys -------------------------------------------------------------------------
# Contact identifiers (and later provider tokens, messenger ids, files) are encrypted at rest
# (DESIGN.md, invariant 7; core/crypto.py).
# - FIELD_ENCRYPTION_KEYS: `id:base64-key,id:base64-key` (32-byte keys). The first encrypts,
#   all decrypt: put a new key first, then `manage.py rotate_keys` re-encrypts old values.
# - BLIND_INDEX_KEY: base64 of 32 bytes, keys the HMAC that lets phones and e-mails be found
#   by exact match. Changing it means recomputing every index (`rotate_keys --reindex`).
# Production refuses to start without both; the embedded mode generates them once into
# var/keys.json. Lose the keys and the encrypted values are lost: back them up apart from the
# database backups.


def _embedded_keys() -> dict:
    import json
    import os

    from core.crypto import generate_key

    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "keys.json"
    if not path.exists():
        keys = {"field_encryption_keys": f"k1:{generate_key()}", "blind_index_key": generate_key()}
        # Written aside and linked into place: never readable by others, and a second process
        # starting at the same moment cannot replace keys that already encrypted something.
        temp = VAR_DIR / f".keys.json.{os.getpid()}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(keys, f, indent=2)
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ImproperlyConfigured(f"{path} cannot be read: {e}") from e


def _encryption_keys() -> tuple[str, str]:
    from core.crypto import check_keys

    keyring = (envstr("FIELD_ENCRYPTION_KEYS") or "").strip()
    blind = (envstr("BLIND_INDEX_KEY") or "").strip()
    if not (keyring and blind):
        if not EMBEDDED:
            missing = [n for n, v in (("FIELD_ENCRYPTION_KEYS", keyring),
                                      ("BLIND_INDEX_KEY", blind)) if not v]
            raise ImproperlyConfigured(
                f"{' and '.join(missing)} must be set in production. Generate a key with: "
                "python3 -c 'import base64, secrets; "
                "print(base64.b64encode(secrets.token_bytes(32)).decode())'"
            )
        generated = _embedded_keys()
        keyring = keyring or generated.get("field_encryption_keys", "")
        blind = blind or generated.get("blind_index_key", "")
    check_keys(keyring, blind)
    return keyring, blind


FIELD_ENCRYPTION_KEYS, BLIND_INDEX_KEY = _encryption_keys()
# --- End of encryption keys ------------------------------------------------------------------

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if EMBEDDED else [])
if not EMBEDDED and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set in production")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "security.admin_site.CrmAdminConfig",  # django.contrib.admin, for the admin role only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "channels",
    "config.apps.Guardian",
    "config.apps.AuditLog",
    "config.apps.Axes",
    "django_otp",
    "config.apps.Totp",
    "crm",
    "inbox",
    "telephony",
    "consents",
    "reports",
    "search",
    # Last: its post_migrate handler builds the role groups from every app's permissions.
    "security",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A nonce'd Content-Security-Policy on every page that has no stricter one of its own.
    "security.headers.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Logs a revoked session presented again; records whose each session is.
    "security.middleware.RevokedCredentialMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Idle sessions end; roles that must use two-factor pass it first (the websocket applies
    # the same rules: security.websocket).
    "security.middleware.SessionRulesMiddleware",
    # Writes the reads of client data a request made, in one batch, as its response leaves.
    "security.audit.access_log.AccessLogMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    # Last: it turns a login refused for too many failures into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "security.headers.csp_nonce",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "security.context_processors.role",
                "inbox.context_processors.unread",
            ],
            # core is no installed app: its template filters are named here.
            "libraries": {"dates": "core.templatetags.dates"},
        },
    },
]
# Form widgets rendered through Jinja2 where Django ships them for it: twice as fast.
FORM_RENDERER = "core.forms.WidgetRenderer"

# --- Data stores -----------------------------------------------------------------------------

DATABASE_URL = envstr("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
elif EMBEDDED:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "crm.sqlite3",
            # WAL lets the websocket server read while a request writes.
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20},
        }
    }
else:
    raise ImproperlyConfigured("DATABASE_URL must be set in production")
# The embedded mode's own SQLite file: `seed_demo` may fill it with DEBUG off (`make run`).
DEMO_DATABASE = EMBEDDED and not DATABASE_URL

REDIS_URL = check_redis_url("REDIS_URL", envstr("REDIS_URL"))
if not EMBEDDED and not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL must be set in production")

# Every Redis call in a request waits at most this long (connect, then each answer): a Redis
# that is down or frozen must not hold a webhook or a page (what it stored waits for the
# sweepers; the caches and counters degrade).
REDIS_SOCKET_TIMEOUT = envint("REDIS_SOCKET_TIMEOUT_MS", 1500, minimum=50) / 1000

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL,
                          "OPTIONS": {"socket_timeout": REDIS_SOCKET_TIMEOUT,
                                      "socket_connect_timeout": REDIS_SOCKET_TIMEOUT}}}
    # Redis pub/sub pushes each event to the processes whose sockets subscribed. The other
    # channels-redis layer polls: four Redis round trips per message received, one after
    # another in each websocket process, which fell behind when the CPUs were busy (the inbox
    # bench: uvicorn 0.8 -> 0.24 ms of CPU per message, Redis 0.28 -> 0.10). Its trade-off:
    # an event published while a websocket process is reconnecting to Redis is lost (the
    # other layer kept events a minute, yet dropped them silently past 100 queued for one
    # socket). Events carry ids only; a page reloaded shows everything.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                                  "CONFIG": {"hosts": [REDIS_URL],
                                             "prefix": redis_pubsub_prefix(REDIS_URL)}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery ----------------------------------------------------------------------------------

CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
# Embedded mode has no worker: tasks run in the process that queued them (after commit).
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", EMBEDDED)
CELERY_TASK_EAGER_PROPAGATES = True
# Queueing a task from a request gives up quickly when the broker is away: the rows it would
# process wait in the database for the sweepers (core.tasks.delay_on_commit).
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_SOCKET_TIMEOUT
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": REDIS_SOCKET_TIMEOUT,
                                   "socket_connect_timeout": REDIS_SOCKET_TIMEOUT}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0,
                                    "interval_step": 0.2, "interval_max": 0.2}
# A worker or beat started while Redis is away, or losing it, waits for it and reconnects
# (with backoff) for as long as it takes, instead of exiting.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Without a worker a provider call's retry waits in the process that queued it: at most this
# many seconds (core/providers.py).
PROVIDER_EAGER_WAIT_MAX = envint("PROVIDER_EAGER_WAIT_MAX", 5, minimum=0)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection around every task unless told to
# reuse it: a new PostgreSQL session per task cost more than the task's own queries.
CELERY_DB_REUSE_MAX = envint("CELERY_DB_REUSE_MAX", 1000, minimum=0)
CELERY_TIMEZONE = "UTC"
# Periodic jobs: run by `celery beat` in production and by the embedded scheduler thread of
# `manage.py serve` otherwise.
CELERY_BEAT_SCHEDULE: dict = {
    "clear-expired-sessions": {
        "task": "security.clear_expired_sessions",
        "schedule": 6 * 3600,
    },
    # Expired deal shares grant nothing already (the visibility rule checks the expiry); this
    # clears them away and drops the colleague's live subscription to the deal.
    "delete-expired-deal-shares": {
        "task": "crm.delete_expired_deal_shares",
        "schedule": 300,
    },
}

# --- Auth ------------------------------------------------------------------------------------

AUTH_USER_MODEL = "security.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses any password check for a locked-out username and address.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"  # which sends each role to its work (crm.views.deals.home)
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row
GUARDIAN_MONKEY_PATCH_USER = False

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", not EMBEDDED)
# Lax: a link from another site opens a logged-in page, a form posted from one is not logged in.
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 12 * 3600, minimum=300)
# A session nobody used for this long is logged out (security.middleware.SessionRulesMiddleware).
SESSION_IDLE_TIMEOUT = envint("SESSION_IDLE_MINUTES", 30, minimum=1) * 60

# --- Login protection ------------------------------------------------------------------------
# Brute force: after LOGIN_FAILURE_LIMIT wrong passwords for one username from one address,
# both the web login and POST /api/v1/auth/token/ refuse it for LOGIN_LOCKOUT_MINUTES
# (django-axes; the attempts are in the admin).
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "security.login_protection.client_ip"
AXES_LOCKOUT_CALLABLE = "security.login_protection.lockout_response"
AXES_VERBOSE = False
# Two-factor (TOTP, django-otp) for these roles: on the web login and before an API token is
# issued. Production enforces it; the embedded demo offers it without enforcing it, so the
# demo logins keep working.
TWO_FACTOR_REQUIRED = envbool("TWO_FACTOR_REQUIRED", not EMBEDDED)
TWO_FACTOR_ROLES = ["admin", "security_officer", "sales_head"]
OTP_TOTP_ISSUER = envstr("OTP_TOTP_ISSUER", "CRM")
# The admin shows no device's key or QR code: each user sets up their own authenticator on the
# two-factor page (django-otp's admin views of them also answer 500 to an unknown device).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Security headers (the Content-Security-Policy: security/headers.py) ----------------------
# Pages may not be framed (clickjacking), leak no URL to other sites (privacy-center tokens,
# deal ids) and keep no window reference to pages of other sites they open.
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
if not EMBEDDED:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HSTS: browsers that once reached the CRM over HTTPS refuse plain HTTP for this long. The
# embedded mode serves plain HTTP on a laptop, where a pinned HTTPS would lock localhost out.
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if EMBEDDED else 365 * 24 * 3600,
                             minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)

# --- I18n ------------------------------------------------------------------------------------

LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = envstr("TIME_ZONE", "Europe/Moscow")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the app folders in the embedded mode, so no collectstatic is needed.
WHITENOISE_USE_FINDERS = EMBEDDED
MEDIA_ROOT = Path(envstr("MEDIA_ROOT", str(VAR_DIR / "media")))
# Backups (manage.py backup, security/backups.py): where the archives go, and the public half
# of the backup key they are encrypted to (base64; `backup --generate-key` makes a pair). The
# private half stays off the servers, with whoever restores.
BACKUP_DIR = Path(envstr("BACKUP_DIR", str(VAR_DIR / "backups")))
BACKUP_PUBLIC_KEY = envstr("BACKUP_PUBLIC_KEY", "")
# Where attachments, recordings and exports ("files") and the backups ("backups") are kept
# (core/storage.py): MEDIA_ROOT and BACKUP_DIR, or one bucket of S3-compatible object storage
# (under media/ and backups/) once OBJECT_STORAGE_BUCKET is set with its endpoint and key:
# OBJECT_STORAGE_ENDPOINT_URL, OBJECT_STORAGE_REGION, OBJECT_STORAGE_ACCESS_KEY_ID,
# OBJECT_STORAGE_SECRET_ACCESS_KEY, OBJECT_STORAGE_ADDRESSING_STYLE (path, the default, or
# virtual). Files are encrypted before they leave the server either way.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    **file_storages_from_env(),
}
# Every night at 00:30 UTC (03:30 in Moscow), by the beat (or `manage.py serve`'s scheduler).
CELERY_BEAT_SCHEDULE["backup-daily"] = {"task": "security.backup_daily",
                                        "schedule": crontab(hour=0, minute=30)}
if EMBEDDED:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing root

# --- API -------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's, logging a revoked token presented again.
        "security.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.UntrustedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.CappedPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # Declares the error answers of every operation (core/api/schema.py).
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["core.api.throttles.ListThrottle"],
    # Per-address limits must not trust a client's own X-Forwarded-For: behind the
    # production proxy (deploy/nginx.conf) the last address in it is the client's.
    "NUM_PROXIES": envint("NUM_PROXIES", 0 if EMBEDDED else 1, minimum=0),
    "DEFAULT_THROTTLE_RATES": {
        # Per user, on list, search and timeline endpoints: 25-100 rows a request.
        "list": envrate("API_LIST_RATE", "120/min"),
        # Per client address, on POST auth/token/.
        "token": envrate("API_TOKEN_RATE", "10/min"),
    },
}
# Per site visitor's address and channel, on the website chat's public endpoints.
WIDGET_RATE = envrate("WIDGET_RATE", "60/min")
# Per visitor's address and site, on the consent forms' capture endpoint.
CONSENT_CAPTURE_RATE = envrate("CONSENT_CAPTURE_RATE", "10/min")
API_PAGE_SIZE = envint("API_PAGE_SIZE", 25, minimum=1)
API_MAX_PAGE_SIZE = 100

SPECTACULAR_SETTINGS = {
    "TITLE": "CRM API",
    "DESCRIPTION": "Deals, contacts, companies and their timeline. Token or session auth.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
}

# --- Product settings ------------------------------------------------------------------------

DEFAULT_CURRENCY = "RUB"
DEFAULT_PHONE_REGION = envstr("DEFAULT_PHONE_REGION", "RU")
UI_PAGE_SIZE = envint("UI_PAGE_SIZE", 25, minimum=1)
KANBAN_CARDS_PER_STAGE = 50  # the rest of a column is counted and summed, and one click away
# Masked contact details a user may reveal in any sliding hour (each one logged with a reason).
REVEAL_LIMIT_PER_HOUR = envint("REVEAL_LIMIT_PER_HOUR", 20, minimum=1)
# The staff's working hours, in TIME_ZONE, as a channel's business hours are written: reading
# client data outside them raises the off-hours alert. `{}` means always (no such alert).
DEFAULT_STAFF_WORKING_HOURS = {
    day: [["08:00", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
} | {"sat": [["10:00", "18:00"]]}
STAFF_WORKING_HOURS = envjson("STAFF_WORKING_HOURS", DEFAULT_STAFF_WORKING_HOURS)
# Data subjects' requests: answered within this many working days, extendable once (152-FZ).
SUBJECT_REQUEST_DAYS = envint("SUBJECT_REQUEST_DAYS", 10, minimum=1)
SUBJECT_REQUEST_EXTENSION_DAYS = envint("SUBJECT_REQUEST_EXTENSION_DAYS", 5, minimum=0)
# The handler (or the security officers) is e-mailed about an open request from this many
# working days before its due date, once a day, until it is answered.
SUBJECT_REQUEST_REMIND_DAYS = envint("SUBJECT_REQUEST_REMIND_DAYS", 2, minimum=0)
# The operator of personal data, as named in a leak notification to the regulator.
OPERATOR_NAME = envstr("OPERATOR_NAME", "[наименование оператора, ИНН, адрес]")
# Who hears of alerts by e-mail besides the security officers and the user's sales head.
ALERT_EMAILS = envlist("ALERT_EMAILS", [])

EMAIL_BACKEND = envstr(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if EMBEDDED
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are mutually exclusive")
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "crm@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # No privacy link's token in any line (a 4xx warning names the path it answered).
    "filters": {"privacy_tokens": {"()": "consents.log_filters.RedactPrivacyTokens"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["privacy_tokens"]}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Exports (security/exports.py) -----------------------------------------------------------
# At most this many rows per export file; a larger result is cut and the export marked capped.
EXPORT_MAX_ROWS = envint("EXPORT_MAX_ROWS", 5000, minimum=1)
# An export's file lives 15 minutes unless downloaded; this job deletes the ones left behind.
CELERY_BEAT_SCHEDULE["expire-exports"] = {"task": "security.expire_exports", "schedule": 300}
# Webhook deliveries stored while the broker or the workers were down, and failed ones.
# The heads' weekly digests: looked for every quarter of an hour, sent on Monday from 9:00
# in each team's time zone.
CELERY_BEAT_SCHEDULE["weekly-digests"] = {"task": "reports.send_weekly_digests",
                                          "schedule": 900}
CELERY_BEAT_SCHEDULE["sweep-inbound-events"] = {"task": "inbox.sweep_events", "schedule": 30}
CELERY_BEAT_SCHEDULE["sweep-call-events"] = {"task": "telephony.sweep_events", "schedule": 30}
# Replies whose send task the broker never took, or that a dead worker cut off mid-send.
CELERY_BEAT_SCHEDULE["sweep-outbound-messages"] = {"task": "inbox.sweep_sends", "schedule": 30}
# WhatsApp's approved message templates, as each account lists them (hourly).
CELERY_BEAT_SCHEDULE["sync-message-templates"] = {"task": "inbox.sync_templates",
                                                  "schedule": 3600}
# Mailboxes read over IMAP without IDLE (manage.py mailbox_idle wakes the read at once where
# the server has it); each mail is stored once whatever the overlap.
EMAIL_POLL_SECONDS = envint("EMAIL_POLL_SECONDS", 60, minimum=5)
CELERY_BEAT_SCHEDULE["poll-mailboxes"] = {"task": "inbox.poll_mailboxes",
                                          "schedule": EMAIL_POLL_SECONDS}
# A mail larger than this is stored by its headers and text only (its files stay on the server).
EMAIL_MAX_MESSAGE_BYTES = envint("EMAIL_MAX_MESSAGE_BYTES", 30 * 1024 * 1024, minimum=1024)
# The demo's mailboxes "on this machine" (Mailbox.Server.LOCAL): Maildir folders.
MAILDIR_ROOT = Path(envstr("MAILDIR_ROOT", str(VAR_DIR / "maildir")))
# Double opt-in: a form's consent link works this long; then the request is deleted.
CONSENT_CONFIRM_HOURS = envint("CONSENT_CONFIRM_HOURS", 48, minimum=1)
CELERY_BEAT_SCHEDULE["purge-pending-consents"] = {"task": "consents.purge_pending_consents",
                                                  "schedule": 3600}
# Offboardings scheduled for an employee's last day run within a minute of their time.
# Subject requests near their due date (hourly; each is mailed at most once a day), and the
# retention rules (daily).
CELERY_BEAT_SCHEDULE["remind-subject-requests"] = {
    "task": "consents.remind_subject_requests", "schedule": 3600,
}
CELERY_BEAT_SCHEDULE["apply-retention"] = {"task": "consents.apply_retention",
                                           "schedule": 24 * 3600}
CELERY_BEAT_SCHEDULE["run-due-offboardings"] = {
    "task": "security.run_due_offboardings", "schedule": 60,
}
# The export's `status` is not the deal's: name the two enums apart in the OpenAPI schema
# (the deal's keeps the name it had).
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update({
    "StatusEnum": "crm.models.Deal.Status",
    "ExportStatusEnum": "security.models.ExportRequest.Status",
    # The contacts' "source" keeps its published name beside the consents' and requests' own.
    "SourceEnum": "crm.models.Contact.Source",
    "ConsentKindEnum": "consents.models.ConsentEvent.Kind",
    "ConsentSourceEnum": "consents.models.ConsentEvent.Source",
    "SubjectRequestKindEnum": "consents.models.SubjectRequest.Kind",
    "SubjectRequestSourceEnum": "consents.models.SubjectRequest.Source",
    "SubjectRequestStatusEnum": "consents.models.SubjectRequest.Status",
})

# --- Inbox attachments (inbox/attachments.py) ------------------------------------------------
# A client's file larger than this is not downloaded (the Bot API hands bots at most 20 MB).
INBOX_MAX_ATTACHMENT_BYTES = envint("INBOX_MAX_ATTACHMENT_BYTES", 20 * 1024 * 1024, minimum=1)
# The largest file a manager may send (Telegram's sendDocument takes up to 50 MB; the proxy's
# client_max_body_size must let it through).
INBOX_MAX_UPLOAD_BYTES = envint("INBOX_MAX_UPLOAD_BYTES", 20 * 1024 * 1024, minimum=1)

# --- Privacy center (consents/privacy.py) ----------------------------------------------------
# How long a link sent to a client works (a signed token; revocable per contact).
PRIVACY_LINK_HOURS = envint("PRIVACY_LINK_HOURS", 72, minimum=1)
# The public address the links start with (e.g. https://crm.example.ru), when staff reach the
# CRM at another one; empty: the address the member of staff is using.
PRIVACY_BASE_URL = envstr("PRIVACY_BASE_URL", "")
# Withdrawals, requests and downloads, per contact and per client address.
PRIVACY_RATE = envrate("PRIVACY_RATE", "30/hour")
