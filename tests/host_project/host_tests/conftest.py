"""Fixtures of the host's tests: its users and a real worker of its Celery app."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from hostproj.celery import app

from taskboard.models import Task

PROJECT = Path(__file__).resolve().parent.parent
# This run's own queue: no other run's worker takes its messages, nor the other way round.
QUEUE = f"hostproj-test-{uuid.uuid4().hex[:8]}"
app.conf.task_default_queue = QUEUE


def wait_for(predicate, timeout: float = 30, interval: float = 0.2, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def _test_database_url() -> str:
    """Return a DATABASE_URL naming the test database pytest-django created."""
    from django.db import connection

    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{db['USER']}{password}@" if db.get("USER") else ""
    return f"postgres://{auth}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def host_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """``celery -A hostproj worker`` on this run's queue and the test database."""
    with django_db_blocker.unblock():
        env = {**os.environ, "DATABASE_URL": _test_database_url(), "PYTHONUNBUFFERED": "1"}
    env["CELERY_TASK_DEFAULT_QUEUE"] = QUEUE
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "hostproj",
        "worker",
        "-P",
        "solo",
        "--loglevel=INFO",
    ]
    argv += ["-Q", QUEUE, "-n", f"host-{QUEUE}@%h", "--without-gossip", "--without-mingle"]
    with open(log, "wb") as out:
        # Its own session, so that the kill at teardown reaches all it started.
        proc = subprocess.Popen(
            argv, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        try:
            wait_for(
                lambda: proc.poll() is not None or b" ready." in log.read_bytes(),
                timeout=60,
                message="the host's worker to be ready",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n{log.read_text()}") from None
        assert proc.poll() is None, f"the worker exited:\n{log.read_text()}"
        yield log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def finished():
    """Return a function that waits until a task's row is terminal and returns it."""

    def wait(task_id) -> Task:
        def check():
            row = Task.objects.filter(pk=task_id).first()
            return row if row and row.is_terminal else None

        return wait_for(check, timeout=60, message=f"task {task_id} to finish")

    return wait


@pytest.fixture
def member(db):
    """A host user, signed in by email, who may launch (Taskboard's add_task permission)."""
    user = get_user_model().objects.create_user("carol@example.com", password="carol-secret-pw")
    user.user_permissions.add(
        Permission.objects.get(codename="add_task", content_type__app_label="taskboard")
    )
    return user


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client
