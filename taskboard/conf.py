"""Taskboard's settings: every ``TASKBOARD_*`` setting with its default.

A host sets none of them to start. Each is read when used, from Django's settings
when the host set it (``TASKBOARD_POLL_INTERVAL = 5``), else from ``DEFAULTS``, so
a test's ``settings`` override is seen at once. docs/operations.md says what each does.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings


def _export_dir() -> Path:
    # Beside the host's project (startproject defines BASE_DIR), else the temporary
    # directory; a host with several machines sets a shared TASKBOARD_EXPORT_DIR.
    base = getattr(settings, "BASE_DIR", None)
    if base:
        return Path(base) / "var" / "taskboard-exports"
    return Path(tempfile.gettempdir()) / "taskboard-exports"


DEFAULTS: dict[str, Any] = {
    # Seconds between reconciler runs (beat); a row pending or running longer than
    # its time limit plus STALE_MARGIN is converged from the result backend, or lost.
    "RECONCILE_INTERVAL": 60,
    "STALE_MARGIN": 300,
    "PENDING_STALE_AFTER": 3600,
    # Seconds a redeliverable task's run lease lasts without renewal.
    "RUN_LEASE": 15,
    # Seconds a "running" write waits, and a worker gathers "completed" writes.
    "RUNNING_WRITE_DELAY": 0.25,
    "TRACKING_BATCH_INTERVAL": 0.1,
    "RESULT_MAX_BYTES": 64 * 1024,
    "TRACEBACK_MAX_BYTES": 64 * 1024,
    # The poll: seconds between polls, rows read per request, ids a request may carry.
    "POLL_INTERVAL": 2,
    "POLL_MAX_IDS": 500,
    "POLL_MAX_CARRIED": 5000,
    "LAUNCH_RATE_PER_MINUTE": 60,
    # Launch later: how far ahead a launch may be held back, and seconds between the
    # sender's runs (beat), each sending at most SEND_DUE_BATCH due rows.
    "LAUNCH_LATER_MAX_DAYS": 365,
    "SEND_DUE_INTERVAL": 5,
    "SEND_DUE_BATCH": 200,
    "EXPORT_DIR": _export_dir,
    # A group new users join (empty: nothing is done to a host's users' groups).
    "DEFAULT_GROUP": "",
    "BULK_INLINE_MAX": 500,
    "BULK_MAX": 10000,
    # Retention in days (0 keeps forever) and seconds between retention runs.
    "KEEP_COMPLETED_DAYS": 30,
    "KEEP_FAILED_DAYS": 90,
    "RETENTION_INTERVAL": 3600,
    # The operations page: broker call timeout, refresh, extra queues, pending age flagged.
    "OPS_TIMEOUT": 1.0,
    "OPS_REFRESH": 5,
    "OPS_QUEUES": [],
    "PENDING_WARN_AFTER": 300,
    # Bearer token Prometheus sends to the metrics view (empty: staff sessions only).
    "METRICS_TOKEN": "",
    # The URL name or path of the host's logout view (POST); empty: no logout button.
    "LOGOUT_URL": "logout",
    # Live task logs (docs/operations.md, "Task logs"): capture on the workers or not,
    # the lowest level kept, what one task keeps (its first lines, the rest counted as
    # dropped), seconds the live copy lives in the result backend, and how often a
    # worker sends what it gathered (seconds, or sooner once that many lines wait).
    "LOG_CAPTURE": True,
    "LOG_LEVEL": "INFO",
    "LOG_MAX_LINES": 2000,
    "LOG_MAX_BYTES": 512 * 1024,
    "LOG_LINE_MAX_CHARS": 4000,
    "LOG_TTL": 24 * 3600,
    "LOG_FLUSH_INTERVAL": 0.25,
    "LOG_FLUSH_LINES": 500,
    # Notifications: seconds a failure group's window lasts (opened by its first
    # failure, one message with the count when it closes); seconds a worker keeps its
    # list of what anyone subscribed to; webhook attempts, their timeout and backoff.
    "NOTIFY_WINDOW_SECONDS": 60,
    "NOTIFY_REFRESH_SECONDS": 5.0,
    "WEBHOOK_ATTEMPTS": 5,
    "WEBHOOK_TIMEOUT": 5.0,
    "WEBHOOK_BACKOFF": 10.0,
    # Let webhooks reach loopback, private and reserved addresses (tests, closed networks).
    "WEBHOOK_ALLOW_PRIVATE": False,
    "NOTIFY_FROM_EMAIL": "",
}


class AppSettings:
    """``app_settings.POLL_INTERVAL`` is ``settings.TASKBOARD_POLL_INTERVAL`` or its default."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"no Taskboard setting {name!r}")
        value = getattr(settings, f"TASKBOARD_{name}", DEFAULTS[name])
        return value() if callable(value) else value


app_settings = AppSettings()


def beat_schedule() -> dict[str, dict]:
    """Return the periodic tasks a host adds to its beat schedule (reconcile, retention, sender)."""
    return {
        # Sends the launches held back until their time (docs/architecture.md, "Launch later").
        "taskboard-send-due": {
            "task": "taskboard.send_due",
            "schedule": float(app_settings.SEND_DUE_INTERVAL),
        },
        "taskboard-reconcile": {
            "task": "taskboard.reconcile",
            "schedule": float(app_settings.RECONCILE_INTERVAL),
        },
        "taskboard-retention": {
            "task": "taskboard.retention",
            "schedule": float(app_settings.RETENTION_INTERVAL),
        },
        # Failure windows whose delayed task was lost (a worker restart).
        "taskboard-notify-windows": {
            "task": "taskboard.notify_windows",
            "schedule": 60.0,
        },
    }
