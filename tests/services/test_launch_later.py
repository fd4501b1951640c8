"""Launch later: the Scheduled row, its checks, the sender on the real Redis, cancel, send now.

Sent messages are read back from the broker's queue on the real Redis, so "sent once"
counts real messages, never a mock's calls. The rows are sent to a queue of their own
that no worker reads (the session's worker would run them, and record rows for them,
in a later test), emptied after each test.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from taskboard import selectors, services
from taskboard.forms import LaunchLaterForm
from taskboard.live import badge, badges_for
from taskboard.models import AuditLog, Task
from taskboard.worker.reconcile import reconcile
from tests.conftest import QUEUE
from tests.factories import TaskFactory
from tests.services.test_bulk import prepare

pytestmark = pytest.mark.django_db

PARAMS = {"x": "4", "y": "5"}
LATER_QUEUE = f"{QUEUE}-later"


def broker() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


@pytest.fixture(autouse=True)
def _empty_queue():
    yield
    broker().delete(LATER_QUEUE)


def queued_ids() -> list[str]:
    """Return the task ids of the messages waiting in the test queue, oldest first."""
    # Kombu pushes on the left and a worker takes from the right.
    raw = reversed(broker().lrange(LATER_QUEUE, 0, -1))
    return [json.loads(message)["headers"]["id"] for message in raw]


def later(user, minutes: float = 60) -> Task:
    run_at = timezone.now() + timedelta(minutes=minutes)
    task = services.task_launch(user=user, name="demo.quick", params=PARAMS, run_at=run_at)
    Task.objects.filter(pk=task.pk).update(queue=LATER_QUEUE)
    task.refresh_from_db()
    return task


def due(user, seconds_ago: int = 1) -> Task:
    """Return a Scheduled row that became due ``seconds_ago``."""
    task = later(user)
    Task.objects.filter(pk=task.pk).update(run_at=timezone.now() - timedelta(seconds=seconds_ago))
    task.refresh_from_db()
    return task


# --- the launch ---------------------------------------------------------------


def test_a_launch_later_is_a_scheduled_row_and_sends_nothing(
    user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        task = later(user, minutes=30)
    task.refresh_from_db()
    assert task.status == "scheduled"
    assert task.run_at > timezone.now() + timedelta(minutes=29)
    assert task.kwargs == {"x": 4, "y": 5} and task.owner == user
    assert callbacks == []
    assert str(task.pk) not in queued_ids()


@pytest.mark.parametrize(
    ("offset", "message"),
    [(timedelta(seconds=-1), "in the future"), (timedelta(days=366), "at most 365 days")],
)
def test_a_time_in_the_past_or_too_far_ahead_is_refused(user, offset, message):
    with pytest.raises(services.RunAtInvalid, match=message):
        services.task_launch(
            user=user, name="demo.quick", params=PARAMS, run_at=timezone.now() + offset
        )
    assert not Task.objects.exists()


def test_the_furthest_time_ahead_is_a_setting(user, settings):
    settings.TASKBOARD_LAUNCH_LATER_MAX_DAYS = 1
    with pytest.raises(services.RunAtInvalid, match="at most 1 days"):
        later(user, minutes=25 * 60)
    assert later(user, minutes=23 * 60).status == "scheduled"


def test_invalid_params_are_refused_before_anything_is_held_back(user):
    with pytest.raises(services.LaunchInvalid):
        services.task_launch(
            user=user,
            name="demo.long",
            params={"seconds": "-3"},
            run_at=timezone.now() + timedelta(hours=1),
        )
    assert not Task.objects.exists()


def test_a_launch_later_counts_for_the_rate_limit(
    user, settings, django_capture_on_commit_callbacks
):
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 2
    later(user)
    with django_capture_on_commit_callbacks(execute=False):
        services.task_launch(user=user, name="demo.quick", params=PARAMS)
    with pytest.raises(services.RateLimited):
        later(user)
    assert Task.objects.count() == 2


# --- the form -------------------------------------------------------------------


def test_the_form_reads_now_at_and_in():
    assert LaunchLaterForm(data={}).is_valid()
    now_form = LaunchLaterForm(data={"later-when": "now"})
    assert now_form.is_valid() and now_form.cleaned_data["run_at"] is None
    in_form = LaunchLaterForm(data={"later-when": "in", "later-amount": "2", "later-unit": "hours"})
    assert in_form.is_valid(), in_form.errors
    assert abs(in_form.cleaned_data["run_at"] - timezone.now() - timedelta(hours=2)) < timedelta(
        minutes=1
    )
    # datetime-local carries no zone: it is read in the current one (UTC in the tests).
    at = (timezone.localtime() + timedelta(days=2)).replace(second=0, microsecond=0)
    at_form = LaunchLaterForm(data={"later-when": "at", "later-at": at.strftime("%Y-%m-%dT%H:%M")})
    assert at_form.is_valid(), at_form.errors
    assert at_form.cleaned_data["run_at"] == at


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"later-when": "at"}, "at", "Choose the date and time"),
        ({"later-when": "at", "later-at": "2001-01-01T10:00"}, "at", "in the future"),
        ({"later-when": "at", "later-at": "yesterday"}, "at", "valid date/time"),
        ({"later-when": "in"}, "amount", "in how many"),
        ({"later-when": "in", "later-amount": "0"}, "amount", "greater than or equal to 1"),
        ({"later-when": "in", "later-amount": "400", "later-unit": "days"}, "unit", "valid choice"),
        ({"later-when": "in", "later-amount": "9000", "later-unit": "hours"}, "amount", "365 days"),
    ],
)
def test_the_form_says_what_is_wrong(data, field, message):
    form = LaunchLaterForm(data=data)
    assert not form.is_valid()
    assert message in " ".join(form.errors[field])


# --- the sender -----------------------------------------------------------------


def test_send_due_sends_each_due_row_under_its_own_id_and_leaves_the_rest(user):
    first, second = due(user, seconds_ago=20), due(user, seconds_ago=10)
    waiting = later(user, minutes=5)

    assert services.send_due() == {"sent": 2, "waiting": 0}

    rows = {row.pk: row for row in Task.objects.all()}
    assert [rows[t.pk].status for t in (first, second, waiting)] == [
        "pending",
        "pending",
        "scheduled",
    ]
    # Sent as create_and_send sends: the row's id is the message's, oldest due first.
    ids = queued_ids()
    assert [i for i in ids if i in {str(first.pk), str(second.pk)}] == [
        str(first.pk),
        str(second.pk),
    ]
    assert str(waiting.pk) not in ids
    assert rows[first.pk].version == 2
    assert services.send_due() == {"sent": 0, "waiting": 0}


def test_send_due_sends_at_most_a_batch_oldest_first(user, settings):
    settings.TASKBOARD_SEND_DUE_BATCH = 2
    rows = [due(user, seconds_ago=30 - i) for i in range(3)]
    assert services.send_due() == {"sent": 2, "waiting": 0}
    assert [Task.objects.get(pk=r.pk).status for r in rows] == ["pending", "pending", "scheduled"]
    assert services.send_due()["sent"] == 1


def test_send_due_reads_the_due_rows_in_one_query_and_writes_one_update_each(user):
    rows = [due(user) for _ in range(5)]
    with CaptureQueriesContext(connection) as queries:
        services.send_due()
    sql = [query["sql"] for query in queries.captured_queries]
    selects = [q for q in sql if q.startswith("SELECT")]
    updates = [q for q in sql if q.startswith("UPDATE")]
    assert len(selects) == 1 and "FOR UPDATE SKIP LOCKED" in selects[0]
    assert len(updates) == len(rows)
    # A savepoint around each row's transition and send, and the sender's transaction
    # (a savepoint too, inside the test's): nothing else.
    assert len(sql) == 2 + 1 + 3 * len(rows)


@pytest.mark.django_db(transaction=True)
def test_two_senders_at_once_send_each_row_once(user):
    rows = [due(user, seconds_ago=5) for _ in range(40)]
    barrier = threading.Barrier(2)
    results: list[dict] = []

    def sender() -> None:
        try:
            barrier.wait()
            results.append(services.send_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(result["sent"] for result in results) == 40
    ids = [i for i in queued_ids() if i in {str(r.pk) for r in rows}]
    assert sorted(ids) == sorted(str(r.pk) for r in rows)  # each exactly once
    assert set(Task.objects.values_list("status", flat=True)) == {"pending"}
    assert set(Task.objects.values_list("version", flat=True)) == {2}


# --- cancel and send now ------------------------------------------------------------


def test_cancel_of_a_scheduled_row_needs_no_revoke_and_is_audited(user, revokes):
    task = later(user)
    assert services.task_cancel(user=user, task=task) is True
    task.refresh_from_db()
    assert task.status == "cancelled" and task.finished_at is not None
    assert task.error_message == "Cancelled before it was due"
    assert revokes == []
    entry = AuditLog.objects.get(action=AuditLog.CANCEL)
    assert entry.task_ids == [str(task.pk)] and entry.note == "cancelled before due"
    # Cancelled stays cancelled: the sender never finds it.
    Task.objects.filter(pk=task.pk).update(run_at=timezone.now() - timedelta(seconds=1))
    assert services.send_due()["sent"] == 0
    assert str(task.pk) not in queued_ids()


def test_send_now_sends_it_at_once_and_is_audited(user):
    task = later(user, minutes=120)
    services.task_send_now(user=user, task=task)
    task.refresh_from_db()
    assert task.status == "pending"
    # Its run_at becomes when it was really sent (the reconciler measures from it).
    assert task.run_at <= timezone.now()
    assert str(task.pk) in queued_ids()
    entry = AuditLog.objects.get(action=AuditLog.SEND_NOW)
    assert entry.actor == user and entry.task_ids == [str(task.pk)]
    with pytest.raises(services.ActionNotAllowed, match="no longer scheduled"):
        services.task_send_now(user=user, task=task)


def test_others_may_not_send_now_or_cancel_but_staff_may(user, other_user, staff_user):
    task = later(user)
    with pytest.raises(PermissionDenied):
        services.task_send_now(user=other_user, task=task)
    with pytest.raises(PermissionDenied):
        services.task_cancel(user=other_user, task=task)
    assert Task.objects.get(pk=task.pk).status == "scheduled"
    services.task_send_now(user=staff_user, task=task)
    assert Task.objects.get(pk=task.pk).status == "pending"


def test_a_bulk_cancel_cancels_scheduled_rows_among_pending_ones(alice, user, revokes):
    waiting, queued = later(user), TaskFactory(owner=user, status="pending")
    bulk = prepare(alice, "cancel", [waiting.pk, queued.pk])
    alice.post(f"/tasks/bulk/{bulk.pk}/")
    assert set(Task.objects.values_list("status", flat=True)) == {"cancelled"}
    assert Task.objects.get(pk=waiting.pk).error_message == "Cancelled before it was due"


# --- the badge and the reconciler ----------------------------------------------------


def test_a_scheduled_row_shows_scheduled_whatever_the_backend_says():
    assert badge("scheduled", None).label == "Scheduled"
    assert badge("scheduled", {"status": "STARTED"}).status == "scheduled"
    task = TaskFactory(status="scheduled", run_at=timezone.now() + timedelta(hours=1))
    badges, available = badges_for([task])
    assert available and badges[str(task.pk)].status == "scheduled"


def test_the_reconciler_never_takes_a_scheduled_row_for_lost(user, settings):
    settings.TASKBOARD_PENDING_STALE_AFTER = 60
    long_ago = timezone.now() - timedelta(days=2)
    waiting = TaskFactory(status="scheduled", created_at=long_ago, run_at=long_ago)
    # Created two days ago, sent a moment ago: pending for seconds, not for days.
    just_sent = TaskFactory(
        status="pending", created_at=long_ago, run_at=timezone.now() - timedelta(seconds=5)
    )
    forgotten = TaskFactory(status="pending", created_at=long_ago)

    counts = reconcile()

    assert counts["lost"] == 1
    statuses = dict(Task.objects.values_list("pk", "status"))
    assert statuses[waiting.pk] == "scheduled"
    assert statuses[just_sent.pk] == "pending"
    assert statuses[forgotten.pk] == "failed"


def test_a_row_sent_late_is_not_lost_while_it_waits_in_the_queue(user, settings):
    # Beat was down for two days: the row goes out now, and has waited in the queue
    # for no time at all; the reconciler must not take it for lost.
    settings.TASKBOARD_PENDING_STALE_AFTER = 60
    task = due(user, seconds_ago=2 * 24 * 3600)
    Task.objects.filter(pk=task.pk).update(created_at=task.run_at - timedelta(hours=1))
    assert services.send_due()["sent"] == 1
    assert reconcile()["lost"] == 0
    task.refresh_from_db()
    assert task.status == "pending" and str(task.pk) in queued_ids()


def test_the_operations_page_counts_a_just_sent_row_as_fresh(user):
    long_ago = timezone.now() - timedelta(days=2)
    TaskFactory(status="scheduled", created_at=long_ago, run_at=long_ago)
    TaskFactory(status="pending", created_at=long_ago, run_at=timezone.now())
    forgotten = TaskFactory(status="pending", created_at=long_ago)
    stale = selectors.stale_pending(user=None, older_than=60)
    assert (stale.count, stale.oldest) == (1, [forgotten])
