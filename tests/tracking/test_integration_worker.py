"""A real Celery worker on real Redis and PostgreSQL runs every built-in task.

Each test launches through the same service the web app uses and waits for the
row the tracking signals write; nothing here is mocked or eager.
"""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest
from celery import current_app
from celery.result import AsyncResult
from django.utils import timezone

from taskboard import services
from taskboard.live import badges_for
from taskboard.maintenance import export_path
from taskboard.models import Task
from tasks.tasks import quick
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def finished(task_id, timeout: float = 30) -> Task:
    """Wait until the row is terminal and return it."""

    def check():
        row = Task.objects.filter(pk=task_id).first()
        return row if row and row.is_terminal else None

    return wait_for(check, timeout=timeout, message=f"task {task_id} to finish")


def test_quick_task_completes_with_result_and_timings(celery_worker, user):
    task = services.task_launch(user=user, name="demo.quick", params={"x": 2, "y": 40})
    row = finished(task.pk)
    assert row.status == "completed"
    assert row.result == 42
    assert row.owner == user
    assert row.created_at <= row.started_at <= row.finished_at
    assert row.worker.startswith("session-")
    assert row.attempts == 1
    # created, then running and completed: one UPDATE when the task ends within
    # TASKBOARD_RUNNING_WRITE_DELAY (taskboard/worker/batching.py)
    assert row.version >= 2


def test_failing_task_records_error_and_traceback(celery_worker, user):
    task = services.task_launch(user=user, name="demo.fail", params={"message": "boom"})
    row = finished(task.pk)
    assert row.status == "failed"
    assert row.error_type == "DemoFailure"
    assert "boom" in row.error_message
    assert "Traceback" in row.traceback
    assert "raise_failure" in row.traceback
    assert row.finished_at is not None


def test_flaky_task_retries_then_completes(celery_worker, user):
    task = services.task_launch(user=user, name="demo.flaky", params={"failures": 2})
    row = finished(task.pk)
    assert row.status == "completed"
    assert row.result == {"attempts": 3}
    assert row.attempts == 3
    assert row.error_message == ""


def test_flaky_badge_never_names_an_attempt_that_has_not_started(celery_worker, user):
    task = services.task_launch(user=user, name="demo.flaky", params={"failures": 3})
    named: list[tuple[int, int]] = []

    def watch():
        row = Task.objects.get(pk=task.pk)
        shown = badges_for([row])[0][str(row.pk)]
        if shown.detail.startswith("retrying"):
            named.append((int(shown.detail.split()[2]), row.attempts))
        return row if row.is_terminal else None

    row = wait_for(watch, timeout=60, interval=0.05, message="the flaky task to finish")
    assert (row.status, row.result, row.attempts) == ("completed", {"attempts": 4}, 4)
    assert named, "the retrying badge was never seen"
    assert all(attempt <= started for attempt, started in named)
    assert max(attempt for attempt, _ in named) == 3


def test_long_task_reports_progress_through_asyncresult(celery_worker, user):
    task = services.task_launch(user=user, name="demo.long", params={"seconds": 4, "steps": 8})
    result = AsyncResult(str(task.pk), app=current_app)
    seen = wait_for(
        lambda: result.state == "PROGRESS" and result.info.get("current", 0) > 0 and result.info,
        timeout=20,
        message="PROGRESS meta",
    )
    assert seen["total"] == 8
    assert "step" in seen["message"]
    running = Task.objects.get(pk=task.pk)
    assert running.status == "running"
    assert running.result is None  # progress never goes to the database
    row = finished(task.pk)
    assert row.status == "completed"
    assert row.result == {"seconds": 4, "steps": 8}


def test_plain_delay_outside_the_registry_gets_a_row(celery_worker):
    async_result = quick.delay(5, 6)
    row = finished(async_result.id)
    assert row.name == "demo.quick"
    assert row.owner is None
    assert row.args == [5, 6]
    assert row.result == 11


def test_task_whose_send_was_not_seen_is_created_by_prerun(celery_worker):
    # The tracked header makes the publish handler skip, as for a message sent by
    # a process that does not load Django: the worker's prerun creates the row.
    task_id = "6f1d2c1e-0000-4000-8000-000000000001"
    current_app.send_task(
        "demo.quick",
        args=[1, 1],
        task_id=task_id,
        headers={services.TRACKED_HEADER: True},
    )
    row = finished(task_id)
    assert row.status == "completed"
    assert row.result == 2


