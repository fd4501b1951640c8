"""Schedules: the service (validation, broken reasons, enable/disable/delete, run now, audit)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django_celery_beat.models import CrontabSchedule, PeriodicTask, PeriodicTasks

from taskboard import selectors, services
from taskboard.models import AuditLog, Schedule, Task
from taskboard.services.schedules import RUN_TASK
from taskboard.timing import Timing, describe_timing
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

EVERY_10_MIN = Timing(every=10, period="minutes")
NIGHTLY = Timing(crontab=("0", "2", "*", "*", "*"), timezone="Europe/Berlin")


def _create(user, timing=EVERY_10_MIN, params=None, name="demo.quick") -> Schedule:
    return services.schedule_create(
        user=user, name=name, params=params or {"x": "4", "y": "5"}, timing=timing
    )


# --- in words ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("timing", "words"),
    [
        (Timing(every=10, period="minutes"), "every 10 minutes"),
        (Timing(every=1, period="hours"), "every hour"),
        (Timing(every=2, period="days"), "every 2 days"),
        (NIGHTLY, "At 02:00 (Europe/Berlin)"),
        (
            Timing(crontab=("30", "6", "*", "*", "1-5"), timezone="UTC"),
            "At 06:30, Monday through Friday (UTC)",
        ),
    ],
)
def test_timing_in_words(timing, words):
    assert describe_timing(timing) == words


def test_timing_round_trips_through_the_periodic_task(user):
    schedule = _create(user, timing=NIGHTLY)
    assert Timing.of(schedule.periodic_task) == NIGHTLY
    assert selectors.schedule_when(schedule) == "At 02:00 (Europe/Berlin)"


# --- create / validate --------------------------------------------------------


def test_create_stores_cleaned_params_and_a_periodic_task_of_run_schedule(user):
    schedule = _create(user)
    periodic = schedule.periodic_task
    assert schedule.params == {"x": 4, "y": 5}  # cleaned by the task's form
    assert schedule.owner == user and schedule.enabled
    assert periodic.task == RUN_TASK
    assert json.loads(periodic.args) == [schedule.pk]
    assert (periodic.interval.every, periodic.interval.period) == (10, "minutes")
    assert periodic.crontab is None


def test_create_with_a_crontab_keeps_its_time_zone(user):
    schedule = _create(user, timing=NIGHTLY)
    crontab = schedule.periodic_task.crontab
    assert (crontab.minute, crontab.hour, str(crontab.timezone)) == ("0", "2", "Europe/Berlin")
    assert schedule.periodic_task.interval is None


def test_create_refuses_invalid_params_and_creates_nothing(user):
    with pytest.raises(services.LaunchInvalid) as caught:
        _create(user, params={"x": "not a number", "y": "1"})
    assert "x" in caught.value.form.errors
    assert not Schedule.objects.exists() and not PeriodicTask.objects.exists()


def test_create_refuses_a_user_who_may_not_launch(user):
    user.groups.clear()
    with pytest.raises(PermissionDenied):
        _create(user)


def test_create_tells_beat_through_periodic_tasks_changed(user):
    before = PeriodicTasks.last_change()
    _create(user)
    assert PeriodicTasks.last_change() is not None and PeriodicTasks.last_change() != before


# --- edit, enable/disable, delete, audit -------------------------------------------


def test_update_changes_params_and_timing_and_clears_the_broken_reason(user):
    schedule = _create(user)
    Schedule.objects.filter(pk=schedule.pk).update(broken_reason="old reason")
    schedule.refresh_from_db()
    services.schedule_update(
        user=user, schedule=schedule, params={"x": "7", "y": "1"}, timing=NIGHTLY
    )
    schedule.refresh_from_db()
    assert schedule.params == {"x": 7, "y": 1}
    assert schedule.broken_reason == ""
    assert schedule.periodic_task.crontab == CrontabSchedule.objects.get(hour="2")
    assert schedule.periodic_task.interval is None


def test_enable_disable_is_stored_on_the_periodic_task(user):
    schedule = _create(user)
    assert services.schedule_set_enabled(user=user, schedule=schedule, enabled=False)
    assert not PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled
    assert not services.schedule_set_enabled(user=user, schedule=schedule, enabled=False)
    assert services.schedule_set_enabled(user=user, schedule=schedule, enabled=True)
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled


def test_delete_removes_the_periodic_task_and_keeps_the_runs_unlinked(user):
    schedule = _create(user)
    run = TaskFactory(owner=user, schedule=schedule)
    services.schedule_delete(user=user, schedule=schedule)
    assert not Schedule.objects.exists() and not PeriodicTask.objects.exists()
    run.refresh_from_db()
    assert run.schedule_id is None


def test_every_change_is_audited(user):
    schedule = _create(user)
    services.schedule_update(
        user=user, schedule=schedule, params={"x": "1", "y": "1"}, timing=NIGHTLY
    )
    services.schedule_set_enabled(user=user, schedule=schedule, enabled=False)
    services.schedule_set_enabled(user=user, schedule=schedule, enabled=True)
    services.schedule_delete(user=user, schedule=schedule)
    actions = list(AuditLog.objects.order_by("created_at", "id").values_list("action", "actor"))
    assert actions == [
        (AuditLog.SCHEDULE_CREATE, user.pk),
        (AuditLog.SCHEDULE_EDIT, user.pk),
        (AuditLog.SCHEDULE_DISABLE, user.pk),
        (AuditLog.SCHEDULE_ENABLE, user.pk),
        (AuditLog.SCHEDULE_DELETE, user.pk),
    ]
    assert f"schedule #{schedule.pk} of demo.quick" in AuditLog.objects.first().note


def test_others_may_not_change_a_schedule_but_staff_may(user, other_user, staff_user):
    schedule = _create(user)
    for change in (
        lambda who: services.schedule_set_enabled(user=who, schedule=schedule, enabled=False),
        lambda who: services.schedule_run_now(user=who, schedule=schedule),
        lambda who: services.schedule_delete(user=who, schedule=schedule),
    ):
        with pytest.raises(PermissionDenied):
            change(other_user)
    assert services.schedule_set_enabled(user=staff_user, schedule=schedule, enabled=False)


# --- running: beat's call and Run now ---------------------------------------------


def test_run_launches_as_the_owner_with_the_stored_params_linked(
    user, django_capture_on_commit_callbacks
):
    schedule = _create(user)
    with django_capture_on_commit_callbacks(execute=False):
        outcome = services.schedule_run(schedule_id=schedule.pk)
    task = Task.objects.get()
    assert outcome == str(task.pk)
    assert (task.name, task.kwargs, task.owner, task.schedule) == (
        "demo.quick",
        {"x": 4, "y": 5},
        user,
        schedule,
    )


def test_run_now_is_an_ordinary_launch_linked_to_the_schedule(
    user, django_capture_on_commit_callbacks
):
    schedule = _create(user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        task = services.schedule_run_now(user=user, schedule=schedule)
    assert len(callbacks) == 1  # one message sent on commit
    assert Task.objects.get() == task and task.schedule == schedule


def test_run_now_that_works_clears_a_reason_left_from_before(
    user, django_capture_on_commit_callbacks
):
    # The owner lost the right to launch, then got it back: the schedule runs again,
    # and its page must no longer say it is broken (which keeps Run now disabled).
    schedule = _create(user)
    Schedule.objects.filter(pk=schedule.pk).update(broken_reason="Its owner may no longer…")
    schedule.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False):
        services.schedule_run_now(user=user, schedule=schedule)
    schedule.refresh_from_db()
    assert schedule.broken_reason == ""


def test_run_of_an_unregistered_task_marks_it_broken_and_launches_nothing(user, monkeypatch):
    schedule = _create(user)
    Schedule.objects.filter(pk=schedule.pk).update(name="demo.gone")
    assert services.schedule_run(schedule_id=schedule.pk) == "broken"
    schedule.refresh_from_db()
    assert schedule.broken_reason == "The task “demo.gone” is no longer registered."
    assert not Task.objects.exists()


def test_run_with_params_that_no_longer_validate_marks_it_broken(user):
    schedule = _create(user)
    Schedule.objects.filter(pk=schedule.pk).update(params={"x": "abc", "y": 1})
    schedule.refresh_from_db()
    assert "parameters are no longer valid" in services.schedule_problem(schedule)
    assert services.schedule_run(schedule_id=schedule.pk) == "broken"
    schedule.refresh_from_db()
    assert schedule.broken_reason.startswith("Its parameters are no longer valid (x:")
    assert not Task.objects.exists()


def test_run_now_of_a_broken_schedule_is_refused_with_its_reason(user):
    schedule = _create(user)
    Schedule.objects.filter(pk=schedule.pk).update(name="demo.gone")
    schedule.refresh_from_db()
    with pytest.raises(services.ScheduleBroken, match="no longer registered"):
        services.schedule_run_now(user=user, schedule=schedule)
    assert not Task.objects.exists()


def test_run_when_the_owner_may_no_longer_launch_is_broken(user):
    schedule = _create(user)
    user.groups.remove(Group.objects.get(name="Launchers"))
    assert services.schedule_run(schedule_id=schedule.pk) == "broken"
    schedule.refresh_from_db()
    assert schedule.broken_reason == "Its owner may no longer launch this task."


def test_a_run_that_works_again_clears_the_broken_reason(user, django_capture_on_commit_callbacks):
    schedule = _create(user)
    Schedule.objects.filter(pk=schedule.pk).update(broken_reason="was broken")
    with django_capture_on_commit_callbacks(execute=False):
        services.schedule_run(schedule_id=schedule.pk)
    schedule.refresh_from_db()
    assert schedule.broken_reason == ""


def test_run_of_a_disabled_or_deleted_schedule_does_nothing(user):
    schedule = _create(user)
    services.schedule_set_enabled(user=user, schedule=schedule, enabled=False)
    assert services.schedule_run(schedule_id=schedule.pk) == "disabled"
    assert services.schedule_run(schedule_id=schedule.pk + 1000) == "gone"
    assert not Task.objects.exists()


def test_scheduled_runs_are_not_refused_by_the_launch_rate_limit(
    user, settings, django_capture_on_commit_callbacks
):
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 1
    schedule = _create(user)
    with django_capture_on_commit_callbacks(execute=False):
        services.schedule_run(schedule_id=schedule.pk)
        services.schedule_run(schedule_id=schedule.pk)
        # Run now is a person's launch: the limit applies.
        with pytest.raises(services.RateLimited):
            services.schedule_run_now(user=user, schedule=schedule)
    assert Task.objects.filter(schedule=schedule).count() == 2


# --- selectors --------------------------------------------------------------------


def test_visible_schedules_follow_the_task_owner_rules(user, other_user, staff_user):
    mine, theirs = _create(user), _create(other_user)
    assert list(selectors.visible_schedules(user)) == [mine]
    assert set(selectors.visible_schedules(staff_user)) == {mine, theirs}


def test_schedule_rows_give_the_newest_run_and_the_next_run(user):
    schedule = _create(user)
    TaskFactory(owner=user, schedule=schedule, completed=True)
    newest = TaskFactory(owner=user, schedule=schedule, failed=True)
    (row,) = selectors.schedule_rows([schedule])
    assert row.last_run == newest
    assert row.when == "every 10 minutes"
    assert row.next_run is not None
    services.schedule_set_enabled(user=user, schedule=schedule, enabled=False)
    schedule.refresh_from_db()
    assert selectors.schedule_rows([schedule])[0].next_run is None


def test_schedule_stats_give_the_success_rate_and_durations(user):
    schedule = _create(user)
    for _ in range(3):
        TaskFactory(owner=user, schedule=schedule, completed=True)
    TaskFactory(owner=user, schedule=schedule, failed=True)
    TaskFactory(owner=user, schedule=schedule)  # pending: not finished
    TaskFactory(owner=user, completed=True)  # not this schedule's
    stats = selectors.schedule_stats(user=user, schedule=schedule)
    assert (stats.runs, stats.finished, stats.succeeded, stats.success_rate) == (5, 4, 3, 75)
    assert len(stats.durations) == 3
