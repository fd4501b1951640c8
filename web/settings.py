"""Taskboard settings, read from environment variables with safe defaults.

With nothing set, everything is embedded under var/: SQLite, Celery's filesystem
broker and its file result backend, so `make run` works on a machine with no servers.
Set DATABASE_URL and REDIS_URL (optionally CELERY_BROKER_URL) for production.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TASKBOARD_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    """Return an environment flag: 1/true/yes/on are true."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    """Return a comma-separated environment variable as a list."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# Public, so it signs nothing worth forging: only a DEBUG site may run on it.
# `make run` keeps a key of its own in var/ and the test suite sets one (tests/settings.py).
DEVELOPMENT_SECRET_KEY = "taskboard-insecure-development-key-change-me-0123456789abcdef"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not DEBUG and SECRET_KEY in ("", DEVELOPMENT_SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set when DEBUG is off (and not to the development key): "
        "export SECRET_KEY=<a long random string>, or DEBUG=1 on a development machine"
    )
SECRET_KEY = SECRET_KEY or DEVELOPMENT_SECRET_KEY
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "csp",
    "axes",
    # Taskboard and the apps it needs (the README's "Add Taskboard to your project").
    "taskboard",
    "django_tables2",
    "template_partials",
    "django_celery_beat",
    # The site's own tasks (the demo), written against Taskboard's public API.
    "tasks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "web.urls"
WSGI_APPLICATION = "web.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat write the same file: WAL and a busy timeout keep them
    # from failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Login throttling (django-axes, database handler: shared by every web process):
# after AXES_FAILURE_LIMIT wrong passwords for one username from one address, that
# pair is refused for the cool-off, even with the right password. Another user from
# the address, or the user from elsewhere, may still log in. Behind a proxy, set
# AXES_IPWARE_PROXY_COUNT so the client's address is read from X-Forwarded-For.
AXES_FAILURE_LIMIT = int(os.environ.get("TASKBOARD_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("TASKBOARD_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The login form's field: Django's AuthenticationForm names it "username" whatever the
# user model's USERNAME_FIELD. Said here, it is not derived from the user model once,
# at django-axes' first import (which a test pretending USERNAME_FIELD="email" could be).
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# No "AXES: BEGIN" line at every process start; lockouts are still logged.
AXES_VERBOSE = False
if os.environ.get("AXES_IPWARE_PROXY_COUNT"):
    AXES_IPWARE_PROXY_COUNT = int(os.environ["AXES_IPWARE_PROXY_COUNT"])
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/tasks/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# collectstatic target for production (optional: the finders serve without it).
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the finders so a fresh clone needs no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Security headers; the HTTPS-only ones are switched on behind TLS.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# No inline script and no eval anywhere: htmx runs with allowEval off, and every
# script is a static file. Inline style attributes are allowed (progress widths).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Celery -----------------------------------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "")
EMBEDDED_BROKER_DIR = VAR_DIR / "broker"
EMBEDDED_RESULTS_DIR = VAR_DIR / "results"

if REDIS_URL:
    CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
    CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL)
else:
    # "localhost" only names the folders' machine: without a host kombu warns "No hostname
    # was supplied" at each connection it clones (every remote-control reply, on /ops/).
    CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/")
    CELERY_RESULT_BACKEND = os.environ.get(
        "CELERY_RESULT_BACKEND", f"file://{EMBEDDED_RESULTS_DIR}"
    )

if CELERY_RESULT_BACKEND.startswith(("redis://", "rediss://")):
    # Celery's Redis backend minus the pub/sub subscription per sent task, which
    # web processes never use and which leaks when a send fails (taskboard/backends.py).
    CELERY_RESULT_BACKEND = f"taskboard.backends:RedisBackend+{CELERY_RESULT_BACKEND}"

CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (EMBEDDED_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    EMBEDDED_RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(EMBEDDED_BROKER_DIR / "queue"),
        "data_folder_out": str(EMBEDDED_BROKER_DIR / "queue"),
        "processed_folder": str(EMBEDDED_BROKER_DIR / "processed"),
        "control_folder": str(EMBEDDED_BROKER_DIR / "control"),
        "store_processed": False,
        # Seconds between looks at the folders (kombu's default is 1): a remote-control
        # reply, such as /ops/ asks for, or a new task waited up to that long.
        "polling_interval": 0.1,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A message not acked within this many seconds is redelivered (acks_late
    # tasks whose worker died). It must exceed the longest task's run time,
    # or a long task would run twice; see docs/operations.md.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "7200")),
    }
    if os.environ.get("CELERY_UNACKED_RESTORE_INTERVAL"):
        # Seconds between sweeps for unacked messages older than the visibility
        # timeout (kombu's default is about 100 s); tests shorten it.
        CELERY_BROKER_TRANSPORT_OPTIONS |= {
            "unacked_restore_interval": int(os.environ["CELERY_UNACKED_RESTORE_INTERVAL"]),
            "unacked_restore_throttle": 1,
        }

# Tests give each run its own queue so that stray messages never cross runs.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "3600"))
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "3300"))
CELERY_RESULT_EXPIRES = int(os.environ.get("CELERY_RESULT_EXPIRES", str(24 * 3600)))
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection before and after each task
# unless this is set: each task then paid a new PostgreSQL connection for its tracking
# writes (docs/performance.md). Keep them: the fixup still recycles them every
# CELERY_DB_REUSE_MAX tasks, and the tracking writes close and retry a broken one.
CELERY_DB_REUSE_MAX = int(os.environ.get("CELERY_DB_REUSE_MAX", "1000"))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_REDIS_BACKEND_HEALTH_CHECK_INTERVAL = 30
CELERY_REDIS_SOCKET_TIMEOUT = float(os.environ.get("CELERY_REDIS_SOCKET_TIMEOUT", "5"))
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = float(
    os.environ.get("CELERY_REDIS_SOCKET_CONNECT_TIMEOUT", "2")
)
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"retry_policy": {"max_retries": 2}}
# Beat keeps its schedule in django-celery-beat's tables (Taskboard's schedules live
# there), so any `celery -A web beat` the site runs reads them, whatever its flags.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Taskboard --------------------------------------------------------------

