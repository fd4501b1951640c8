"""Faults 1, 2 and 6: killed pool children and workers, runs outliving the visibility timeout.

Each test kills real processes with SIGKILL and watches the rows the tracking
signals (or the reconciler) write in PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from taskboard import services
from taskboard.models import Task
from tests.conftest import finished, wait_for
from tests.reliability.conftest import running

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
BOTH_BROKERS = pytest.mark.parametrize("stack", ["redis", "amqp"], indirect=True)


def kill_pool_child(worker) -> None:
    """SIGKILL the only pool process of a concurrency-1 worker."""
    [child] = worker.children()
    os.kill(child, signal.SIGKILL)


@BOTH_BROKERS
def test_pool_child_killed_marks_row_worker_lost(stack, user):
    worker = stack.worker("child-kill", concurrency=1)
    task = services.task_launch(user=user, name="demo.long", params={"seconds": 60, "steps": 60})
    running(task.pk)
    kill_pool_child(worker)
    killed = time.monotonic()
    row = finished(task.pk, timeout=15)
    print(f"\nFIGURE worker-lost detected in {time.monotonic() - killed:.2f}s ({stack.broker})")
    assert row.status == "failed"
    assert row.error_type == "WorkerLostError"
    assert row.error_message.startswith("worker lost:")


@BOTH_BROKERS
def test_pool_child_killed_redeliverable_task_runs_again_once(stack):
    worker = stack.worker("child-kill-idem", concurrency=1, TASKBOARD_RUN_LEASE="2")
    task_id = stack.send_probe("sleep_redeliverable", seconds=3)
    running(task_id)
    wait_for(lambda: stack.runs(task_id) == 1, message="the first run to start")
    kill_pool_child(worker)
    row = finished(task_id, timeout=60)
    worker.stop()
    assert row.status == "completed"
    assert row.result == {"slept": 3}
    assert stack.runs(task_id) == 2


@BOTH_BROKERS
def test_worker_killed_redeliverable_task_completes_on_new_worker(stack):
    settings = {"CELERY_VISIBILITY_TIMEOUT": "5", "TASKBOARD_RUN_LEASE": "2"}
    doomed = stack.worker("doomed", concurrency=1, **settings)
    task_id = stack.send_probe("sleep_redeliverable", seconds=2)
    running(task_id)
    wait_for(lambda: stack.runs(task_id) == 1, message="the first run to start")
    doomed.kill()
    stack.worker("rescuer", concurrency=1, **settings)
    row = finished(task_id, timeout=90)
    assert row.status == "completed"
    assert row.worker.startswith("rescuer-")
    assert stack.runs(task_id) == 2


@BOTH_BROKERS
def test_worker_killed_plain_task_is_marked_lost_by_reconciler(stack, user, settings):
    # The reconciler gives up on a running row after the time limit plus the margin.
    settings.CELERY_TASK_TIME_LIMIT = 6
    settings.TASKBOARD_STALE_MARGIN = 2
    doomed = stack.worker(
        "doomed-plain", concurrency=1, CELERY_TASK_TIME_LIMIT="6", CELERY_TASK_SOFT_TIME_LIMIT="5"
    )
    task = services.task_launch(user=user, name="demo.long", params={"seconds": 30, "steps": 30})
    running(task.pk)
    doomed.kill()
    killed = time.monotonic()
    assert Task.objects.get(pk=task.pk).status == "running"

    def reconciled():
        services.reconcile()
        row = Task.objects.get(pk=task.pk)
        return row if row.is_terminal else None

    row = wait_for(reconciled, timeout=30, interval=0.5, message="the reconciler to mark it lost")
    print(f"\nFIGURE lost worker marked by reconciler in {time.monotonic() - killed:.2f}s")
    assert row.status == "failed"
    assert row.error_type == "Lost"
    assert row.error_message.startswith("lost:")


def test_run_longer_than_visibility_timeout_runs_once(stack):
    # Redis puts an unacked message back after the visibility timeout even when
    # its run is alive; the redeliverable base drops the copy.
    worker = stack.worker(
        "slow", concurrency=3, CELERY_VISIBILITY_TIMEOUT="3", TASKBOARD_RUN_LEASE="2"
    )
    task_id = stack.send_probe("sleep_redeliverable", seconds=10)
    row = finished(task_id, timeout=60)
    worker.stop()
    assert row.status == "completed"
    assert stack.runs(task_id) == 1
    assert "dropping duplicate delivery" in worker.log.read_text()


def test_run_longer_than_visibility_timeout_without_guard_runs_twice(stack):
    # What the guard is for: a plain acks_late task under the same settings.
    worker = stack.worker("slow-plain", concurrency=3, CELERY_VISIBILITY_TIMEOUT="3")
    task_id = stack.send_probe("sleep_acks_late", seconds=8)
    finished(task_id, timeout=60)
    wait_for(lambda: stack.runs(task_id) >= 2, timeout=30, message="a second run")
    worker.stop()
    assert stack.runs(task_id) >= 2
