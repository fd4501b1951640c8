"""The held-back "running" write: merged into a short task's end, written for a long one."""

from __future__ import annotations

import threading
import uuid

import pytest
from celery import current_app
from celery import signals as celery_signals
from django.db import connection

from taskboard import services
from taskboard.models import Task
from taskboard.worker import signals as tracking
from taskboard.worker.batching import BatchedWrites, HeldStarts
from tasks.tasks import quick
from tests.conftest import wait_for


@pytest.fixture(autouse=True)
def _completions_at_once(monkeypatch):
    """Write each "completed" at once here; batching is tested in test_batched_writes.py."""
    monkeypatch.setattr(tracking, "batched", BatchedWrites(0, tracking._write_completions))


def _start(task_id, **extra) -> dict:
    from django.utils import timezone

    return {
        "task_id": task_id,
        "name": "demo.quick",
        "args": [1, 2],
        "kwargs": {},
        "worker": "w1@host",
        "retries": 0,
        "queue": "q",
        "started_at": timezone.now(),
        **extra,
    }


# --- HeldStarts alone (no database) ------------------------------------------


def test_held_start_taken_before_due_is_not_written():
    written = []
    held = HeldStarts(3600, written.append)
    held.hold("a", {"task_id": "a"})
    assert held.take("a") == {"task_id": "a"}
    assert held.pending() == 0
    assert written == []


def test_held_start_due_is_written_once_and_not_taken():
    written = []
    held = HeldStarts(0, written.append)
    held.hold("a", {"task_id": "a"})
    wait_for(lambda: held.pending() == 0, message="the start to be written")
    assert held.take("a") is None
    assert written == [{"task_id": "a"}]


def test_held_start_take_without_hold_is_none():
    held = HeldStarts(3600, lambda start: None)
    assert held.take("nothing") is None


def test_held_start_take_waits_for_write_in_flight():
    entered, release, order = threading.Event(), threading.Event(), []

    def slow_write(start):
        entered.set()
        release.wait()
        order.append("start written")

    held = HeldStarts(0, slow_write)
    held.hold("a", {"task_id": "a"})
    entered.wait()
    taker = threading.Thread(target=lambda: order.append(("taken", held.take("a"))))
    taker.start()
    release.set()
    taker.join()
    assert order == ["start written", ("taken", None)]


def test_held_start_failing_write_keeps_thread_alive():
    written = []

    def write(start):
        if start["task_id"] == "bad":
            raise RuntimeError("boom")
        written.append(start)

    held = HeldStarts(0, write)
    held.hold("bad", {"task_id": "bad"})
    held.hold("good", {"task_id": "good"})
    wait_for(lambda: held.pending() == 0, message="both starts handled")
    assert written == [{"task_id": "good"}]


# --- merging into the end's UPDATE --------------------------------------------


@pytest.mark.django_db
def test_track_succeeded_with_start_is_one_update(django_assert_num_queries):
    task = Task.objects.create(name="demo.quick")
    start = _start(task.pk)
    with django_assert_num_queries(1):
        services.track_succeeded(task_id=task.pk, result=3, start=start)
    row = Task.objects.get(pk=task.pk)
    assert (row.status, row.worker, row.attempts, row.result) == ("completed", "w1@host", 1, 3)
    assert row.started_at == start["started_at"]
    assert row.version == task.version + 1


@pytest.mark.django_db
def test_track_failed_with_start_records_start_and_error():
    task = Task.objects.create(name="demo.quick")
    start = _start(task.pk, retries=2)
    services.track_failed(task_id=task.pk, exception=ValueError("bad"), traceback="tb", start=start)
    row = Task.objects.get(pk=task.pk)
    assert (row.status, row.worker, row.attempts, row.error_type) == (
        "failed",
        "w1@host",
        3,
        "ValueError",
    )
    assert row.started_at == start["started_at"]


@pytest.mark.django_db
def test_track_succeeded_with_start_creates_missing_row():
    task_id = uuid.uuid4()
    services.track_succeeded(task_id=task_id, result=3, start=_start(task_id))
    row = Task.objects.get(pk=task_id)
    assert (row.status, row.worker, row.result) == ("completed", "w1@host", 3)


