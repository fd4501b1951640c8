"""The catalog's average run time and the running rows' ETA."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from celery import current_app
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from taskboard import selectors
from taskboard.models import CANCELLED, COMPLETED, FAILED, RUNNING, Task

pytestmark = pytest.mark.django_db


def finished(owner, name="demo.long", status=COMPLETED, *, took: float, ago: float = 60):
    end = timezone.now() - timedelta(seconds=ago)
    start = end - timedelta(seconds=took)
    return Task.objects.create(
        name=name, status=status, owner=owner, created_at=start, started_at=start, finished_at=end
    )


def running(owner, name="demo.long", *, for_seconds: float) -> Task:
    start = timezone.now() - timedelta(seconds=for_seconds)
    return Task.objects.create(
        name=name, status=RUNNING, owner=owner, created_at=start, started_at=start
    )


# --- average run time ------------------------------------------------------------


def test_launch_stats_average_run_time_of_completed_runs(user):
    finished(user, took=2)
    finished(user, took=4)
    finished(user, status=FAILED, took=100)  # failures and cancellations are left out
    finished(user, status=CANCELLED, took=100)
    stats = selectors.launch_stats(user=user, names=["demo.long"])["demo.long"]
    assert stats.avg_run == timedelta(seconds=3)


def test_launch_stats_average_run_time_none_without_completed_runs(user):
    finished(user, status=FAILED, took=5)
    stats = selectors.launch_stats(user=user, names=["demo.long"])["demo.long"]
    assert stats.avg_run is None


def test_catalog_shows_average_run_time(alice, user):
    finished(user, took=2)
    finished(user, took=4)
    assert "avg run 3.0 s" in alice.get("/launch/").content.decode()


def test_average_run_times_per_name_in_one_query(user, django_assert_num_queries):
    finished(user, took=10)
    finished(user, "demo.quick", took=1)
    selectors.average_run_times(user=user, names=["x"])  # permissions read once, then cached
    with django_assert_num_queries(1):
        averages = selectors.average_run_times(
            user=user, names=["demo.long", "demo.quick", "demo.fail"]
        )
    assert averages == {
        "demo.long": timedelta(seconds=10),
        "demo.quick": timedelta(seconds=1),
    }


def test_average_run_times_use_only_the_latest_runs(user):
    finished(user, took=100, ago=3000)  # older than the window of two runs
    finished(user, took=2, ago=200)
    finished(user, took=4, ago=100)
    averages = selectors.average_run_times(user=user, names=["demo.long"], runs=2)
    assert averages == {"demo.long": timedelta(seconds=3)}


def test_average_run_times_only_visible_runs(user, other_user):
    finished(other_user, took=10)
    assert selectors.average_run_times(user=user, names=["demo.long"]) == {}


# --- ETA on the running rows ------------------------------------------------------
# From the row's own progress (taskboard/eta.py); unit cases in tests/tracking/test_eta.py.


@pytest.fixture
def progress():
    """Store PROGRESS meta for task ids in the real result backend; clean up after."""
    stored = []

    def store(task_id, current: int, total: int) -> None:
        current_app.backend.store_result(
            str(task_id), {"current": current, "total": total, "message": ""}, "PROGRESS"
        )
        stored.append(str(task_id))

    yield store
    for task_id in stored:
        current_app.backend.forget(task_id)


def runtime_cell(response, task) -> str:
    body = response.content.decode()
    row = re.search(rf'<tr id="task-{task.pk}".*?</tr>', body, re.S).group(0)
    return re.search(r'<td class="c-runtime">(.*?)</td>', row, re.S).group(1)


def seconds_left(cell: str) -> int:
    return int(re.search(r"about (\d+) s left", cell).group(1))


@pytest.mark.integration
def test_running_row_estimates_from_its_own_progress(alice, user, progress):
    # Other runs of the name took 20 s; this one is at 3 of 10 after 15 s: 35 s left.
    finished(user, took=20)
    task = running(user, for_seconds=15)
    progress(task.pk, 3, 10)
    cell = runtime_cell(alice.get("/tasks/"), task)
    assert 35 <= seconds_left(cell) <= 37  # the request itself takes a moment
    assert "Estimated from its progress so far" in cell


def test_running_row_without_progress_has_no_eta(alice, user):
    # The name's average (100 s) says nothing about this run: no guess.
    finished(user, took=100)
    task = running(user, for_seconds=40)
    assert 'class="eta"' not in runtime_cell(alice.get("/tasks/"), task)


@pytest.mark.integration
def test_running_row_past_its_last_step_says_almost_done(alice, user, progress):
    task = running(user, for_seconds=40)
    progress(task.pk, 10, 10)
    cell = runtime_cell(alice.get("/tasks/"), task)
    assert "almost done" in cell
    assert not re.search(r"-\d|\b0 s", cell)


@pytest.mark.integration
def test_poll_redraws_a_running_row_with_its_eta(alice, user, progress):
    task = running(user, for_seconds=12)
    progress(task.pk, 6, 8)
    response = alice.get("/tasks/status/", {"ids": f"{task.pk}:0.x"})
    assert response.status_code == 200
    assert 4 <= seconds_left(runtime_cell(response, task)) <= 5


@pytest.mark.integration
def test_the_eta_adds_no_query(alice, user, progress):
    task = running(user, for_seconds=1)
    params = {"ids": f"{task.pk}:0.x"}
    alice.get("/tasks/status/", params)
    with CaptureQueriesContext(connection) as before:
        alice.get("/tasks/status/", params)
    finished(user, took=100)
    progress(task.pk, 1, 4)
    with CaptureQueriesContext(connection) as after:
        response = alice.get("/tasks/status/", params)
    assert len(after) == len(before)
    assert "left" in runtime_cell(response, task)
