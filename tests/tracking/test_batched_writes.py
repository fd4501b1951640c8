"""Batched "completed" writes: queued by a pool process, written together, never dropped."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from celery import current_app
from celery import signals as celery_signals
from django.db import OperationalError
from django.utils import timezone

from taskboard import services, states
from taskboard.models import Task
from taskboard.worker import signals as tracking
from taskboard.worker import tracking as writes
from taskboard.worker.batching import BatchedWrites
from tasks.tasks import quick
from tests.conftest import WorkerProcess, wait_for, worker_env
from tests.tracking.test_tracking import _start

HOUR = 3600


def _done(task_id, result=3, start=None) -> services.Completion:
    return services.completion(task_id=task_id, result=result, start=start)


# --- BatchedWrites alone (no database) -------------------------------------------


def test_batch_is_written_by_the_thread_once_due():
    written = []
    batched = BatchedWrites(0.01, written.append)
    batched.put("a", 1)
    wait_for(lambda: batched.pending() == 0, message="the batch to be written")
    assert written == [[1]]


def test_full_queue_is_written_at_once_in_one_batch():
    written = []
    batched = BatchedWrites(HOUR, written.append, size=3)
    for key in "abc":
        batched.put(key, key)
    wait_for(lambda: batched.pending() == 0, message="the full batch to be written")
    assert written == [["a", "b", "c"]]


def test_flush_writes_everything_queued_in_order():
    written = []
    batched = BatchedWrites(HOUR, written.append)
    for key in "cab":
        batched.put(key, key)
    batched.flush()
    assert written == [["c", "a", "b"]]
    assert batched.pending() == 0


def test_flush_of_a_key_writes_only_when_that_row_waits():
    written = []
    batched = BatchedWrites(HOUR, written.append)
    batched.put("a", 1)
    batched.flush("other")
    assert written == []
    batched.flush("a")
    assert written == [[1]]


def test_second_write_of_a_row_comes_after_the_first():
    written = []
    batched = BatchedWrites(HOUR, written.append)
    batched.put("a", "first")
    batched.put("a", "second")
    batched.flush()
    assert written == [["first"], ["second"]]


def test_flush_of_a_key_waits_for_its_batch_in_flight():
    entered, release, order = threading.Event(), threading.Event(), []

    def slow_write(batch):
        entered.set()
        release.wait()
        order.append(batch)

    batched = BatchedWrites(0, slow_write)
    batched.put("a", 1)
    entered.wait()
    flusher = threading.Thread(target=lambda: (batched.flush("a"), order.append("flushed")))
    flusher.start()
    release.set()
    flusher.join()
    assert order == [[1], "flushed"]


def test_failing_batch_keeps_the_thread_alive():
    written = []

    def write(batch):
        if batch == ["bad"]:
            raise RuntimeError("boom")
        written.append(batch)

    batched = BatchedWrites(0, write)
    batched.put("bad", "bad")
    wait_for(lambda: batched.pending() == 0, message="the bad batch to be handled")
    batched.put("good", "good")
    wait_for(lambda: batched.pending() == 0, message="the good batch to be written")
    assert written == [["good"]]


# --- one transaction, mostly one UPDATE ------------------------------------------


@pytest.mark.django_db
def test_two_tasks_in_one_update(django_assert_num_queries):
    one, two = (Task.objects.create(name="demo.quick", status="running") for _ in range(2))
    # SAVEPOINT, the UPDATE, RELEASE (a transaction of its own outside the test's)
    with django_assert_num_queries(3):
        services.track_succeeded_many(completions=[_done(one.pk, 1), _done(two.pk, {"b": 2})])
    rows = {row.pk: row for row in Task.objects.filter(pk__in=[one.pk, two.pk])}
    assert (rows[one.pk].status, rows[one.pk].result, rows[one.pk].version) == ("completed", 1, 2)
    assert (rows[two.pk].status, rows[two.pk].result, rows[two.pk].version) == (
        "completed",
        {"b": 2},
        2,
    )
    assert rows[one.pk].finished_at is not None


@pytest.mark.django_db
def test_start_and_end_in_one_batch(django_assert_num_queries):
    task = Task.objects.create(name="demo.quick")
    start = _start(task.pk, retries=1)
    done = _done(task.pk, start=start)
    with django_assert_num_queries(3):
        services.track_succeeded_many(completions=[done])
    row = Task.objects.get(pk=task.pk)
    assert (row.status, row.worker, row.attempts, row.version) == ("completed", "w1@host", 2, 2)
    assert row.started_at == start["started_at"]
    assert row.finished_at == done.fields["finished_at"]


@pytest.mark.django_db
def test_batch_with_and_without_start_is_one_update_each(django_assert_num_queries):
    running = Task.objects.create(name="demo.long", status="running", worker="w0")
    short = Task.objects.create(name="demo.quick")
    with django_assert_num_queries(4):
        services.track_succeeded_many(
            completions=[_done(running.pk), _done(short.pk, start=_start(short.pk))]
        )
    rows = {row.pk: row for row in Task.objects.filter(pk__in=[running.pk, short.pk])}
    assert (rows[running.pk].status, rows[running.pk].worker) == ("completed", "w0")
    assert (rows[short.pk].status, rows[short.pk].worker) == ("completed", "w1@host")


@pytest.mark.django_db
def test_batch_never_regresses_a_stronger_state():
    cancelled = Task.objects.create(name="demo.quick", status="cancelled")
    failed = Task.objects.create(name="demo.quick", status="failed", error_type="Lost")
    moving = Task.objects.create(name="demo.quick", status="running")
    services.track_succeeded_many(
        completions=[
            _done(cancelled.pk, start=_start(cancelled.pk)),
            _done(failed.pk),
            _done(moving.pk),
        ]
    )
    rows = {row.pk: row for row in Task.objects.all()}
    assert (rows[cancelled.pk].status, rows[cancelled.pk].worker) == ("cancelled", "")
    assert (rows[failed.pk].status, rows[failed.pk].result) == ("failed", None)
    assert rows[cancelled.pk].version == rows[failed.pk].version == 1
    assert rows[moving.pk].status == "completed"


@pytest.mark.django_db
def test_batch_creates_a_row_nobody_recorded():
    task_id = uuid.uuid4()
    services.track_succeeded_many(completions=[_done(task_id, start=_start(task_id))])
    row = Task.objects.get(pk=task_id)
    assert (row.status, row.worker, row.result) == ("completed", "w1@host", 3)


@pytest.mark.django_db
def test_transition_many_moves_only_from_allowed_states():
    rows = {
        status: Task.objects.create(name="t", status=status)
        for status in ("pending", "running", "completed", "failed", "cancelled")
    }
    moved = states.transition_many(
        "failed", [(task.pk, {"error_message": "x"}) for task in rows.values()]
    )
    assert moved == {str(rows["pending"].pk), str(rows["running"].pk)}
    after = {task.pk: task for task in Task.objects.all()}
    for status, task in rows.items():
        expected = "failed" if status in ("pending", "running") else status
        assert after[task.pk].status == expected


# --- the writer of a pool process: retried, one bad row isolated -------------------


@pytest.mark.django_db(transaction=True)
def test_failed_flush_is_retried(monkeypatch):
    monkeypatch.setattr(tracking, "DB_RETRY_DELAYS", (0, 0))
    one, two = (Task.objects.create(name="demo.quick", status="running") for _ in range(2))
    real, calls = services.track_succeeded_many, []

    def flaky(**kwargs):
        calls.append(len(kwargs["completions"]))
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        real(**kwargs)

    monkeypatch.setattr(writes, "track_succeeded_many", flaky)
    tracking._write_completions([_done(one.pk), _done(two.pk)])
    assert calls == [2, 2]
    assert set(Task.objects.values_list("status", flat=True)) == {"completed"}


@pytest.mark.django_db(transaction=True)
def test_batch_refused_for_one_row_writes_the_others():
    good = Task.objects.create(name="demo.quick", status="running")
    bad = services.Completion("not-a-task-id", {"result": 1})
    tracking._write_completions([_done(good.pk), bad])
    assert Task.objects.get(pk=good.pk).status == "completed"


# --- the signal handlers ------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """Queue "completed" writes until flushed (no thread writes them meanwhile)."""
    batched = BatchedWrites(HOUR, tracking._write_completions)
    monkeypatch.setattr(tracking, "batched", batched)
    return batched


def _run_signals(task, task_id, *outcome) -> None:
    """Send prerun, the ``outcome`` signals and postrun for ``task_id`` as a worker would."""
    task.push_request(id=str(task_id), hostname="w1@host", retries=0, delivery_info={})
    try:
        celery_signals.task_prerun.send(
            sender=task, task_id=str(task_id), task=task, args=(1, 2), kwargs={}
        )
        for send in outcome:
            send()
        celery_signals.task_postrun.send(sender=task, task_id=str(task_id), task=task)
    finally:
        task.pop_request()


def _succeed(task=quick, result=3):
    return lambda: celery_signals.task_success.send(sender=task, result=result)


# Transactional: the writer checks its connection first, which closes one inside a
# test's transaction.
@pytest.mark.django_db(transaction=True)
def test_task_end_is_queued_and_written_at_shutdown(queued, django_assert_num_queries):
    one, two = (Task.objects.create(name="demo.quick") for _ in range(2))
    with django_assert_num_queries(0):
        _run_signals(quick, one.pk, _succeed(result=1))
        _run_signals(quick, two.pk, _succeed(result=2))
    assert queued.pending() == 2
    assert set(Task.objects.values_list("status", flat=True)) == {"pending"}
    celery_signals.worker_process_shutdown.send(sender=None, pid=0, exitcode=0)
    rows = {row.pk: row for row in Task.objects.all()}
    assert (rows[one.pk].status, rows[one.pk].result, rows[one.pk].worker) == (
        "completed",
        1,
        "w1@host",
    )
    assert (rows[two.pk].status, rows[two.pk].result) == ("completed", 2)
    assert queued.pending() == 0


@pytest.mark.django_db(transaction=True)
def test_later_write_of_a_queued_row_comes_after_it(queued):
    task = Task.objects.create(name="demo.quick")

    def revoke():
        celery_signals.task_revoked.send(sender=quick, request=quick.request, terminated=True)

    _run_signals(quick, task.pk, _succeed(), revoke)
    row = Task.objects.get(pk=task.pk)
    assert (row.status, row.result) == ("completed", 3)
    assert queued.pending() == 0


# A redeliverable task's copy waiting for the run lease reads the row as soon as the
# lease is given up; a result that is not stored could not be reconciled.
@pytest.mark.parametrize("attribute", ["exclusive_run", "ignore_result"])
@pytest.mark.django_db
def test_end_is_written_at_once_when_it_cannot_wait(queued, monkeypatch, attribute):
    monkeypatch.setattr(quick, attribute, True, raising=False)
    monkeypatch.setattr(tracking, "_duplicate_run", lambda task, task_id: False)
    task = Task.objects.create(name="demo.quick")
    _run_signals(quick, task.pk, _succeed())
    assert Task.objects.get(pk=task.pk).status == "completed"
    assert queued.pending() == 0


@pytest.mark.django_db
def test_cancel_of_pending_row_whose_end_is_queued_does_not_cancel_it(staff_user, revokes):
    # Finished in the result backend, its "completed" write still in a worker's queue.
    task = Task.objects.create(name="demo.quick", owner=staff_user)
    current_app.backend.store_result(str(task.pk), 3, "SUCCESS")
    try:
        cancelled = services.task_cancel(task=task, user=staff_user)
    finally:
        current_app.backend.forget(str(task.pk))
    assert cancelled is False
    assert Task.objects.get(pk=task.pk).status == "pending"
    services.track_succeeded_many(completions=[_done(task.pk)])
    assert Task.objects.get(pk=task.pk).status == "completed"


# --- a real worker: queued writes at a warm shutdown and after a SIGKILL -----------


def _batching_worker(tmp_path, name: str, **settings: str) -> tuple[WorkerProcess, str]:
    queue = f"batched-{uuid.uuid4().hex[:8]}"
    env = worker_env(
        CELERY_TASK_DEFAULT_QUEUE=queue, TASKBOARD_TRACKING_BATCH_INTERVAL=str(HOUR), **settings
    )
    worker = WorkerProcess(env, tmp_path / f"{name}.log", f"{name}-{uuid.uuid4().hex[:6]}@%h")
    return worker.start(), queue


def _stored(task_id) -> dict:
    """Wait for the result backend to hold the task's result; return its meta."""
    backend = current_app.backend
    return wait_for(
        lambda: (
            backend.get_task_meta(task_id).get("status") == "SUCCESS"
            and backend.get_task_meta(task_id)
        ),
        message=f"the result of {task_id}",
    )


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_warm_shutdown_writes_the_queued_ends(tmp_path):
    worker, queue = _batching_worker(tmp_path, "warm")
    try:
        ids = [quick.apply_async((i, 1), queue=queue).id for i in range(3)]
        for task_id in ids:
            _stored(task_id)
        assert set(Task.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"pending"}
    finally:
        worker.stop()
    rows = Task.objects.filter(pk__in=ids)
    assert sorted((row.status, row.result) for row in rows) == [
        ("completed", 1),
        ("completed", 2),
        ("completed", 3),
    ]
    assert all(row.worker.startswith("warm-") for row in rows)


# The start held back and lost with the end (row pending), or written (row running).
@pytest.mark.parametrize("start_delay,left", [("0.25", "pending"), ("0", "running")])
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_queued_end_of_a_killed_worker_is_converged_by_the_reconciler(tmp_path, start_delay, left):
    worker, queue = _batching_worker(tmp_path, "killed", TASKBOARD_RUNNING_WRITE_DELAY=start_delay)
    try:
        task_id = quick.apply_async((20, 22), queue=queue).id
        _stored(task_id)
        wait_for(lambda: Task.objects.get(pk=task_id).status == left, message=f"a {left} row")
    finally:
        worker.kill()
    assert Task.objects.get(pk=task_id).status == left  # its end died with it
    counts = services.reconcile(now=timezone.now() + timedelta(days=1))
    row = Task.objects.get(pk=task_id)
    assert counts["completed"] == 1
    assert (row.status, row.result) == ("completed", 42)
