"""The task table and workflows: roots only by default, every step on demand, counts per root."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from taskboard.models import Task
from tests.factories import TaskFactory
from tests.workflows.test_workflow_views import workflow

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def row_ids(body: str) -> set[str]:
    return set(re.findall(r'<tr id="task-([0-9a-f-]{36})"', body))


def test_table_shows_roots_and_lone_tasks_by_default(alice, user):
    rows = workflow(user)
    lone = TaskFactory(owner=user)
    assert row_ids(alice.get("/tasks/").content.decode()) == {str(rows[0].pk), str(lone.pk)}


def test_table_shows_every_step_when_asked(alice, user):
    rows = workflow(user)
    body = alice.get("/tasks/?steps=all").content.decode()
    assert row_ids(body) == {str(r.pk) for r in rows}
    # A step links to its root; the filter stays selected (bookmarkable).
    assert f'<a class="wf-step-of" href="/tasks/{rows[0].pk}/">' in body
    assert '<option value="all" selected>' in body


def test_steps_filter_is_pushed_to_the_url(alice, user):
    workflow(user)
    response = alice.get("/tasks/?steps=all&q=", headers=HTMX)
    assert response["HX-Push-Url"] == "/tasks/?steps=all"


def test_root_row_shows_the_workflows_state_and_counts(alice, user):
    rows = workflow(user, status="completed")
    Task.objects.filter(pk=rows[1].pk).update(status="failed")
    body = alice.get("/tasks/").content.decode()
    summary = re.search(r'<a class="wf-summary[^"]*"[^>]*>([^<]*)</a>', body).group(1)
    # Three members (one failed) and a pending callback: the workflow is still in flight.
    assert summary == "workflow pending: 2 of 4 done, 1 failed"


def test_workflow_counts_cost_one_query_for_all_roots_on_the_page(alice, user):
    for _ in range(3):
        workflow(user)
    with CaptureQueriesContext(connection) as with_roots:
        alice.get("/tasks/", headers=HTMX)
    Task.objects.all().delete()
    for _ in range(3):
        TaskFactory(owner=user)
    with CaptureQueriesContext(connection) as lone:
        alice.get("/tasks/", headers=HTMX)
    counts = [q["sql"] for q in with_roots.captured_queries if '"root_id" IN' in q["sql"]]
    assert len(counts) == 1
    assert len(with_roots) == len(lone) + 1


def test_poll_keeps_the_counts_of_a_root_row_it_redraws(alice, user):
    rows = workflow(user)
    Task.objects.filter(pk=rows[0].pk).update(status="completed", version=3)
    body = alice.get("/tasks/status/", {"ids": f"{rows[0].pk}:2.r"}).content.decode()
    assert "workflow running: 1 of 4 done" in body


def _root_poll_item(body: str, root) -> str | None:
    found = re.search(rf'<tr id="task-{root.pk}"[^>]*data-poll="([^"]+)"', body)
    return found and found.group(1)


def test_a_finished_root_is_polled_while_its_workflow_runs_and_redrawn_as_steps_move(alice, user):
    # The chord's first fetch (its root) is done, the others run: the root's row says
    # "workflow running", and must not keep saying it once they have all finished.
    rows = workflow(user)
    Task.objects.filter(pk=rows[0].pk).update(status="completed", version=3)
    item = _root_poll_item(alice.get("/tasks/").content.decode(), rows[0])
    assert item is not None

    Task.objects.filter(pk__in=[r.pk for r in rows[1:]]).update(status="completed", version=3)
    body = alice.get("/tasks/status/", {"ids": item}).content.decode()
    summary = re.search(r'<a class="wf-summary[^"]*"[^>]*>([^<]*)</a>', body).group(1)
    assert summary == "workflow completed: 4 of 4 done"
    # Nothing of it is in flight any more: the next poll carries it no longer.
    assert _root_poll_item(body, rows[0]) is None
    assert str(rows[0].pk) not in re.search(r'<div id="poll"[^>]*>', body).group(0)
