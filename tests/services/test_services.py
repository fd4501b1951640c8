"""Launch, retry and cancel services, without a broker (the send is on commit)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from taskboard import registry, services
from taskboard.models import Task
from taskboard.services import launch as launch_service
from tests.factories import TaskFactory


@pytest.mark.django_db
def test_launch_creates_pending_row_and_sends_on_commit(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        task = services.task_launch(user=user, name="demo.quick", params={"x": "4", "y": 5})
    assert len(callbacks) == 1
    task.refresh_from_db()
    assert task.status == "pending"
    assert task.owner == user
    assert task.kwargs == {"x": 4, "y": 5}  # cleaned by the form


@pytest.mark.django_db
def test_launch_with_invalid_params_creates_nothing(user):
    with pytest.raises(services.LaunchInvalid) as error:
        services.task_launch(user=user, name="demo.long", params={"seconds": "-3"})
    assert "seconds" in error.value.form.errors
    assert Task.objects.count() == 0


@pytest.mark.django_db
def test_launch_unknown_name_is_refused(user):
    with pytest.raises(registry.UnknownTask):
        services.task_launch(user=user, name="nope", params={})
    assert Task.objects.count() == 0


@pytest.mark.django_db
def test_staff_only_task_refused_for_others(user):
    with pytest.raises(PermissionDenied):
        services.task_launch(user=user, name="taskboard.purge", params={"days": 5})
    assert Task.objects.count() == 0


@pytest.mark.django_db
def test_anonymous_cannot_launch():
    with pytest.raises(PermissionDenied):
        services.task_launch(user=AnonymousUser(), name="demo.quick", params={})


@pytest.mark.django_db
def test_launch_unavailable_broker_leaves_no_row(
    user, monkeypatch, django_capture_on_commit_callbacks
):
    def broken_send(task):
        raise ConnectionError("broker down")

    monkeypatch.setattr(launch_service, "_send", broken_send)
    with (
        pytest.raises(services.LaunchUnavailable),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.task_launch(user=user, name="demo.quick", params={"x": 1, "y": 2})
    assert Task.objects.count() == 0


@pytest.mark.django_db
def test_retry_of_unfinished_task_refused(user):
    task = TaskFactory(running=True, owner=user)
    with pytest.raises(services.ActionNotAllowed):
        services.task_retry(user=user, task=task)


@pytest.mark.django_db
def test_retry_links_the_new_row(user, django_capture_on_commit_callbacks):
    old = TaskFactory(failed=True, owner=user, kwargs={"x": 1, "y": 2})
    with django_capture_on_commit_callbacks(execute=False):
        new = services.task_retry(user=user, task=old)
    assert new.retry_of == old
    assert new.kwargs == {"x": 1, "y": 2}
    assert list(old.retries.all()) == [new]


@pytest.mark.django_db
def test_retry_with_edited_params_validates_them(user):
    old = TaskFactory(failed=True, owner=user)
    with pytest.raises(services.LaunchInvalid):
        services.task_retry(user=user, task=old, params={"x": "not a number"})
    assert Task.objects.count() == 1


@pytest.mark.django_db
def test_retry_of_unregistered_task_reuses_args(user, django_capture_on_commit_callbacks):
    old = TaskFactory(failed=True, name="other.app.task", args=[1, 2], kwargs={}, owner=user)
    with django_capture_on_commit_callbacks(execute=False):
        new = services.task_retry(user=user, task=old)
    assert (new.name, new.args, new.retry_of) == ("other.app.task", [1, 2], old)


@pytest.mark.django_db
def test_cancel_finished_task_refused(user):
    task = TaskFactory(completed=True)
    with pytest.raises(services.ActionNotAllowed):
        services.task_cancel(task=task)


@pytest.mark.django_db
def test_track_started_creates_missing_row():
    services.track_started(
        task_id="11111111-1111-4111-8111-111111111111",
        name="x.y",
        args=(1,),
        kwargs={},
        worker="w@h",
        retries=0,
    )
    row = Task.objects.get(pk="11111111-1111-4111-8111-111111111111")
    assert (row.status, row.worker, row.args, row.attempts) == ("running", "w@h", [1], 1)


@pytest.mark.django_db
def test_track_started_does_not_reopen_a_cancelled_row():
    task = TaskFactory(cancelled=True, name="t")
    services.track_started(task_id=task.pk, name="t", args=(), kwargs={}, worker="w", retries=0)
    task.refresh_from_db()
    assert task.status == "cancelled"


@pytest.mark.django_db
def test_track_failed_worker_lost_message():
    from billiard.exceptions import WorkerLostError

    task = TaskFactory(running=True, name="t")
    services.track_failed(task_id=task.pk, exception=WorkerLostError("signal 9"), traceback="tb")
    task.refresh_from_db()
    assert task.status == "failed"
    assert task.error_type == "WorkerLostError"
    assert task.error_message.startswith("worker lost")


@pytest.mark.django_db
def test_track_published_is_idempotent():
    for _ in range(2):
        services.track_published(
            task_id="22222222-2222-4222-8222-222222222222", name="n", args=[], kwargs={}
        )
    assert Task.objects.count() == 1


def test_registry_lists_builtins_in_title_order():
    names = [entry.name for entry in registry.all_launchables()]
    assert {"demo.quick", "demo.long", "demo.fail", "demo.flaky"} <= set(names)
    titles = [entry.title.lower() for entry in registry.all_launchables()]
    assert titles == sorted(titles)


@pytest.mark.django_db
def test_launch_beyond_the_rate_limit_is_refused(
    user, settings, django_capture_on_commit_callbacks
):
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 3
    with django_capture_on_commit_callbacks(execute=False):
        for _ in range(3):
            services.task_launch(user=user, name="demo.quick", params={"x": 1, "y": 1})
    with pytest.raises(services.RateLimited):
        services.task_launch(user=user, name="demo.quick", params={"x": 1, "y": 1})
    assert Task.objects.count() == 3


@pytest.mark.django_db
def test_rate_limit_is_per_user(user, other_user, settings, django_capture_on_commit_callbacks):
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 1
    with django_capture_on_commit_callbacks(execute=False):
        services.task_launch(user=user, name="demo.quick", params={"x": 1, "y": 1})
        services.task_launch(user=other_user, name="demo.quick", params={"x": 1, "y": 1})
    assert Task.objects.count() == 2


@pytest.mark.django_db
def test_rate_limit_zero_disables_it(user, settings, django_capture_on_commit_callbacks):
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 0
    with django_capture_on_commit_callbacks(execute=False):
        for _ in range(5):
            services.task_launch(user=user, name="demo.quick", params={"x": 1, "y": 1})
    assert Task.objects.count() == 5


def test_idempotent_builtins_are_redelivered_when_their_worker_dies():
    from taskboard.tasks import export_csv, purge
    from tasks.tasks import quick

    for task in (export_csv, purge):
        assert task.acks_late is True
        assert task.reject_on_worker_lost is True
    assert quick.acks_late is False  # at most once unless marked idempotent


@pytest.mark.django_db(transaction=True)
def test_launch_outside_a_transaction_is_one_insert_committed_before_the_send(user, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sends = []

    def send(task):
        # The row is committed (autocommit, no open transaction) when the message goes.
        sends.append((task.pk, connection.get_autocommit(), connection.in_atomic_block))

    monkeypatch.setattr(launch_service, "_send", send)
    commits = []
    real_commit = connection.commit
    monkeypatch.setattr(connection, "commit", lambda: commits.append(1) or real_commit())
    with CaptureQueriesContext(connection) as queries:
        task = services.task_launch(
            user=user, name="demo.quick", params={"x": 1, "y": 2}, check_rate=False
        )
    assert sends == [(task.pk, True, False)]
    task_statements = [q["sql"].split()[0] for q in queries if '"taskboard_task"' in q["sql"]]
    assert task_statements == ["INSERT"]
    assert commits == []  # no BEGIN ... COMMIT around it: the INSERT commits by itself


@pytest.mark.django_db(transaction=True)
def test_launch_inside_a_transaction_sends_after_its_commit(user, monkeypatch):
    from django.db import transaction

    sends = []
    monkeypatch.setattr(launch_service, "_send", lambda task: sends.append(task.pk))
    with transaction.atomic():
        task = services.task_launch(
            user=user, name="demo.quick", params={"x": 1, "y": 2}, check_rate=False
        )
        assert sends == []
    assert sends == [task.pk]


@pytest.mark.django_db(transaction=True)
def test_concurrent_launches_by_one_user_admit_exactly_the_limit(user, settings, monkeypatch):
    """Launches at once, each on its own connection: never one more than the limit."""
    import threading

    from django.db import connection, connections

    from tests.conftest import wait_for

    if connection.vendor != "postgresql":
        pytest.skip("the row lock is PostgreSQL's; SQLite runs one writer at a time")
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 5
    launches = 12
    monkeypatch.setattr(launch_service, "_send", lambda task: None)
    state = {"inserting": 0, "done": 0}
    guard = threading.Lock()
    create = launch_service.create_and_send

    def blocked_on_a_lock() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            return cursor.fetchone()[0]

    def held_insert(**fields):
        # Every launch that has counted waits here until each other one has counted
        # too, or waits on a lock, or is over: a count-then-insert without a lock then
        # lets all of them in, whatever the scheduling.
        with guard:
            state["inserting"] += 1
        wait_for(
            lambda: state["inserting"] + state["done"] + blocked_on_a_lock() >= launches,
            message="every launch to count, wait on a lock or finish",
        )
        with guard:
            state["inserting"] -= 1
        return create(**fields)

    monkeypatch.setattr(launch_service, "create_and_send", held_insert)
    start = threading.Barrier(launches)
    outcomes: list[str] = []

    def launch():
        try:
            start.wait()
            services.task_launch(user=user, name="demo.quick", params={"x": 1, "y": 1})
            outcomes.append("launched")
        except services.RateLimited:
            outcomes.append("refused")
        finally:
            with guard:
                state["done"] += 1
            connections.close_all()

    threads = [threading.Thread(target=launch) for _ in range(launches)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["launched"] * 5 + ["refused"] * 7
    assert Task.objects.filter(owner=user).count() == 5


@pytest.mark.django_db
def test_rows_of_a_bulk_action_do_not_count_against_the_launch_rate_limit(
    user, settings, django_capture_on_commit_callbacks
):
    from taskboard.models import BulkAction

    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 2
    bulk = BulkAction.objects.create(actor=user, action="retry")
    TaskFactory.create_batch(3, owner=user, bulk=bulk)
    with django_capture_on_commit_callbacks(execute=False):
        for _ in range(2):
            services.task_launch(user=user, name="demo.quick", params={"x": 1, "y": 1})
        with pytest.raises(services.RateLimited, match="launched or retried 2 tasks"):
            services.task_launch(user=user, name="demo.quick", params={"x": 1, "y": 1})


@pytest.mark.django_db
def test_retries_of_workflow_steps_count_against_the_launch_rate_limit(
    user, settings, django_capture_on_commit_callbacks
):
    # A retry of a step keeps its place in the workflow (root_id) and is still a
    # person's launch: steps recorded with their workflow are not, their retries are.
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 2
    hour_ago = timezone.now() - timedelta(hours=1)
    failed = {"owner": user, "failed": True, "name": "demo.fail", "created_at": hour_ago}
    root = TaskFactory(kwargs={"message": "x"}, **failed)
    Task.objects.filter(pk=root.pk).update(root_id=root.pk)
    steps = TaskFactory.create_batch(3, kwargs={"message": "x"}, root_id=root.pk, **failed)
    with django_capture_on_commit_callbacks(execute=False):
        for step in steps[:2]:
            services.task_retry(user=user, task=step)
        with pytest.raises(services.RateLimited, match="launched or retried 2 tasks"):
            services.task_retry(user=user, task=steps[2])
