"""The embedded default (no servers) and the `make run` command, end to end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, BeatProcess, WorkerProcess, wait_for

pytestmark = pytest.mark.slow

LAUNCH_AND_WAIT = """
import time
from django.contrib.auth.models import User
from taskboard.services import task_launch
from taskboard.models import Task
user, _ = User.objects.get_or_create(username="embedded")
task = task_launch(user=user, name="demo.quick", params={"x": 20, "y": 22})
for _ in range(150):
    row = Task.objects.get(pk=task.pk)
    if row.is_terminal:
        break
    time.sleep(0.2)
print("RESULT", row.status, row.result)
"""


def embedded_env(var_dir: Path) -> dict[str, str]:
    """Return this environment without any server configuration."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "RABBITMQ_URL"}
        and not key.startswith("CELERY_")
    }
    env["TASKBOARD_VAR_DIR"] = str(var_dir)
    env["CELERY_TASK_DEFAULT_QUEUE"] = "celery"
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_embedded_worker_runs_a_task_end_to_end(tmp_path):
    env = embedded_env(tmp_path / "var")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    worker = WorkerProcess(env, tmp_path / "worker.log", "embedded@%h", concurrency=1)
    worker.start()
    try:
        out = subprocess.run(
            [*manage, "shell", "-c", LAUNCH_AND_WAIT],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=True,
        ).stdout
    finally:
        worker.stop()
    assert "RESULT completed 42" in out, worker.tail()
    assert (tmp_path / "var" / "db.sqlite3").exists()
    assert any((tmp_path / "var" / "results").iterdir())


SNAPSHOT = """
from django.contrib.auth.models import User
from taskboard import ops
staff, _ = User.objects.get_or_create(username="ops", is_staff=True)
snap = ops.snapshot(user=staff)
print("WORKERS", *[worker.name for worker in snap.workers], snap.error)
"""


def test_embedded_ops_snapshot_lists_the_worker_without_hostname_warnings(tmp_path):
    env = embedded_env(tmp_path / "var")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    worker = WorkerProcess(env, tmp_path / "worker.log", "embedded-ops@%h", concurrency=1)
    worker.start()
    try:
        web = subprocess.run(
            [*manage, "shell", "-c", SNAPSHOT],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=True,
        )
    finally:
        worker.stop()
    assert "WORKERS embedded-ops@" in web.stdout, web.stdout + web.stderr + worker.tail()
    # kombu says this at every connection it clones for a URL without a host: the
    # filesystem broker's replies to /ops/ printed it in the worker's log each refresh.
    assert "No hostname was supplied" not in web.stderr
    assert "No hostname was supplied" not in worker.log.read_text()


