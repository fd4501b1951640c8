"""HTTP-level tests of a workflow's tree: the detail page, its poll and the workflow cancel."""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import timedelta

import pytest
from celery import current_app
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.inproc import redis_round_trips
from taskboard.models import AuditLog, Task
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
SCRIPT = "<script>alert(1)</script>"


def workflow(owner, members: int = 3, status: str = "running", name: str = "demo.fetch_page"):
    """Create a chord's rows: a root that is the group's first member, the others, a callback."""
    root_id, group_id, callback_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    start = timezone.now() - timedelta(minutes=1)
    rows = [
        TaskFactory.build(
            id=root_id if i == 0 else uuid.uuid4(),
            name=name,
            owner=owner,
            status=status,
            version=2,
            root_id=root_id,
            group_id=group_id,
            chord_id=callback_id,
            created_at=start + timedelta(microseconds=i),
        )
        for i in range(members)
    ]
    rows.append(
        TaskFactory.build(
            id=callback_id,
            name="demo.merge_pages",
            owner=owner,
            status="pending",
            root_id=root_id,
            created_at=start + timedelta(seconds=1),
        )
    )
    return Task.objects.bulk_create(rows)


def tree_poll(response) -> tuple[str, dict]:
    """Return the tree poll's URL and the values it posts, as the page hands them out."""
    element = re.search(r'<div id="tree-poll"[^>]*>', response.content.decode()).group(0)
    url = html.unescape(re.search(r'hx-post="([^"]+)"', element).group(1))
    return url, json.loads(html.unescape(re.search(r'hx-vals="([^"]+)"', element).group(1)))


def oob_ids(response) -> list[str]:
    return re.findall(
        r'<(?:div|p) id="(wf-(?:node|group-head)-[0-9a-f-]{36})"[^>]*hx-swap-oob="true"',
        response.content.decode(),
    )


def test_detail_shows_every_node_and_highlights_the_current_one(alice, user):
    rows = workflow(user)
    body = alice.get(f"/tasks/{rows[1].pk}/").content.decode()
    assert 'id="workflow-tree"' in body
    for row in rows:
        assert f'id="wf-node-{row.pk}"' in body
        assert f'href="/tasks/{row.pk}/"' in body
    current = re.search(rf'<div id="wf-node-{rows[1].pk}" class="([^"]+)"', body).group(1)
    assert "is-current" in current
    assert 'aria-current="page"' in body
    assert "0 of 3 done" in body
    # A step's page leads to its root.
    assert f'<a href="/tasks/{rows[0].pk}/" class="wf-root-link">' in body


def test_detail_of_a_lone_task_has_no_tree(alice, user):
    task = TaskFactory(owner=user)
    assert 'id="workflow-tree"' not in alice.get(f"/tasks/{task.pk}/").content.decode()


def test_detail_htmx_refresh_leaves_the_tree_alone(alice, user):
    rows = workflow(user)
    response = alice.get(f"/tasks/{rows[0].pk}/", headers=HTMX)
    assert 'id="workflow-tree"' not in response.content.decode()


def test_large_group_says_how_many_it_shows(alice, user):
    rows = workflow(user, members=45, status="completed")
    body = alice.get(f"/tasks/{rows[0].pk}/").content.decode()
    assert "showing 20 of 45" in body
    assert "45 of 45 done" in body


def test_failed_node_has_a_retry_button_that_works_without_js(alice, user):
    rows = workflow(user, status="failed")
    body = alice.get(f"/tasks/{rows[0].pk}/").content.decode()
    assert f'<form method="get" action="/tasks/{rows[1].pk}/retry/"' in body


def test_task_names_with_markup_render_inert_in_the_tree(alice, user):
    rows = workflow(user, name=SCRIPT)
    Task.objects.filter(pk=rows[1].pk).update(version=3)
    page = alice.get(f"/tasks/{rows[0].pk}/")
    assert SCRIPT not in page.content.decode()
    assert html.escape(SCRIPT) in page.content.decode()
    url, values = tree_poll(page)
    values["ids"] = values["ids"].replace(f"{rows[1].pk}:3.", f"{rows[1].pk}:2.")
    polled = alice.post(url, values, headers=HTMX).content.decode()
    assert SCRIPT not in polled
    assert html.escape(SCRIPT) in polled


def test_another_users_workflow_is_a_404(alice, other_user):
    rows = workflow(other_user)
    assert alice.get(f"/tasks/{rows[1].pk}/").status_code == 404
    assert alice.post(f"/workflows/{rows[0].pk}/status/", {"ids": ""}).status_code == 404
    assert alice.get(f"/tasks/{rows[1].pk}/cancel-workflow/").status_code == 404
    assert alice.post(f"/tasks/{rows[1].pk}/cancel-workflow/").status_code == 404


