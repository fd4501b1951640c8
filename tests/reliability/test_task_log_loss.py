"""A killed worker's task keeps the log lines that reached the result backend.

The worker is SIGKILLed mid-task: the detail page still shows what it sent, and the
reconciler stores those lines with the row when it converges it.
"""

from __future__ import annotations

import re

import pytest

from taskboard import services, tasklog
from taskboard.models import Task, TaskLog
from tests.conftest import wait_for
from tests.reliability.conftest import running

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def test_killed_worker_task_keeps_the_lines_that_reached_the_backend(stack, user, client, settings):
    # The reconciler gives up on a running row after the time limit plus the margin.
    settings.CELERY_TASK_TIME_LIMIT = 6
    settings.TASKBOARD_STALE_MARGIN = 2
    doomed = stack.worker(
        "doomed-log", concurrency=1, CELERY_TASK_TIME_LIMIT="6", CELERY_TASK_SOFT_TIME_LIMIT="5"
    )
    task = services.task_launch(
        user=user,
        name="demo.chatty",
        params={"lines": 200, "interval": 0.1, "message": "doomed"},
    )
    running(task.pk)
    wait_for(
        lambda: len(tasklog.read_live(task.pk).lines) >= 5, message="five lines in the backend"
    )
    doomed.kill()
    sent = [line.message for line in tasklog.read_live(task.pk).lines]
    assert sent[:5] == [f"doomed: line {n} of 200" for n in range(1, 5)] + [
        "doomed: line 5 of 200 (a warning)"
    ]
    assert len(sent) < 200

    # Still "running" (nobody knows yet): the page reads the lines live.
    client.force_login(user)
    page = client.get(f"/tasks/{task.pk}/").content.decode()
    assert re.findall(r'<span class="log-message">(.*?)</span>', page) == sent

    def reconciled():
        services.reconcile()
        row = Task.objects.get(pk=task.pk)
        return row if row.is_terminal else None

    row = wait_for(reconciled, timeout=30, interval=0.5, message="the reconciler to converge it")
    assert row.status == "failed"
    stored = TaskLog.objects.get(task_id=task.pk)
    assert [message for _, _, message in stored.entries] == sent
