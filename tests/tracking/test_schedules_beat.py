"""Schedules with a real beat (DatabaseScheduler), worker, Redis and PostgreSQL.

Beat reads the schedules from the test database and sends ``taskboard.run_schedule``
to this run's queue; the session worker launches the scheduled tasks and runs them.
"Stopped" is shown without waiting a fixed time: a second schedule (the sentinel)
must run twice after the change, proving beat has ticked past it meanwhile.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from taskboard import services
from taskboard.models import Schedule, Task
from taskboard.timing import Timing
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EVERY_SECOND = Timing(every=1, period="seconds")
# 00:00 on the first of January, UTC: beat never sends it during a test run.
YEARLY = Timing(crontab=("0", "0", "1", "1", "*"), timezone="UTC")


def _schedule(user, x: int, timing: Timing = EVERY_SECOND) -> Schedule:
    return services.schedule_create(
        user=user, name="demo.quick", params={"x": x, "y": 1}, timing=timing
    )


def _completed(schedule: Schedule, since=None):
    runs = Task.objects.filter(schedule=schedule, status="completed")
    return runs.filter(created_at__gt=since) if since else runs


def _beat_ticked_twice(user, since) -> Schedule:
    """Create a sentinel schedule and wait until it ran twice after ``since``."""
    sentinel = _schedule(user, x=1000)
    wait_for(
        lambda: _completed(sentinel, since).count() >= 2,
        timeout=60,
        message="the sentinel schedule to run twice",
    )
    return sentinel


def test_interval_schedule_runs_with_its_params_and_disabling_stops_it(celery_beat, user):
    schedule = _schedule(user, x=41)
    wait_for(lambda: _completed(schedule).count() >= 2, timeout=60, message="two scheduled runs")
    for run in _completed(schedule):
        assert (run.name, run.kwargs, run.result, run.owner) == (
            "demo.quick",
            {"x": 41, "y": 1},
            42,
            user,
        )

    services.schedule_set_enabled(user=user, schedule=schedule, enabled=False)
    disabled_at = timezone.now()
    sentinel = _beat_ticked_twice(user, since=disabled_at)
    # A run that read the flag just before the disable may still land a moment after
    # it; once beat has run a schedule made after the disable, none of it comes any
    # more (run_schedule checks the flag too, for a message beat sent before it saw it).
    seen = _completed(sentinel, disabled_at).order_by("created_at").first().created_at
    assert not Task.objects.filter(schedule=schedule, created_at__gt=seen).exists()
    assert celery_beat.proc.poll() is None


def test_run_now_launches_once(celery_beat, user):
    schedule = _schedule(user, x=9, timing=YEARLY)
    task = services.schedule_run_now(user=user, schedule=schedule)
    wait_for(lambda: _completed(schedule).exists(), timeout=60, message="the run-now run")
    _beat_ticked_twice(user, since=timezone.now())
    (run,) = Task.objects.filter(schedule=schedule)
    assert run.pk == task.pk and run.result == 10


def test_broken_schedule_records_its_reason_and_beat_keeps_running(celery_beat, user, client):
    broken = _schedule(user, x=1)
    # Its task is no longer registered (a deploy renamed it): beat still sends only
    # taskboard.run_schedule, which refuses it.
    Schedule.objects.filter(pk=broken.pk).update(name="demo.renamed_away")
    wait_for(
        lambda: Schedule.objects.get(pk=broken.pk).broken_reason,
        timeout=60,
        message="the broken reason",
    )
    noticed = timezone.now()
    _beat_ticked_twice(user, since=noticed)
    assert not Task.objects.filter(schedule=broken).exists()
    assert celery_beat.proc.poll() is None
    assert "Traceback" not in celery_beat.log.read_text()
    client.force_login(user)
    page = client.get(f"/schedules/{broken.pk}/").content.decode()
    assert "The task “demo.renamed_away” is no longer registered." in page
