"""Task logs in the embedded default: SQLite, the filesystem broker and the file result backend."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, WorkerProcess
from tests.site.test_embedded import embedded_env

pytestmark = pytest.mark.slow

LAUNCH_AND_READ = """
import time
from django.contrib.auth.models import User
from taskboard import selectors, tasklog
from taskboard.filters import TaskFilter
from taskboard.models import Task, TaskLog
from taskboard.services import task_launch
user, _ = User.objects.get_or_create(username="embedded")
task = task_launch(user=user, name="demo.chatty",
                   params={"lines": 6, "interval": 0.3, "message": "embedded"})
live = []
for _ in range(300):
    row = Task.objects.get(pk=task.pk)
    if not row.is_terminal:
        live.append(len(tasklog.read_live(task.pk).lines))
    if row.is_terminal and TaskLog.objects.filter(task=row).exists():
        break
    time.sleep(0.1)
print("STATUS", row.status)
print("PARTIAL", any(0 < count < 6 for count in live))
print("FILE", len(tasklog.read_live(task.pk, offset=2).lines), "after offset 2")
stored = TaskLog.objects.get(task=row)
print("STORED", [message for _, _, message in stored.entries])
found = TaskFilter({"q": "embedded: line 3"}, queryset=Task.objects.all(), user=user).qs
print("SEARCH", list(found.values_list("pk", flat=True)) == [row.pk])
"""


def test_embedded_worker_captures_and_stores_a_tasks_log(tmp_path):
    env = embedded_env(tmp_path / "var")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    worker = WorkerProcess(env, tmp_path / "worker.log", "embedded-log@%h", concurrency=1)
    worker.start()
    try:
        out = subprocess.run(
            [*manage, "shell", "-c", LAUNCH_AND_READ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    finally:
        worker.stop()
    assert "STATUS completed" in out, out + worker.tail()
    assert "PARTIAL True" in out, out  # some lines read from the file while it ran
    assert "FILE 5 after offset 2" in out, out
    expected = [
        *(f"embedded: line {n} of 6" + (" (a warning)" if n == 5 else "") for n in range(1, 7)),
        "embedded: done, 6 lines",  # printed
    ]
    assert f"STORED {expected}" in out, out
    assert "SEARCH True" in out, out
    assert any(path.name.endswith("-log") for path in (tmp_path / "var" / "results").iterdir())