TASKBOARD_RECONCILE_INTERVAL = int(os.environ.get("TASKBOARD_RECONCILE_INTERVAL", "60"))
# Seconds between the sends of launches held back until their time, and how far ahead.
TASKBOARD_SEND_DUE_INTERVAL = int(os.environ.get("TASKBOARD_SEND_DUE_INTERVAL", "5"))
TASKBOARD_LAUNCH_LATER_MAX_DAYS = int(os.environ.get("TASKBOARD_LAUNCH_LATER_MAX_DAYS", "365"))
# A row that is pending or running for longer than its time limit plus this
# margin is converged from the result backend, or marked lost.
TASKBOARD_STALE_MARGIN = int(os.environ.get("TASKBOARD_STALE_MARGIN", "300"))
TASKBOARD_PENDING_STALE_AFTER = int(os.environ.get("TASKBOARD_PENDING_STALE_AFTER", "3600"))
# Seconds a redeliverable task's run lease lasts without renewal: how long a
# redelivered copy waits before it may run in place of a dead run.
TASKBOARD_RUN_LEASE = int(os.environ.get("TASKBOARD_RUN_LEASE", "15"))
# Seconds a task's "running" write waits in the worker: a task that ends sooner writes
# its start and its end in one UPDATE (taskboard/worker/batching.py). 0 writes the start at once.
TASKBOARD_RUNNING_WRITE_DELAY = float(os.environ.get("TASKBOARD_RUNNING_WRITE_DELAY", "0.25"))
# Seconds a worker process gathers its tasks' "completed" writes before writing them in
# one transaction (taskboard/worker/batching.py). 0 writes each at once.
TASKBOARD_TRACKING_BATCH_INTERVAL = float(
    os.environ.get("TASKBOARD_TRACKING_BATCH_INTERVAL", "0.1")
)
TASKBOARD_RESULT_MAX_BYTES = int(os.environ.get("TASKBOARD_RESULT_MAX_BYTES", str(64 * 1024)))
TASKBOARD_TRACEBACK_MAX_BYTES = int(os.environ.get("TASKBOARD_TRACEBACK_MAX_BYTES", str(64 * 1024)))
TASKBOARD_POLL_INTERVAL = int(os.environ.get("TASKBOARD_POLL_INTERVAL", "2"))
# The poll (docs/architecture.md): one request reads at most POLL_MAX_IDS rows; a page
# with more in flight has them read in turns. A request may carry POLL_MAX_CARRIED ids.
TASKBOARD_POLL_MAX_IDS = int(os.environ.get("TASKBOARD_POLL_MAX_IDS", "500"))
TASKBOARD_POLL_MAX_CARRIED = int(os.environ.get("TASKBOARD_POLL_MAX_CARRIED", "5000"))
TASKBOARD_LAUNCH_RATE_PER_MINUTE = int(os.environ.get("TASKBOARD_LAUNCH_RATE_PER_MINUTE", "60"))
TASKBOARD_EXPORT_DIR = Path(os.environ.get("TASKBOARD_EXPORT_DIR", VAR_DIR / "exports"))
# Roles (docs/operations.md, "Roles"): this site's opt-in, so that its new users may
# launch: they join this group. A host adding Taskboard leaves it unset (nothing is
# done to its users' groups). Empty: new users may not launch until an admin allows it.
TASKBOARD_DEFAULT_GROUP = os.environ.get("TASKBOARD_DEFAULT_GROUP", "Launchers")
# Bulk actions: selections up to BULK_INLINE_MAX run in the request, larger ones
# as a background task (taskboard.bulk_action). BULK_MAX caps one selection: a
# filter that matches more is refused whole (counted with a LIMIT of BULK_MAX + 1).
TASKBOARD_BULK_INLINE_MAX = int(os.environ.get("TASKBOARD_BULK_INLINE_MAX", "500"))
TASKBOARD_BULK_MAX = int(os.environ.get("TASKBOARD_BULK_MAX", "10000"))
# Retention: finished tasks older than this many days are purged by beat (0 keeps
# them forever); pinned tasks are always kept.
TASKBOARD_KEEP_COMPLETED_DAYS = int(os.environ.get("TASKBOARD_KEEP_COMPLETED_DAYS", "30"))
TASKBOARD_KEEP_FAILED_DAYS = int(os.environ.get("TASKBOARD_KEEP_FAILED_DAYS", "90"))
TASKBOARD_RETENTION_INTERVAL = int(os.environ.get("TASKBOARD_RETENTION_INTERVAL", "3600"))
# /ops/: seconds each broker call may take, the page's refresh period,
# extra queues to measure besides the default one and those the workers consume,
# and the age from which a pending task is flagged.
TASKBOARD_OPS_TIMEOUT = float(os.environ.get("TASKBOARD_OPS_TIMEOUT", "1"))
TASKBOARD_OPS_REFRESH = int(os.environ.get("TASKBOARD_OPS_REFRESH", "5"))
TASKBOARD_OPS_QUEUES = env_list("TASKBOARD_OPS_QUEUES", "")
TASKBOARD_PENDING_WARN_AFTER = int(os.environ.get("TASKBOARD_PENDING_WARN_AFTER", "300"))
# Bearer token Prometheus sends to /metrics (empty: staff sessions only).
TASKBOARD_METRICS_TOKEN = os.environ.get("TASKBOARD_METRICS_TOKEN", "")
# Live task logs (docs/operations.md, "Task logs"): capture on the workers (0 turns it
# off), and the first lines and bytes a task keeps (the rest are counted as dropped).
TASKBOARD_LOG_CAPTURE = os.environ.get("TASKBOARD_LOG_CAPTURE", "1") not in {"0", "false", ""}
TASKBOARD_LOG_MAX_LINES = int(os.environ.get("TASKBOARD_LOG_MAX_LINES", "2000"))
TASKBOARD_LOG_MAX_BYTES = int(os.environ.get("TASKBOARD_LOG_MAX_BYTES", str(512 * 1024)))
# Notifications (docs/operations.md, "Notifications"): the failure window, webhook
# retries, and whether webhooks may reach private addresses; mail goes through
# Django's email settings (console backend unless EMAIL_HOST is set).
TASKBOARD_NOTIFY_WINDOW_SECONDS = int(os.environ.get("TASKBOARD_NOTIFY_WINDOW_SECONDS", "60"))
TASKBOARD_WEBHOOK_ATTEMPTS = int(os.environ.get("TASKBOARD_WEBHOOK_ATTEMPTS", "5"))
TASKBOARD_WEBHOOK_ALLOW_PRIVATE = os.environ.get("TASKBOARD_WEBHOOK_ALLOW_PRIVATE", "") == "1"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("EMAIL_USE_TLS", "") == "1"
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "taskboard@localhost")

CELERY_BEAT_SCHEDULE = {
    # Sends the launches held back until their time ("Launch later" in the README).
    "taskboard-send-due": {
        "task": "taskboard.send_due",
        "schedule": float(TASKBOARD_SEND_DUE_INTERVAL),
    },
    "taskboard-reconcile": {
        "task": "taskboard.reconcile",
        "schedule": float(TASKBOARD_RECONCILE_INTERVAL),
    },
    "taskboard-retention": {
        "task": "taskboard.retention",
        "schedule": float(TASKBOARD_RETENTION_INTERVAL),
    },
    "taskboard-notify-windows": {"task": "taskboard.notify_windows", "schedule": 60.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
