"""Shared fixtures: real services, a real Celery worker, an authenticated browser.

Under CI=true a missing Redis, PostgreSQL, worker or browser fails the run; on a
developer machine the tests that need them are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings

from taskboard.models import Task
from tests.factories import UserFactory
from web.devtools import CHROMIUM, CHROMIUM_ARGS, ROOT, ChildProcess

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses
# to run inside one unless told that this is deliberate (tests only).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# A separate Django project with its own settings, run by tests/test_host_project.py.
collect_ignore = ["host_project"]

CI = os.environ.get("CI", "").lower() == "true"
# Browser tests save what users see: into docs/screenshots when asked
# (TASKBOARD_SCREENSHOTS=1, to refresh the README's pictures), elsewhere by
# default so that a test run leaves the work tree clean.
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("TASKBOARD_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "taskboard-screenshots"
)
# Each test run has its own queue, so messages left by another run (or by
# `make run`) never reach this run's worker and the other way round.
QUEUE = f"taskboard-test-{uuid.uuid4().hex[:8]}"
current_app.conf.task_default_queue = QUEUE


def _redis_ok() -> str | None:
    if not settings.REDIS_URL:
        return "REDIS_URL is not set"
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"Redis at {settings.REDIS_URL} is unreachable: {exc}"
    return None


def _postgres_ok() -> str | None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "DATABASE_URL does not point to PostgreSQL"
    return None


def _browser_ok() -> str | None:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM}"
    return None


MISSING = {
    "integration": [r for r in (_redis_ok(), _postgres_ok()) if r],
    "browser": [r for r in (_redis_ok(), _postgres_ok(), _browser_ok()) if r],
}


def pytest_collection_modifyitems(config, items):
    problems = set()
    for item in items:
        for marker, reasons in MISSING.items():
            if reasons and item.get_closest_marker(marker):
                if CI:
                    problems.update(reasons)
                else:
                    item.add_marker(pytest.mark.skip(reason="; ".join(reasons)))
    if problems:
        raise pytest.UsageError(
            "CI=true but the real services are missing (refusing to skip): "
            + "; ".join(sorted(problems))
        )


# --- a real Celery worker ------------------------------------------------------


class WorkerProcess(ChildProcess):
    """A `celery worker` subprocess on this run's queue and test database."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        name: str,
        concurrency: int = 2,
        extra: tuple[str, ...] = (),
    ):
        super().__init__(f"worker {name}", [], env, log, append=True)
        self.name, self.concurrency, self.extra = name, concurrency, extra

    def start(self, timeout: float = 60) -> WorkerProcess:
        self.argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "web",
            "worker",
            "--loglevel=INFO",
            f"--concurrency={self.concurrency}",
            "-Q",
            self.env["CELERY_TASK_DEFAULT_QUEUE"],
            "-n",
            self.name,
            "--without-gossip",
            "--without-mingle",
            *self.extra,
        ]
        return super().start(lambda: b" ready." in self.log.read_bytes(), timeout)


class BeatProcess(ChildProcess):
    """A `celery beat` subprocess, which the site's settings give the DatabaseScheduler.

    It reads the schedules from the test database (``env`` from ``worker_env``) and
    sends to this run's queue; a short ``max_interval`` makes it look for changed
    schedules (PeriodicTasks.changed) every second.
    """

    def __init__(self, env: dict[str, str], log: Path, max_interval: int = 1):
        super().__init__("beat", [], env, log, append=True)
        self.max_interval = max_interval

    def start(self, timeout: float = 60) -> BeatProcess:
        self.argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "web",
            "beat",
            "--loglevel=INFO",
            f"--max-interval={self.max_interval}",
            f"--pidfile={self.log.with_suffix('.pid')}",
        ]
        return super().start(lambda: b"beat: Starting" in self.log.read_bytes(), timeout)


def test_database_url() -> str:
    """Return a DATABASE_URL naming the test database pytest-django created."""
    from django.db import connection

    db = connection.settings_dict
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def worker_env(**overrides: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
        "PYTHONUNBUFFERED": "1",
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def worker_log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("workers")


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, worker_log_dir):
    """Start one real worker for the session (needs the test database to exist)."""
    reasons = MISSING["integration"]
    if reasons:
        pytest.skip("; ".join(reasons))
    with django_db_blocker.unblock():
        env = worker_env()
    worker = WorkerProcess(
        env, worker_log_dir / "session-worker.log", f"session-{uuid.uuid4().hex[:6]}@%h"
    )
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def celery_beat(celery_worker, transactional_db, worker_log_dir):
    """Start a real beat (DatabaseScheduler) on the test database for one test."""
    beat = BeatProcess(worker_env(), worker_log_dir / f"beat-{uuid.uuid4().hex[:6]}.log")
    beat.start()
    yield beat
    beat.stop()


def wait_for(predicate, timeout: float = 30, interval: float = 0.2, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def finished(task_id, timeout: float = 60) -> Task:
    """Wait until the row of ``task_id`` is terminal and return it."""

    def check():
        row = Task.objects.filter(pk=task_id).first()
        return row if row and row.is_terminal else None

    return wait_for(check, timeout=timeout, message=f"task {task_id} to finish")


# --- users and the browser ---------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Start each test with an empty process cache."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def user(db):
    return UserFactory(username="alice", password="alice-secret-pw")


@pytest.fixture
def other_user(db):
    return UserFactory(username="bob", password="bob-secret-pw")


@pytest.fixture
def staff_user(db):
    return UserFactory(username="sam", password="sam-secret-pw", is_staff=True)


@pytest.fixture
def alice(client, user):
    """The test client, logged in as ``user``."""
    client.force_login(user)
    return client


@pytest.fixture
def revokes(monkeypatch) -> list:
    """Record revoke broadcasts instead of sending them, for tests without a broker."""
    sent: list = []
    monkeypatch.setattr(current_app.control, "revoke", lambda task_id, **kw: sent.append(task_id))
    return sent


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    reasons = MISSING["browser"]
    if reasons:
        pytest.skip("; ".join(reasons))
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture
def authed_page(page, live_server, user):
    """A Playwright page logged in as ``user`` on the live server."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
    )
    page.set_default_timeout(15_000)
    return page


# --- the production web server -------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def gunicorn_url(tmp_path, transactional_db) -> str:
    """``gunicorn web.wsgi`` on a free port of 127.0.0.1, on the test database.

    The test client and live_server (Django's development server) have no limit on
    a request line; gunicorn refuses one over 4,094 bytes, as production does.
    """
    port = _free_port()
    argv = [sys.executable, "-m", "gunicorn", "web.wsgi", "--bind", f"127.0.0.1:{port}"]
    argv += ["--workers", "1", "--log-level", "warning"]
    proc = ChildProcess("gunicorn", argv, worker_env(), tmp_path / "gunicorn.log")
    proc.start(lambda: _port_open(port))
    yield f"http://127.0.0.1:{port}"
    proc.stop()