def test_tree_poll_anonymous_gets_hx_redirect(client, user):
    rows = workflow(user)
    response = client.post(f"/workflows/{rows[0].pk}/status/", headers=HTMX)
    assert response["HX-Redirect"].startswith("/accounts/login/")


def test_tree_poll_unchanged_answers_no_content(alice, user):
    rows = workflow(user)
    url, values = tree_poll(alice.get(f"/tasks/{rows[0].pk}/"))
    response = alice.post(url, values, headers=HTMX)
    assert response.status_code == 204


def test_tree_poll_swaps_only_the_changed_member_and_its_group_count(alice, user):
    rows = workflow(user)
    url, values = tree_poll(alice.get(f"/tasks/{rows[0].pk}/"))
    Task.objects.filter(pk=rows[2].pk).update(status="completed", version=3)
    response = alice.post(url, values, headers=HTMX)
    assert response.status_code == 200
    assert oob_ids(response) == [f"wf-node-{rows[2].pk}", f"wf-group-head-{rows[0].group_id}"]
    assert "1 of 3 done" in response.content.decode()
    _, following = tree_poll(response)
    assert str(rows[2].pk) not in following["ids"]


def test_tree_poll_swaps_a_lone_node_line(alice, user):
    rows = workflow(user)
    callback = rows[-1]
    url, values = tree_poll(alice.get(f"/tasks/{rows[0].pk}/"))
    Task.objects.filter(pk=callback.pk).update(status="running", version=2)
    response = alice.post(url, values, headers=HTMX)
    assert oob_ids(response) == [f"wf-node-{callback.pk}"]


def test_tree_poll_counts_a_collapsed_member_without_drawing_it(alice, user):
    rows = workflow(user, members=30)
    url, values = tree_poll(alice.get(f"/tasks/{rows[0].pk}/"))
    hidden = rows[25]  # past the twenty a collapsed group shows
    Task.objects.filter(pk=hidden.pk).update(status="completed", version=3)
    response = alice.post(url, values, headers=HTMX)
    assert oob_ids(response) == [f"wf-group-head-{rows[0].group_id}"]
    assert "1 of 30 done" in response.content.decode()


def test_tree_poll_stops_when_the_tree_is_finished(alice, user):
    rows = workflow(user)
    url, values = tree_poll(alice.get(f"/tasks/{rows[0].pk}/"))
    Task.objects.filter(root_id=rows[0].pk).update(status="completed", version=5)
    body = alice.post(url, values, headers=HTMX).content.decode()
    assert '<div id="tree-poll"></div>' in body
    assert "hx-trigger" not in re.search(r'<div id="tree-poll"[^>]*>', body).group(0)


def test_tree_poll_redraws_a_tree_that_grew(alice, user):
    rows = workflow(user)
    url, values = tree_poll(alice.get(f"/tasks/{rows[0].pk}/"))
    TaskFactory(owner=user, root_id=rows[0].pk, parent_id=rows[-1].pk, name="demo.quick")
    response = alice.post(url, values, headers=HTMX)
    assert response["HX-Retarget"] == "#workflow-tree"
    assert response["HX-Reswap"] == "outerHTML"
    assert response.content.decode().startswith('<section id="workflow-tree"')


def test_tree_poll_by_post_needs_the_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    rows = workflow(user)
    page = client.get(f"/tasks/{rows[0].pk}/")
    url, values = tree_poll(page)
    assert client.post(url, values).status_code == 403
    token = json.loads(
        html.unescape(re.search(r"<body hx-headers='([^']*)'", page.content.decode()).group(1))
    )
    assert client.post(url, values, headers={**token, **HTMX}).status_code == 204


def test_tree_poll_refuses_malformed_ids(alice, user):
    rows = workflow(user)
    response = alice.post(f"/workflows/{rows[0].pk}/status/", {"ids": "nope"})
    assert response.status_code == 400


def test_tree_poll_refuses_a_current_that_is_no_task_id(alice, user):
    rows = workflow(user)
    url, values = tree_poll(alice.get(f"/tasks/{rows[0].pk}/"))
    Task.objects.filter(pk=rows[2].pk).update(status="completed", version=3)
    response = alice.post(url, {**values, "current": "None"}, headers=HTMX)
    assert response.status_code == 400 and b"current" in response.content


def test_tree_poll_without_current_draws_the_tree_head(alice, user):
    # The head's Cancel form then goes back to the workflow's root, not to a page id.
    rows = workflow(user)
    url, values = tree_poll(alice.get(f"/tasks/{rows[0].pk}/"))
    Task.objects.filter(pk=rows[2].pk).update(status="completed", version=3)
    values.pop("current", None)
    response = alice.post(url, values, headers=HTMX)
    assert response.status_code == 200 and 'id="cancel-workflow"' in response.content.decode()