@pytest.mark.django_db
def test_track_succeeded_with_start_leaves_cancelled_row():
    task = Task.objects.create(name="demo.quick", status="cancelled")
    services.track_succeeded(task_id=task.pk, result=3, start=_start(task.pk))
    row = Task.objects.get(pk=task.pk)
    assert (row.status, row.worker, row.version) == ("cancelled", "", task.version)


# --- the signal handlers --------------------------------------------------------


def _run_signals(task_id, *outcome) -> None:
    """Send prerun, the ``outcome`` signals and postrun for ``task_id`` as a worker would."""
    quick.push_request(id=str(task_id), hostname="w1@host", retries=0, delivery_info={})
    try:
        celery_signals.task_prerun.send(
            sender=quick, task_id=str(task_id), task=quick, args=(1, 2), kwargs={}
        )
        for send in outcome:
            send()
        celery_signals.task_postrun.send(sender=quick, task_id=str(task_id), task=quick)
    finally:
        quick.pop_request()


@pytest.mark.django_db
def test_short_task_writes_start_and_end_in_one_query(django_assert_num_queries):
    task = Task.objects.create(name="demo.quick")
    with django_assert_num_queries(1):
        _run_signals(task.pk, lambda: celery_signals.task_success.send(sender=quick, result=3))
    row = Task.objects.get(pk=task.pk)
    assert (row.status, row.worker, row.attempts) == ("completed", "w1@host", 1)
    assert row.started_at is not None
    assert tracking.held_starts.pending() == 0


@pytest.mark.django_db
def test_retry_writes_held_start_before_retrying():
    task = Task.objects.create(name="demo.quick")

    def retry():
        celery_signals.task_retry.send(sender=quick, request=quick.request, reason="again")

    _run_signals(task.pk, retry)
    row = Task.objects.get(pk=task.pk)
    # The attempt that failed is still the only one that started.
    assert (row.status, row.worker, row.attempts) == ("running", "w1@host", 1)
    assert row.error_message == "Retrying: again"


@pytest.mark.django_db
def test_run_without_outcome_writes_held_start_at_postrun():
    task = Task.objects.create(name="demo.quick")
    _run_signals(task.pk)
    row = Task.objects.get(pk=task.pk)
    assert (row.status, row.worker) == ("running", "w1@host")
    assert tracking.held_starts.pending() == 0


@pytest.mark.django_db(transaction=True)
def test_long_task_start_is_written_while_it_runs(monkeypatch):
    def write_and_close(start):
        tracking._write_held_start(start)
        connection.close()  # this thread's connection, so the test database can go

    monkeypatch.setattr(tracking, "held_starts", HeldStarts(0.05, write_and_close))
    task = Task.objects.create(name="demo.long")
    quick.push_request(id=str(task.pk), hostname="w1@host", retries=0, delivery_info={})
    try:
        celery_signals.task_prerun.send(
            sender=quick, task_id=str(task.pk), task=quick, args=(), kwargs={}
        )
        running = wait_for(
            lambda: Task.objects.filter(pk=task.pk, status="running").first(),
            message="the held start to be written",
        )
        celery_signals.task_success.send(sender=quick, result=3)
    finally:
        quick.pop_request()
    row = Task.objects.get(pk=task.pk)
    assert running.worker == "w1@host"
    assert (row.status, row.started_at, row.version) == (
        "completed",
        running.started_at,
        task.version + 2,
    )


@pytest.mark.django_db
def test_cancel_of_pending_row_already_started_asks_it_to_stop(staff_user):
    task = Task.objects.create(name="demo.quick", owner=staff_user)
    current_app.backend.store_result(str(task.pk), None, "STARTED")
    try:
        cancelled = services.task_cancel(task=task, user=staff_user)
    finally:
        current_app.backend.forget(str(task.pk))
    row = Task.objects.get(pk=task.pk)
    assert cancelled is False
    assert (row.status, row.cancel_requested) == ("pending", True)
