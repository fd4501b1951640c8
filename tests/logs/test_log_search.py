"""The table's search box matches the stored logs of finished tasks (full text on PostgreSQL)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from taskboard.filters import _log_matches
from taskboard.models import TaskLog
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def listed(response) -> set[str]:
    return set(re.findall(r'<tr id="task-([0-9a-f-]{36})"', response.content.decode()))


def with_log(owner, text: str, **traits):
    task = TaskFactory(owner=owner, **(traits or {"completed": True}))
    TaskLog.objects.create(task=task, entries=[[0, "INFO", text]], text=text)
    return task


def test_search_finds_a_task_by_words_of_its_stored_log(alice, user):
    hit = with_log(user, "Connection timeout on db7 while fetching page 3")
    with_log(user, "all fine")
    assert listed(alice.get("/tasks/", {"q": "db7 timeouts"})) == {str(hit.pk)}


def test_search_does_not_show_another_users_task_by_its_log(alice, user, other_user):
    with_log(other_user, "needle in a haystack")
    assert listed(alice.get("/tasks/", {"q": "needle"})) == set()


def test_search_without_q_does_not_read_the_logs(alice, user):
    with_log(user, "anything")
    with CaptureQueriesContext(connection) as queries:
        alice.get("/tasks/")
    assert not [q for q in queries.captured_queries if "taskboard_tasklog" in q["sql"]]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the GIN index is PostgreSQL's")
def test_log_search_can_use_its_gin_index():
    # With sequential scans off, a plan that still reads the table means the search's
    # expression is not the index's (migration 0004): the index would never be used.
    sql, params = _log_matches("timeout db7").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "tasklog_search_idx" in plan, plan
