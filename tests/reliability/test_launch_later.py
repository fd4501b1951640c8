"""Launch later with a real beat (DatabaseScheduler), workers, a private Redis and PostgreSQL.

Beat sends ``taskboard.send_due`` every few seconds (the settings' schedule, stored by
the DatabaseScheduler); a worker runs it and it sends the due rows. "Then Pending" is
seen without racing the worker: the row asks for a queue that no worker reads until
the test starts one on it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from taskboard import services
from taskboard.models import Task
from tests.conftest import BeatProcess, finished, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def beat(stack):
    env = stack.env(TASKBOARD_SEND_DUE_INTERVAL="1")
    process = BeatProcess(env, stack.log_dir / f"beat-{uuid.uuid4().hex[:6]}.log")
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    process.start()
    yield process
    process.stop()


def launch_later(user, seconds: float, queue: str = "") -> Task:
    run_at = timezone.now() + timedelta(seconds=seconds)
    task = services.task_launch(
        user=user, name="demo.quick", params={"x": 2, "y": 3}, run_at=run_at
    )
    if queue:
        Task.objects.filter(pk=task.pk).update(queue=queue)
    task.refresh_from_db()
    return task


def status_of(task: Task) -> str:
    return Task.objects.values_list("status", flat=True).get(pk=task.pk)


def test_in_five_seconds_is_scheduled_then_pending_then_runs(stack, beat, user):
    stack.worker("sender", concurrency=1)
    held = f"{stack.queue}-held"
    task = launch_later(user, seconds=5, queue=held)
    assert status_of(task) == "scheduled"

    # Sent by beat's send_due when due, to a queue nobody reads yet: it waits, Pending.
    wait_for(lambda: status_of(task) == "pending", timeout=60, message="send_due to send it")
    stack.worker("runner", concurrency=1, CELERY_TASK_DEFAULT_QUEUE=held)

    done = finished(task.pk, timeout=60)
    assert (done.status, done.result) == ("completed", 5)
    # Sent under its own id: one row, and it ran after it was due.
    assert Task.objects.count() == 1
    assert done.started_at >= done.run_at


def test_restarting_the_worker_beat_and_redis_while_scheduled_loses_nothing(stack, beat, user):
    worker = stack.worker("before", concurrency=1)
    task = launch_later(user, seconds=3600)

    worker.kill()
    beat.stop()
    stack.redis.restart()  # empty: whatever Redis held is gone
    beat.start()
    stack.worker("after", concurrency=1)
    assert status_of(task) == "scheduled"

    # Its time comes (moved forward rather than waited for): the new processes send it.
    Task.objects.filter(pk=task.pk).update(run_at=timezone.now())
    done = finished(task.pk, timeout=60)
    assert (done.status, done.result) == ("completed", 5)
    assert "Traceback" not in beat.log.read_text()


def test_a_send_the_broker_refuses_stays_scheduled_until_it_succeeds(stack, user):
    task = launch_later(user, seconds=3600)
    Task.objects.filter(pk=task.pk).update(run_at=timezone.now())
    stack.redis.kill()

    assert services.send_due() == {"sent": 0, "waiting": 1}
    assert status_of(task) == "scheduled"

    stack.redis.start()
    assert services.send_due() == {"sent": 1, "waiting": 0}
    assert status_of(task) == "pending"
    stack.worker("late", concurrency=1)
    assert finished(task.pk, timeout=60).status == "completed"