def test_export_csv_writes_the_users_tasks(celery_worker, user, other_user):
    Task.objects.create(name="mine", status="completed", owner=user)
    Task.objects.create(name="theirs", status="completed", owner=other_user)
    task = services.task_launch(user=user, name="taskboard.export_csv", params={"days": 1})
    row = finished(task.pk)
    assert row.status == "completed", row.traceback
    assert row.result["file"] == f"tasks-{timezone.localdate().isoformat()}.csv"
    with open(export_path(task.pk), newline="") as handle:
        names = [line["name"] for line in csv.DictReader(handle)]
    assert "mine" in names
    assert "theirs" not in names
    assert row.result["rows"] == len(names)


def test_purge_deletes_only_old_finished_rows(celery_worker, staff_user):
    old = timezone.now() - timedelta(days=100)
    for status in ("completed", "failed", "cancelled"):
        Task.objects.create(name="old", status=status, created_at=old)
    kept_running = Task.objects.create(name="old", status="running", created_at=old)
    recent = Task.objects.create(name="recent", status="completed")
    task = services.task_launch(user=staff_user, name="taskboard.purge", params={"days": 90})
    row = finished(task.pk)
    assert row.status == "completed", row.traceback
    assert row.result == {"deleted": 3, "older_than_days": 90}
    assert set(Task.objects.values_list("pk", flat=True)) == {kept_running.pk, recent.pk, task.pk}


def test_cancel_running_task_stops_it_cooperatively(celery_worker, user):
    task = services.task_launch(user=user, name="demo.long", params={"seconds": 30, "steps": 60})
    wait_for(
        lambda: Task.objects.get(pk=task.pk).status == "running", timeout=20, message="running"
    )
    assert services.task_cancel(task=Task.objects.get(pk=task.pk)) is False
    row = finished(task.pk, timeout=15)
    assert row.status == "cancelled"
    assert AsyncResult(str(task.pk), app=current_app).state == "REVOKED"


def test_cancel_pending_task_never_runs(celery_worker, user):
    # Queue behind two long tasks so that this one is still pending when cancelled.
    blockers = [
        services.task_launch(user=user, name="demo.long", params={"seconds": 3, "steps": 3})
        for _ in range(2)
    ]
    task = services.task_launch(user=user, name="demo.quick", params={"x": 1, "y": 1})
    assert services.task_cancel(task=Task.objects.get(pk=task.pk)) is True
    for blocker in blockers:
        finished(blocker.pk)
    wait_for(
        lambda: AsyncResult(str(task.pk), app=current_app).state == "REVOKED",
        timeout=20,
        message="the worker to discard the revoked message",
    )
    row = Task.objects.get(pk=task.pk)
    assert row.status == "cancelled"
    assert row.result is None
    assert row.started_at is None


def test_retry_creates_a_linked_row_that_runs(celery_worker, user):
    task = services.task_launch(user=user, name="demo.fail", params={"message": "again"})
    failed = finished(task.pk)
    retried = services.task_retry(user=user, task=failed)
    assert retried.retry_of_id == failed.pk
    assert retried.kwargs == failed.kwargs
    assert finished(retried.pk).status == "failed"


def test_reconcile_converges_a_row_whose_signal_was_missed(celery_worker, settings):
    settings.TASKBOARD_PENDING_STALE_AFTER = 0
    async_result = quick.delay(20, 22)
    finished(async_result.id)
    # Pretend the success write was lost: the backend still knows the result.
    Task.objects.filter(pk=async_result.id).update(status="pending", result=None)
    counts = services.reconcile()
    row = Task.objects.get(pk=async_result.id)
    assert counts["completed"] == 1
    assert row.status == "completed"
    assert row.result == 42


def test_reconcile_marks_unknown_stale_rows_lost(settings):
    settings.TASKBOARD_PENDING_STALE_AFTER = 60
    stale = Task.objects.create(
        name="ghost", status="pending", created_at=timezone.now() - timedelta(hours=2)
    )
    fresh = Task.objects.create(name="new", status="pending")
    counts = services.reconcile()
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert counts["lost"] == 1
    assert stale.status == "failed"
    assert stale.error_type == "Lost"
    assert fresh.status == "pending"
