"""The reconciler converges from whatever the result backend holds, one row never stops it.

Failures are stored with Celery's own backend calls on the real Redis and read back
through ``live_metas``, the decoding the reconciler uses: never a hand-made dict.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import current_app
from celery.exceptions import NotRegistered
from celery.utils.serialization import get_pickleable_exception
from django.utils import timezone

from taskboard import services, states
from taskboard.live import live_metas
from taskboard.models import Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


class ApiError(Exception):
    """An exception whose ``__init__`` takes other arguments than it stores."""

    def __init__(self, status: int, reason: str):
        super().__init__(f"{status} {reason}")


def unimportable_failure(message: str) -> Exception:
    """Return an exception of a class whose module no process here can import."""
    cls = type("ProbeFailure", (Exception,), {"__module__": "worker_only.errors"})
    return cls(message)


def stale_running(**fields) -> Task:
    started = timezone.now() - timedelta(days=1)
    return Task.objects.create(
        name="demo.long", status="running", started_at=started, created_at=started, **fields
    )


def store_failure(task: Task, exc: BaseException) -> None:
    current_app.backend.mark_as_failure(str(task.pk), exc, traceback="Traceback: here")


def reconcile_now() -> dict[str, int]:
    return services.reconcile(now=timezone.now() + timedelta(days=2))


def test_failure_of_a_class_beat_cannot_import_is_converged_with_its_real_name():
    task = stale_running()
    store_failure(task, unimportable_failure("probe broke"))
    meta = live_metas([task.pk])[str(task.pk)]
    assert not isinstance(meta["result"], dict)  # what broke the reconciler before

    counts = reconcile_now()

    task.refresh_from_db()
    assert counts["failed"] == 1
    assert (task.status, task.error_type, task.error_message) == (
        "failed",
        "ProbeFailure",
        "probe broke",
    )
    assert task.traceback == "Traceback: here"


def test_not_registered_failure_is_converged():
    task = Task.objects.create(name="not.deployed", created_at=timezone.now() - timedelta(days=1))
    store_failure(task, NotRegistered("not.deployed"))

    reconcile_now()

    task.refresh_from_db()
    assert (task.status, task.error_type) == ("failed", "NotRegistered")
    assert "not.deployed" in task.error_message


def test_unpicklable_exception_is_recorded_under_its_own_class_name():
    # What a worker hands over for ApiError(503, "busy"): Celery's wrapper.
    wrapped = get_pickleable_exception(ApiError(503, "busy"))
    assert type(wrapped).__name__ == "UnpickleableExceptionWrapper"
    live, lost_write = stale_running(), stale_running()
    services.track_failed(task_id=live.pk, exception=wrapped, traceback="tb")
    store_failure(lost_write, wrapped)

    reconcile_now()

    for task in (live, lost_write):
        task.refresh_from_db()
        assert (task.status, task.error_type) == ("failed", "ApiError")
        assert "503 busy" in task.error_message


def test_unreadable_result_of_one_row_leaves_the_others_read():
    garbage, fine = stale_running(), stale_running()
    backend = current_app.backend
    backend.set(backend.get_key_for_task(str(garbage.pk)), b"\xff not json")
    backend.mark_as_done(str(fine.pk), {"ok": 1})

    metas = live_metas([garbage.pk, fine.pk])

    assert metas[str(garbage.pk)] is None
    assert metas[str(fine.pk)]["status"] == "SUCCESS"


def test_one_row_that_cannot_be_written_does_not_stop_the_batch(monkeypatch):
    poison, lost, done = stale_running(), stale_running(), stale_running()
    current_app.backend.mark_as_done(str(done.pk), 7)
    transition = states.transition

    def failing_for_poison(task_id, *args, **kwargs):
        if str(task_id) == str(poison.pk):
            raise RuntimeError("poison row")
        return transition(task_id, *args, **kwargs)

    monkeypatch.setattr(states, "transition", failing_for_poison)

    counts = reconcile_now()

    assert counts["skipped"] == 1
    assert counts["lost"] == 1
    assert counts["completed"] == 1
    assert Task.objects.get(pk=poison.pk).status == "running"  # tried again next run
    assert Task.objects.get(pk=lost.pk).error_type == "Lost"
    assert Task.objects.get(pk=done.pk).result == 7


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({"exc_type": "ValueError", "exc_message": ["bad", 3]}, ("ValueError", "bad 3")),
        ("plain text", ("Error", "plain text")),
        (None, ("Error", "")),
    ],
)
def test_failure_fields_of_foreign_shapes(stored, expected):
    fields = services.failure_fields(stored)
    assert (fields["error_type"], fields["error_message"]) == expected
