"""The catalog's average run time and the running rows' ETA."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tasks import selectors
from tasks.models import CANCELLED, COMPLETED, FAILED, RUNNING, Task
from tasks.templatetags.operators import eta

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def finished(owner, name="taskboard.long", status=COMPLETED, *, took: float, ago: float = 60):
    end = timezone.now() - timedelta(seconds=ago)
    start = end - timedelta(seconds=took)
    return Task.objects.create(
        name=name, status=status, owner=owner, created_at=start, started_at=start, finished_at=end
    )


def running(owner, name="taskboard.long", *, for_seconds: float) -> Task:
    start = timezone.now() - timedelta(seconds=for_seconds)
    return Task.objects.create(
        name=name, status=RUNNING, owner=owner, created_at=start, started_at=start
    )


# --- eta filter (pure) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (20.4, "about 20 s left"),
        (0.3, "about 1 s left"),
        (150, "about 2 min left"),
        (7200, "about 2 h left"),
        (0, "longer than usual"),
        (-30, "longer than usual"),
    ],
)
def test_eta_reads_briefly(seconds, text):
    assert eta(timedelta(seconds=seconds)) == text


def test_eta_of_nothing_is_empty():
    assert eta(None) == ""


# --- average run time ------------------------------------------------------------


def test_launch_stats_average_run_time_of_completed_runs(user):
    finished(user, took=2)
    finished(user, took=4)
    finished(user, status=FAILED, took=100)  # failures and cancellations are left out
    finished(user, status=CANCELLED, took=100)
    stats = selectors.launch_stats(user=user, names=["taskboard.long"])["taskboard.long"]
    assert stats.avg_run == timedelta(seconds=3)


def test_launch_stats_average_run_time_none_without_completed_runs(user):
    finished(user, status=FAILED, took=5)
    stats = selectors.launch_stats(user=user, names=["taskboard.long"])["taskboard.long"]
    assert stats.avg_run is None


def test_catalog_shows_average_run_time(alice, user):
    finished(user, took=2)
    finished(user, took=4)
    assert "avg run 3.0 s" in alice.get("/launch/").content.decode()


def test_average_run_times_per_name_in_one_query(user, django_assert_num_queries):
    finished(user, took=10)
    finished(user, "taskboard.quick", took=1)
    selectors.average_run_times(user=user, names=["x"])  # permissions read once, then cached
    with django_assert_num_queries(1):
        averages = selectors.average_run_times(
            user=user, names=["taskboard.long", "taskboard.quick", "taskboard.fail"]
        )
    assert averages == {
        "taskboard.long": timedelta(seconds=10),
        "taskboard.quick": timedelta(seconds=1),
    }


def test_average_run_times_use_only_the_latest_runs(user):
    finished(user, took=100, ago=3000)  # older than the window of two runs
    finished(user, took=2, ago=200)
    finished(user, took=4, ago=100)
    averages = selectors.average_run_times(user=user, names=["taskboard.long"], runs=2)
    assert averages == {"taskboard.long": timedelta(seconds=3)}


def test_average_run_times_only_visible_runs(user, other_user):
    finished(other_user, took=10)
    assert selectors.average_run_times(user=user, names=["taskboard.long"]) == {}


# --- ETA on the running rows ------------------------------------------------------


def runtime_cell(response, task) -> str:
    body = response.content.decode()
    row = re.search(rf'<tr id="task-{task.pk}".*?</tr>', body, re.S).group(0)
    return re.search(r'<td class="c-runtime">(.*?)</td>', row, re.S).group(1)


def test_running_row_shows_time_left(alice, user):
    finished(user, took=100)
    task = running(user, for_seconds=40)
    cell = runtime_cell(alice.get("/tasks/"), task)
    assert re.search(r"about (59|60|61) s left", cell)


def test_running_row_past_the_average_says_longer_than_usual(alice, user):
    finished(user, took=10)
    task = running(user, for_seconds=40)
    assert "longer than usual" in runtime_cell(alice.get("/tasks/"), task)


def test_running_row_without_history_has_no_eta(alice, user):
    task = running(user, for_seconds=40)
    assert 'class="eta"' not in runtime_cell(alice.get("/tasks/"), task)


def test_eta_is_one_query_for_the_page_whatever_the_rows(alice, user):
    finished(user, took=100)
    finished(user, "taskboard.quick", took=1)
    running(user, for_seconds=1)
    alice.get("/tasks/")
    cache.clear()
    with CaptureQueriesContext(connection) as few:
        alice.get("/tasks/", headers=HX)
    for _ in range(20):
        running(user, for_seconds=1)
        running(user, "taskboard.quick", for_seconds=1)
    cache.clear()
    with CaptureQueriesContext(connection) as many:
        alice.get("/tasks/", headers=HX)
    assert len(many) == len(few)


def test_averages_are_read_once_per_process_while_fresh(alice, user):
    finished(user, took=100)
    running(user, for_seconds=1)
    alice.get("/tasks/")
    cache.clear()
    with CaptureQueriesContext(connection) as cold:
        alice.get("/tasks/", headers=HX)
    with CaptureQueriesContext(connection) as warm:
        alice.get("/tasks/", headers=HX)
    averages = [q for q in cold if "AVG(" in q["sql"]]
    assert len(averages) == 1
    assert len(warm) == len(cold) - 1


def test_poll_redraws_a_running_row_with_its_eta(alice, user):
    finished(user, took=100)
    task = running(user, for_seconds=40)
    response = alice.get("/tasks/status/", {"ids": f"{task.pk}:0.x"})
    assert response.status_code == 200
    assert re.search(r"about (59|60|61) s left", runtime_cell(response, task))


def test_poll_query_count_unchanged_by_the_eta(alice, user):
    task = running(user, for_seconds=1)
    params = {"ids": f"{task.pk}:0.x"}
    alice.get("/tasks/status/", params)
    with CaptureQueriesContext(connection) as before:
        alice.get("/tasks/status/", params)
    finished(user, took=100)
    with CaptureQueriesContext(connection) as after:
        response = alice.get("/tasks/status/", params)
    assert len(after) == len(before)
    assert response.status_code == 200