def test_make_run_starts_answers_healthz_and_stops_cleanly(tmp_path):
    port = free_port()
    env = embedded_env(tmp_path / "var")
    env["TASKBOARD_PORT"] = str(port)
    log = tmp_path / "make-run.log"
    with open(log, "wb") as handle:
        proc = subprocess.Popen(
            ["make", "run"],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/healthz"

    def healthy():
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.load(response)
        except OSError:
            assert proc.poll() is None, log.read_text()
            return None

    try:
        report = wait_for(healthy, timeout=120, interval=0.5, message="make run to serve /healthz")
        assert report == {"database": "ok", "broker": "ok", "result_backend": "ok", "status": "ok"}
        output = log.read_text()
        assert f"http://127.0.0.1:{port}/" in output
        assert "demo" in output
        wait_for(lambda: "beat: Starting" in log.read_text(), timeout=60, message="beat")
        wait_for(lambda: " ready." in log.read_text(), timeout=60, message="worker")
        banner = f"Taskboard is ready: http://127.0.0.1:{port}/  (log in as demo / demo-taskboard)"
        wait_for(lambda: banner in log.read_text(), timeout=60, message="the banner")
        output = log.read_text()
        # Said again once web and a worker answer: after the worker's start-up lines.
        assert output.index(banner) > output.index(" ready.")
        # No access log by default: a request, static files included, prints nothing.
        assert "GET /healthz" not in output
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout
    assert left.strip() == "", f"processes left running: {left}"
    # Ctrl-C: each process asked alone, and each stopped by itself (a worker's warm
    # shutdown on the filesystem broker takes about 7 s), nothing killed, no ERROR.
    stop = log.read_text()
    stop = stop[stop.index("stopping web") :]
    for name in ("web", "worker", "beat", "ready"):
        assert f"{name} stopped (exit code 0)" in stop, stop
    assert "killed" not in stop and "ERROR" not in stop, stop


def make_dry_run(target: str, tmp_path: Path) -> str:
    """Return the commands `make <target>` would run for a fresh environment."""
    return subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}", f"TASKBOARD_VAR_DIR={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def test_make_run_installs_the_runtime_requirements_only(tmp_path):
    commands = make_dry_run("run", tmp_path)
    assert f"{tmp_path / 'venv'}/bin/pip install --quiet -r requirements.txt" in commands
    assert "requirements-dev.txt" not in commands


def test_make_run_creates_the_role_groups_before_the_demo_account(tmp_path):
    # The demo site's groups come from the command, not from a migration's side effect.
    commands = make_dry_run("run", tmp_path).splitlines()
    groups = next(i for i, line in enumerate(commands) if "manage.py taskboard_groups" in line)
    demo = next(i for i, line in enumerate(commands) if "manage.py ensure_demo_user" in line)
    assert groups < demo


def test_make_test_adds_the_test_requirements(tmp_path):
    commands = make_dry_run("test", tmp_path)
    assert "-m venv" in commands
    assert "-r requirements.txt" in commands
    assert "-r requirements-dev.txt" in commands


def test_make_run_keeps_a_secret_key_of_its_own(tmp_path):
    # Stand-ins for the venv's commands: each prints the key it was given.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("pip", "python"):
        (bin_dir / name).write_text('#!/bin/sh\necho "key=[$SECRET_KEY]"\n')
        (bin_dir / name).chmod(0o755)
    stamp = tmp_path / "installed"
    stamp.touch()
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    argv = [
        "make",
        "-s",
        "run",
        f"BIN={bin_dir}",
        f"STAMP={stamp}",
        f"TASKBOARD_VAR_DIR={tmp_path}",
    ]

    def keys() -> set[str]:
        out = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        return {line for line in out.stdout.splitlines() if line.startswith("key=")}

    first = keys()
    key = (tmp_path / "secret-key").read_text().strip()
    assert first == {f"key=[{key}]"} and len(key) >= 50
    assert (tmp_path / "secret-key").stat().st_mode & 0o077 == 0
    assert keys() == first  # made once, then kept
    env["SECRET_KEY"] = "an-operator-s-own-key"
    assert keys() == {"key=[an-operator-s-own-key]"}


PERIODIC_NAMES = """
from django_celery_beat.models import PeriodicTask
print("PERIODIC", *sorted(PeriodicTask.objects.values_list("name", flat=True)))
"""


def test_embedded_beat_keeps_the_settings_schedule_in_the_database(tmp_path):
    # The Procfile's beat: django-celery-beat's DatabaseScheduler on the SQLite file,
    # which writes CELERY_BEAT_SCHEDULE (reconcile, retention) into its tables.
    env = embedded_env(tmp_path / "var")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    beat = BeatProcess(env, tmp_path / "beat.log")
    beat.start()
    try:

        def names() -> str:
            return subprocess.run(
                [*manage, "shell", "-c", PERIODIC_NAMES],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout

        out = wait_for(
            lambda: (text := names()) and "taskboard-retention" in text and text,
            timeout=60,
            message="beat to store the settings' schedule",
        )
    finally:
        beat.stop()
    assert "taskboard-reconcile" in out and "taskboard-retention" in out, beat.tail()
    assert "Traceback" not in beat.log.read_text()
