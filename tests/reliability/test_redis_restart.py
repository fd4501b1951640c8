"""Fault 3: Redis goes away and comes back empty (no persistence) with tasks queued and running."""

from __future__ import annotations

import time

import pytest
from celery import current_app

from taskboard import services
from taskboard.live import badges_for
from taskboard.models import Task
from tests.conftest import finished, wait_for
from tests.reliability.conftest import running

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def quick(user, x: int = 2) -> Task:
    return services.task_launch(user=user, name="demo.quick", params={"x": x, "y": 3})


def test_redis_down_web_answers_from_database(stack, user, client):
    stack.worker("before-outage", concurrency=1)
    done = finished(quick(user).pk)
    stack.redis.kill()
    client.force_login(user)

    assert client.get("/tasks/").status_code == 200
    assert client.get(f"/tasks/{done.pk}/").status_code == 200
    assert badges_for([done])[0][str(done.pk)].status == "completed"


def test_redis_down_live_state_reads_unavailable(stack, user):
    task = services.task_launch(user=user, name="demo.quick", params={"x": 1, "y": 1})
    stack.redis.kill()

    badges, available = badges_for([task])

    assert available is False
    assert badges[str(task.pk)].status == "pending"


def test_redis_down_launch_fails_clearly_without_row(stack, user):
    stack.redis.kill()
    started = time.monotonic()

    with pytest.raises(services.LaunchUnavailable, match="nothing was launched"):
        quick(user)

    print(f"\nFIGURE launch refused after {time.monotonic() - started:.2f}s with Redis down")
    assert not Task.objects.exists()


@pytest.mark.parametrize("stack", ["redis", "amqp"], indirect=True)
def test_redis_restart_workers_go_on_and_lost_tasks_are_reconciled(stack, user, settings):
    worker = stack.worker("restart", concurrency=1)
    done = finished(quick(user, x=10).pk)
    # A task running through the restart, and three queued behind it.
    runner = stack.send_probe("sleep", seconds=6)
    running(runner)
    queued = [quick(user, x=i).pk for i in range(3)]

    stack.redis.restart()

    after = finished(quick(user, x=100).pk, timeout=60)
    assert after.status == "completed"
    assert after.result == 103
    assert finished(runner, timeout=30).status == "completed"
    # Whatever is still pending now was lost with the queue; the reconciler finds it.
    settings.TASKBOARD_PENDING_STALE_AFTER = 0
    time.sleep(2)  # let any queued task the worker had kept in memory finish first
    services.reconcile()
    rows = {row.pk: row for row in Task.objects.filter(pk__in=queued)}
    assert all(row.is_terminal for row in rows.values())
    lost = [row for row in rows.values() if row.error_type == "Lost"]
    if stack.broker == "redis":
        assert lost, "the Redis queue was emptied, yet no queued task was found lost"
        assert all(row.status == "failed" for row in lost)
    else:
        assert not lost  # RabbitMQ kept the queue: they all ran
        assert {row.status for row in rows.values()} == {"completed"}
    retried = services.task_retry(user=user, task=lost[0]) if lost else None
    if retried is not None:
        assert finished(retried.pk).status == "completed"
    kept = Task.objects.get(pk=done.pk)
    assert (kept.status, kept.result, kept.version) == ("completed", 13, done.version)
    worker.stop()


@pytest.mark.parametrize("stack", ["redis", "amqp"], indirect=True)
def test_redis_blip_under_a_task_reporting_progress_lets_it_complete(stack):
    stack.worker("blip", concurrency=1)
    task_id = stack.send_probe("progress", steps=40, pause=0.25)
    running(task_id)
    wait_for(
        lambda: current_app.AsyncResult(task_id).state == "PROGRESS",
        message="the task to report progress",
    )

    stack.redis.kill()
    time.sleep(3)  # progress reports and cancel checks meet a dead result backend
    stack.redis.start()

    row = finished(task_id, timeout=60)
    assert (row.status, row.error_type) == ("completed", "")
    assert row.result == {"steps": 40}