def test_tree_poll_never_writes(alice, user):
    rows = workflow(user)
    url, values = tree_poll(alice.get(f"/tasks/{rows[0].pk}/"))
    Task.objects.filter(pk=rows[1].pk).update(version=7)
    with CaptureQueriesContext(connection) as queries:
        alice.post(url, values, headers=HTMX)
    writes = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("SELECT")]
    assert writes == []


@pytest.mark.integration
def test_tree_poll_of_fifty_nodes_is_one_query_and_one_redis_round_trip(alice, user):
    rows = workflow(user, members=49)
    assert len(rows) == 50
    for i, row in enumerate(rows[:-1]):
        current_app.backend.store_result(
            str(row.pk), {"current": i % 4, "total": 4, "message": "page"}, "PROGRESS"
        )
    try:
        url, values = tree_poll(alice.get(f"/tasks/{rows[0].pk}/"))
        assert len(values["ids"].split(",")) == 50
        current_app.backend.store_result(
            str(rows[2].pk), {"current": 3, "total": 4, "message": "page"}, "PROGRESS"
        )
        with CaptureQueriesContext(connection) as queries, redis_round_trips() as trips:
            response = alice.post(url, values, headers=HTMX)
        assert response.status_code == 200
        task_queries = [q for q in queries.captured_queries if '"taskboard_task"' in q["sql"]]
        assert len(task_queries) == 1
        # The rest is every page's: the session, the user and the user's permissions.
        others = [q["sql"] for q in queries.captured_queries if q not in task_queries]
        assert all(
            re.search(r'FROM "(django_session|auth_user|auth_permission)"', s) for s in others
        )
        assert trips == ["MGET"]
        assert oob_ids(response) == [f"wf-node-{rows[2].pk}", f"wf-group-head-{rows[0].group_id}"]
    finally:
        for row in rows:
            current_app.backend.forget(str(row.pk))


def test_tree_poll_request_stays_small_for_a_thousand_nodes(alice, user):
    rows = workflow(user, members=999)
    page = alice.get(f"/tasks/{rows[0].pk}/")
    url, values = tree_poll(page)
    # The ids ride in the body: the request line is the URL alone.
    assert len(f"POST {url} HTTP/1.1") < 100
    assert len(values["ids"].split(",")) == 1000


def test_cancel_workflow_asks_first_without_js(alice, user):
    rows = workflow(user)
    response = alice.get(f"/tasks/{rows[1].pk}/cancel-workflow/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'<form method="post" action="/tasks/{rows[1].pk}/cancel-workflow/"' in body
    assert Task.objects.filter(root_id=rows[0].pk, status="cancelled").count() == 0


def test_cancel_workflow_cancels_every_pending_node_and_audits(alice, user, revokes):
    rows = workflow(user, status="pending")
    done = TaskFactory(owner=user, root_id=rows[0].pk, status="completed")
    response = alice.post(f"/tasks/{rows[1].pk}/cancel-workflow/")
    assert response.status_code == 303
    assert response["Location"] == f"/tasks/{rows[1].pk}/"
    statuses = set(
        Task.objects.filter(root_id=rows[0].pk).exclude(pk=done.pk).values_list("status", flat=True)
    )
    assert statuses == {"cancelled"}
    assert Task.objects.get(pk=done.pk).status == "completed"
    assert sorted(revokes[0]) == sorted(str(r.pk) for r in rows)
    entry = AuditLog.objects.get(action=AuditLog.CANCEL)
    assert entry.count == 4


@pytest.mark.integration
def test_cancel_workflow_asks_running_nodes_to_stop(alice, user, revokes):
    rows = workflow(user, status="running")
    try:
        alice.post(f"/tasks/{rows[0].pk}/cancel-workflow/")
        running = Task.objects.filter(root_id=rows[0].pk, status="running")
        assert running.count() == 3
        assert all(task.cancel_requested for task in running)
        # The callback had not started: it is cancelled at once.
        assert Task.objects.get(pk=rows[-1].pk).status == "cancelled"
    finally:
        for row in rows:
            current_app.backend.forget(str(row.pk))


def test_cancel_workflow_htmx_redirects(alice, user, revokes):
    rows = workflow(user, status="pending")
    response = alice.post(f"/tasks/{rows[1].pk}/cancel-workflow/", headers=HTMX)
    assert response["HX-Redirect"] == f"/tasks/{rows[1].pk}/"


def test_cancel_workflow_needs_the_csrf_token(user, revokes):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    rows = workflow(user, status="pending")
    assert client.post(f"/tasks/{rows[1].pk}/cancel-workflow/").status_code == 403
    assert not Task.objects.filter(status="cancelled").exists()
