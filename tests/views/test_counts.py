"""The counts targets of issue 5 that timings cannot show: queries, round trips, plans.

Timings live in bench/ (docs/performance.md); these counts hold on any machine,
so they are asserted here and cannot regress unseen.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import timedelta

import pytest
from celery import current_app
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.inproc import redis_round_trips
from taskboard import selectors
from taskboard.models import CANCELLED, COMPLETED, FAILED, PENDING, RUNNING, SCHEDULED, Task

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

HTMX = {"HX-Request": "true"}
TABS = ("", PENDING, RUNNING, COMPLETED, FAILED, CANCELLED)


def history(owner, count: int, *, statuses=(COMPLETED, FAILED, CANCELLED)) -> list[Task]:
    """Insert ``count`` finished rows spread over the last days, newest first."""
    now = timezone.now()
    return Task.objects.bulk_create(
        [
            Task(
                name="demo.quick",
                status=statuses[i % len(statuses)],
                owner=owner,
                created_at=now - timedelta(minutes=i + 10),
            )
            for i in range(count)
        ],
        batch_size=2000,
    )


def analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Task._meta.db_table}")


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def in_flight(staff_user):
    """Twenty running rows of the staff user with live PROGRESS meta in the real Redis."""
    tasks = Task.objects.bulk_create(
        [Task(name="demo.long", status=RUNNING, owner=staff_user, version=2) for _ in range(20)]
    )
    for i, task in enumerate(tasks):
        current_app.backend.store_result(
            str(task.pk), {"current": i, "total": 20, "message": "working"}, "PROGRESS"
        )
    yield tasks
    for task in tasks:
        current_app.backend.forget(str(task.pk))


def poll_path(client) -> tuple[str, dict]:
    """Return the poll URL and values the table hands the browser for its in-flight rows."""
    body = client.get("/tasks/?status=running", headers=HTMX).content.decode()
    element = re.search(r'<div id="poll"[^>]*>', body).group(0)
    url = html.unescape(re.search(r'hx-post="([^"]+)"', element).group(1))
    return url, json.loads(html.unescape(re.search(r'hx-vals="([^"]+)"', element).group(1)))


def poll_counts(client, path: tuple[str, dict]) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries, redis_round_trips() as trips:
        response = client.post(*path, headers=HTMX)
    assert response.status_code in (200, 204)  # 204: nothing changed
    return len(queries), trips


def unbounded_counts(queries) -> list[str]:
    """Return the COUNT queries that are not bounded by a LIMIT (a count over the history)."""
    return [
        q["sql"]
        for q in queries.captured_queries
        if "COUNT(" in q["sql"].upper() and " LIMIT " not in q["sql"].upper()
    ]


def explain(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def page_query(queries) -> str:
    """Return the query that reads the table's rows (the one with a LIMIT)."""
    pages = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "taskboard_task"' in q["sql"]
        and " LIMIT " in q["sql"]
        and "COUNT(" not in q["sql"]
    ]
    assert len(pages) == 1, pages
    return pages[0]


def test_poll_one_redis_round_trip_for_twenty_ids(staff, in_flight):
    path = poll_path(staff)
    _, trips = poll_counts(staff, path)
    assert trips == ["MGET"]


def test_poll_at_most_three_queries(staff, in_flight):
    path = poll_path(staff)
    queries, _ = poll_counts(staff, path)
    assert queries <= 3


def test_poll_counts_do_not_grow_with_the_history(staff, staff_user, in_flight):
    path = poll_path(staff)
    before = poll_counts(staff, path)
    history(staff_user, 3000)
    assert poll_counts(staff, path) == before


# The status tabs count at most COUNT_CAP + 1 rows each (an index range), never
# the whole history.
def test_failed_table_fragment_does_not_count_the_history(staff, staff_user):
    history(staff_user, 200)
    with CaptureQueriesContext(connection) as queries:
        response = staff.get("/tasks/?status=failed", headers=HTMX)
    assert response.status_code == 200
    assert unbounded_counts(queries) == []


def test_status_counts_count_each_status_of_the_filtered_rows_up_to_the_cap(staff_user, user):
    history(staff_user, 7, statuses=(FAILED,))
    history(user, 3, statuses=(COMPLETED,))
    # distinct() as a filter might add it: each task still counts once.
    mine = Task.objects.filter(owner=staff_user).distinct()
    counts = selectors.task_status_counts(mine, cap=5)
    assert counts == {
        "": 6,
        SCHEDULED: 0,
        PENDING: 0,
        RUNNING: 0,
        COMPLETED: 0,
        FAILED: 6,
        CANCELLED: 0,
    }


def test_failed_table_fragment_query_count_does_not_grow_with_the_history(staff, staff_user):
    history(staff_user, 30)
    with CaptureQueriesContext(connection) as small:
        staff.get("/tasks/?status=failed", headers=HTMX)
    history(staff_user, 3000)
    with CaptureQueriesContext(connection) as large:
        staff.get("/tasks/?status=failed", headers=HTMX)
    assert len(large) == len(small)


@pytest.mark.parametrize("status", TABS)
def test_status_tab_page_reads_an_index_in_order(staff, staff_user, user, status):
    every = (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED)
    history(staff_user, 1500, statuses=every)
    history(user, 1500, statuses=every)
    analyze()
    with CaptureQueriesContext(connection) as queries:
        staff.get(f"/tasks/?status={status}" if status else "/tasks/", headers=HTMX)
    plan = explain(page_query(queries))
    # An index that already holds the order: no full scan, and no sort of the matches.
    assert "Seq Scan on taskboard_task" not in plan
    assert "Sort" not in plan


def test_own_tasks_page_reads_an_index_in_order(client, user, other_user):
    history(user, 1500)
    history(other_user, 1500)
    analyze()
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        client.get("/tasks/?status=failed", headers=HTMX)
    plan = explain(page_query(queries))
    assert "Seq Scan on taskboard_task" not in plan
    assert "Sort" not in plan


def test_deep_page_does_not_count_the_history(staff, staff_user):
    history(staff_user, 200, statuses=(FAILED,))
    with CaptureQueriesContext(connection) as queries:
        response = staff.get("/tasks/?status=failed&page=8", headers=HTMX)
    assert response.status_code == 200
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()][1:]


def test_deep_page_shows_the_rows_of_that_page(staff, staff_user):
    tasks = history(staff_user, 200, statuses=(FAILED,))
    response = staff.get("/tasks/?status=failed&page=8", headers=HTMX)
    ids = re.findall(r'<tr id="task-([0-9a-f-]{36})"', response.content.decode())
    assert [uuid.UUID(i) for i in ids] == [t.pk for t in tasks[175:200]]


def test_deep_page_seeks_instead_of_skipping(staff, staff_user):
    tasks = history(staff_user, 200, statuses=(FAILED,))
    path = "/tasks/?status=failed"
    for _ in range(7):  # to page 8 the way a person gets there: Older, Older, ...
        body = staff.get(path, headers=HTMX).content.decode()
        path = html.unescape(re.search(r'rel="next" href="([^"]+)"', body).group(1))
    with CaptureQueriesContext(connection) as queries:
        response = staff.get(path, headers=HTMX)
    # Keyset: page 1,000 costs what page 1 costs only if no OFFSET walks the rows before it.
    assert " OFFSET " not in page_query(queries).upper()
    ids = re.findall(r'<tr id="task-([0-9a-f-]{36})"', response.content.decode())
    assert [uuid.UUID(i) for i in ids] == [t.pk for t in tasks[175:200]]
