"""triggerapp settings: one file, configured from the environment (12-factor).

With no environment at all this runs on SQLite and an embedded (filesystem) Celery broker, so that
`make demo` needs nothing installed. Production sets DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis).
Every variable read here is documented in README.md.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
import plotly
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime state of the zero-setup run (SQLite file, embedded broker queues); never committed.
RUN_DIR = Path(os.getenv("TRIGGERAPP_RUN_DIR", BASE_DIR / ".run"))


def envbool(name: str, default: str) -> bool:
    return os.getenv(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: str) -> int:
    return int(os.getenv(name, default))


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


DEBUG = envbool("DJANGO_DEBUG", "False")


def _local_secret_key() -> str:
    """A random key kept in RUN_DIR for the zero-setup run. Production sets DJANGO_SECRET_KEY so that every
    web and worker host signs links with the same key."""
    path = RUN_DIR / "secret_key"
    if not path.exists():
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = os.getenv("DJANGO_SECRET_KEY") or _local_secret_key()
if len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 32 characters long.")

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "anymail",
    "sequences",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "triggerapp.errors.refuse_nul_characters",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "triggerapp.urls"
WSGI_APPLICATION = "triggerapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "triggerapp.roles.role_context",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{RUN_DIR / 'triggerapp.sqlite3'}",
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", "60"),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    # The demo runs a web server and a Celery worker on one file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    # Server-side parameter binding: psycopg sends values apart from the SQL instead of quoting each one in
    # Python, which was a third of the ingest CPU (bench/ingest.py --profile). DATABASE_SERVER_SIDE_BINDING=0
    # turns it off, e.g. behind a PgBouncer in transaction mode that cannot keep prepared statements.
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = envbool("DATABASE_SERVER_SIDE_BINDING", "1")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.getenv("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# plotly.js comes from the pinned plotly package (served as /static/plotly/plotly.min.js): no CDN, works offline.
STATICFILES_DIRS = [BASE_DIR / "static", ("plotly", Path(plotly.__file__).parent / "package_data")]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Production runs collectstatic and sets STATIC_MANIFEST=1 for hashed, far-future-cached file names.
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if envbool("STATIC_MANIFEST", "False")
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
# Serve straight from the finders when collectstatic has not run (tests, demo).
WHITENOISE_USE_FINDERS = envbool("WHITENOISE_USE_FINDERS", "True")
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", "False")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if envbool("BEHIND_TLS_PROXY", "False") else None
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Celery -----------------------------------------------------------------------------------------------
# Default: kombu's filesystem transport, an embedded broker that needs no server (zero-setup run only).
CELERY_BROKER_URL = os.getenv("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = RUN_DIR / "celery-broker"
    (_broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = os.getenv("CELERY_RESULT_BACKEND") or None
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", "False")
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    # Cart abandonment is "5 minutes of inactivity": look often so it is detected within seconds of that.
    "detect-quiet-sessions": {"task": "sequences.tasks.detect_quiet_sessions", "schedule": 30.0},
    "store-stale-tracking-queue": {"task": "sequences.tasks.store_stale_tracking_queue", "schedule": 15.0},
    "detect-lapsed-contacts": {"task": "sequences.tasks.detect_lapsed_contacts", "schedule": 24 * 60 * 60},
    "enrol-triggers": {"task": "sequences.tasks.enrol_triggers", "schedule": 5.0},
    "dispatch-due-messages": {"task": "sequences.tasks.dispatch_due_messages", "schedule": 2.0},
    "recover-stuck-messages": {"task": "sequences.tasks.recover_stuck_messages", "schedule": 60.0},
    "refresh-rollups": {"task": "analytics.tasks.refresh_rollups", "schedule": 60.0},
    "purge-old-rejected-events": {
        "task": "sequences.tasks.purge_rejected_events",
        "schedule": 6 * 60 * 60,
    },
}

# --- Email --------------------------------------------------------------------------------------------------
# SMTP by default (Django 6.1's MAILERS); set EMAIL_BACKEND to an anymail backend
# (e.g. anymail.backends.postmark.EmailBackend) and ANYMAIL_* variables for an ESP.
_email_backend = os.getenv("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
_smtp_options = {
    "host": os.getenv("EMAIL_HOST", "127.0.0.1"),
    "port": envint("EMAIL_PORT", "25"),
    "username": os.getenv("EMAIL_HOST_USER", ""),
    "password": os.getenv("EMAIL_HOST_PASSWORD", ""),
    "use_tls": envbool("EMAIL_USE_TLS", "False"),
    "use_ssl": envbool("EMAIL_USE_SSL", "False"),
    "timeout": envint("EMAIL_TIMEOUT", "10"),
}
MAILERS = {
    "default": {
        "BACKEND": _email_backend,
        "OPTIONS": _smtp_options if _email_backend.endswith("smtp.EmailBackend") else {},
    }
}
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "triggerapp <noreply@localhost>")
ANYMAIL = {key.removeprefix("ANYMAIL_"): value for key, value in os.environ.items() if key.startswith("ANYMAIL_")}

# Where recipients' mail clients reach this app: tracking pixels, click redirects, unsubscribe pages.
PUBLIC_BASE_URL = os.getenv("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

# --- APIs ---------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["triggerapp.roles.IsViewer"],
    "DEFAULT_PARSER_CLASSES": [
        "sequences.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "triggerapp API",
    "DESCRIPTION": "Management API of triggerapp. The Segment-compatible tracking API lives under /v1/.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["triggerapp.roles.IsViewer"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "TriggerTypeEnum": "sequences.models.intent.TriggerType",
        "EventTypeEnum": "sequences.models.event.EventType",
    },
}

# --- Tracking API -------------------------------------------------------------------------------------------
# Segment's limits: https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/#max-request-size
TRACKING_MAX_EVENT_BYTES = 32 * 1024
TRACKING_MAX_BATCH_BYTES = 500 * 1024
# On: /v1/ requests only validate and queue; `manage.py ingest_worker` stores and scores many requests at a time
# (docs/performance.md: about twice the events a second). Off: each request stores and scores its own events.
# Reverse proxies in front of gunicorn that append to X-Forwarded-For (nginx, a load balancer): 0 trusts none
# and records REMOTE_ADDR as an event's IP; 1 behind one nginx, as docs/deployment.md sets it up.
TRUSTED_PROXIES = envint("TRUSTED_PROXIES", "0")
TRACKING_QUEUE = envbool("TRACKING_QUEUE", "False")
TRACKING_QUEUE_PASS_EVENTS = envint("TRACKING_QUEUE_PASS_EVENTS", "2000")
# A pass holds an advisory lock per user/anonymous id; PostgreSQL's shared lock table has room for
# max_locks_per_transaction (64) x max_connections (100) = 6,400 by default, for every session together.
TRACKING_QUEUE_PASS_IDENTITIES = envint("TRACKING_QUEUE_PASS_IDENTITIES", "2000")
# At least the number of ingest workers: each partition is stored by one worker at a time.
TRACKING_QUEUE_PARTITIONS = envint("TRACKING_QUEUE_PARTITIONS", "2")
# Beat's safety net stores queued events older than this, should no ingest worker be running.
TRACKING_QUEUE_FALLBACK_SECONDS = envint("TRACKING_QUEUE_FALLBACK_SECONDS", "30")
REJECTED_EVENTS_RETENTION_DAYS = envint("REJECTED_EVENTS_RETENTION_DAYS", "30")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}
