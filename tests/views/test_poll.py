"""HTTP-level tests of the poll fragment GET /tasks/status/ (DESIGN.md §5)."""

from __future__ import annotations

import html
import json
import re
import uuid

import pytest
from celery import current_app
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from taskboard import live
from taskboard.models import Task

pytestmark = pytest.mark.django_db

STATUS_URL = "/tasks/status/"


def make_task(owner, status="running", **fields) -> Task:
    return Task.objects.create(name="demo.long", status=status, owner=owner, **fields)


def ids_param(*pairs) -> str:
    return ",".join(f"{task.pk}:{token}" for task, token in pairs)


def oob_rows(response) -> list[str]:
    return re.findall(
        r'<template><tr id="task-([0-9a-f-]{36})"[^>]*hx-swap-oob="true"', response.content.decode()
    )


def poll_element(response) -> str:
    return re.search(r'<div id="poll"[^>]*>', response.content.decode()).group(0)


def poll_vals(response) -> dict:
    """Return what the next poll sends in its body (the element's hx-vals)."""
    found = re.search(r'hx-vals="([^"]*)"', poll_element(response))
    return json.loads(html.unescape(found.group(1))) if found else {}


@pytest.fixture
def progress():
    """Store PROGRESS meta for task ids in the real result backend; clean up after."""
    stored = []

    def store(task_id, current: int, total: int) -> None:
        current_app.backend.store_result(
            str(task_id), {"current": current, "total": total, "message": "working"}, "PROGRESS"
        )
        stored.append(str(task_id))

    yield store
    for task_id in stored:
        current_app.backend.forget(task_id)


def test_poll_anonymous_redirects_to_login(client):
    response = client.get(STATUS_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_poll_anonymous_htmx_gets_hx_redirect(client):
    response = client.get(STATUS_URL, headers={"HX-Request": "true"})
    assert response["HX-Redirect"].startswith("/accounts/login/")


def test_poll_unchanged_rows_answer_no_content(alice, user):
    task = make_task(user)
    response = alice.get(STATUS_URL, {"ids": ids_param((task, "1.r"))})
    # 204: htmx swaps nothing and the poll element keeps asking with the same ids.
    assert response.status_code == 204
    assert response.content == b""


def test_poll_dropped_id_answers_a_new_poll_element(alice, user, other_user):
    mine, theirs = make_task(user), make_task(other_user)
    response = alice.get(STATUS_URL, {"ids": ids_param((mine, "1.r"), (theirs, "1.r"))})
    assert response.status_code == 200
    assert oob_rows(response) == []
    assert poll_vals(response) == {"ids": f"{mine.pk}:1.r"}
    assert str(theirs.pk) not in response.content.decode()


def test_poll_unchanged_body_is_small(alice, user):
    task = make_task(user)
    response = alice.get(STATUS_URL, {"ids": ids_param((task, "1.r"))})
    assert len(response.content) < 300


def test_poll_answers_row_whose_version_changed(alice, user):
    task = make_task(user, version=2)
    response = alice.get(STATUS_URL, {"ids": ids_param((task, "1.r"))})
    assert oob_rows(response) == [str(task.pk)]
    assert poll_vals(response) == {"ids": f"{task.pk}:2.r"}


def test_poll_answers_only_changed_rows(alice, user):
    same = make_task(user)
    moved = make_task(user, "completed", version=3)
    response = alice.get(STATUS_URL, {"ids": ids_param((same, "1.r"), (moved, "1.r"))})
    assert oob_rows(response) == [str(moved.pk)]


def test_poll_changed_row_uses_the_table_row_partial(alice, user):
    task = make_task(user, "failed", version=2, error_message="boom")
    body = alice.get(STATUS_URL, {"ids": ids_param((task, "1.r"))}).content.decode()
    assert 'class="task-row status-failed"' in body
    assert f'href="/tasks/{task.pk}/"' in body


def test_poll_state_change_triggers_tab_counts_refresh(alice, user):
    task = make_task(user, "completed", version=2)
    response = alice.get(STATUS_URL, {"ids": ids_param((task, "1.r"))})
    assert response["HX-Trigger"] == "tasks-changed"


def test_poll_unchanged_does_not_trigger_counts_refresh(alice, user):
    task = make_task(user)
    response = alice.get(STATUS_URL, {"ids": ids_param((task, "1.r"))})
    assert "HX-Trigger" not in response


def test_poll_drops_finished_rows_from_the_next_poll(alice, user):
    running = make_task(user)
    done = make_task(user, "completed", version=2)
    response = alice.get(STATUS_URL, {"ids": ids_param((running, "1.r"), (done, "1.r"))})
    poll = poll_element(response)
    assert str(running.pk) in poll
    assert str(done.pk) not in poll


def test_poll_stops_when_nothing_is_in_flight(alice, user):
    done = make_task(user, "completed", version=2)
    response = alice.get(STATUS_URL, {"ids": ids_param((done, "1.r"))})
    poll = poll_element(response)
    assert response.status_code == 200
    assert "hx-post" not in poll
    assert "hx-trigger" not in poll


def test_poll_with_no_ids_stops(alice):
    response = alice.get(STATUS_URL)
    assert response.status_code == 200
    assert "hx-trigger" not in poll_element(response)


def test_poll_drops_other_users_ids_silently(alice, user, other_user):
    mine = make_task(user, version=2)
    theirs = make_task(other_user, version=2)
    response = alice.get(STATUS_URL, {"ids": ids_param((mine, "1.r"), (theirs, "1.r"))})
    assert response.status_code == 200
    assert oob_rows(response) == [str(mine.pk)]
    assert str(theirs.pk) not in response.content.decode()


def test_poll_staff_see_everyones_rows(client, staff_user, other_user):
    theirs = make_task(other_user, version=2)
    client.force_login(staff_user)
    response = client.get(STATUS_URL, {"ids": ids_param((theirs, "1.r"))})
    assert oob_rows(response) == [str(theirs.pk)]


def test_poll_drops_unknown_ids_silently(alice):
    response = alice.get(STATUS_URL, {"ids": f"{uuid.uuid4()}:1.p"})
    assert response.status_code == 200
    assert oob_rows(response) == []
    assert "hx-trigger" not in poll_element(response)


def test_poll_over_the_cap_is_400(alice, settings):
    settings.TASKBOARD_POLL_MAX_CARRIED = 3
    ids = ",".join(f"{uuid.uuid4()}:1.p" for _ in range(4))
    response = alice.get(STATUS_URL, {"ids": ids})
    assert response.status_code == 400
    assert "Too many ids: 4 polled, at most 3 allowed." in response.content.decode()


def test_poll_at_the_cap_is_fine(alice, settings):
    settings.TASKBOARD_POLL_MAX_CARRIED = 3
    ids = ",".join(f"{uuid.uuid4()}:1.p" for _ in range(3))
    assert alice.get(STATUS_URL, {"ids": ids}).status_code == 200


def test_poll_reads_more_rows_than_one_request_reads_in_turns(alice, user, settings):
    settings.TASKBOARD_POLL_MAX_IDS = 2
    tasks = [make_task(user, version=2) for _ in range(5)]
    ids = ids_param(*((t, "1.r") for t in tasks))
    answered = []
    for _ in range(3):
        response = alice.post(STATUS_URL, {"ids": ids})
        assert response.status_code == 200
        answered.append(sorted(oob_rows(response)))
        ids = poll_vals(response)["ids"]
        # Every row still in flight rides along, whether it was read this time or not.
        assert sorted(ids.split(",")) == sorted(
            f"{t.pk}:{'2' if str(t.pk) in sum(answered, []) else '1'}.r" for t in tasks
        )
    assert answered == [sorted(str(t.pk) for t in tasks[i : i + 2]) for i in (0, 2, 4)]
    # All read once: nothing changed, nothing more to answer.
    assert oob_rows(alice.post(STATUS_URL, {"ids": ids})) == []


def test_poll_reads_at_most_the_cap_in_one_query(alice, user, settings):
    settings.TASKBOARD_POLL_MAX_IDS = 2
    tasks = [make_task(user, version=2) for _ in range(5)]
    with CaptureQueriesContext(connection) as queries:
        alice.post(STATUS_URL, {"ids": ids_param(*((t, "1.r") for t in tasks))})
    (read,) = [q["sql"] for q in queries.captured_queries if "taskboard_task" in q["sql"]]
    assert sum(str(t.pk).replace("-", "") in read.replace("-", "") for t in tasks) == 2


def test_poll_by_post_answers_as_get(alice, user):
    task = make_task(user, version=2)
    params = {"ids": ids_param((task, "1.r"))}
    posted, got = alice.post(STATUS_URL, params), alice.get(STATUS_URL, params)
    assert posted.status_code == got.status_code == 200
    assert oob_rows(posted) == oob_rows(got) == [str(task.pk)]
    assert poll_vals(posted) == poll_vals(got)


def test_poll_by_post_needs_the_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    task = make_task(user, version=2)
    params = {"ids": ids_param((task, "1.r"))}
    assert client.post(STATUS_URL, params).status_code == 403
    # As htmx sends it: the token of the page's <body hx-headers>, in X-CSRFToken.
    page = client.get("/tasks/").content.decode()
    token = json.loads(html.unescape(re.search(r"<body hx-headers='([^']*)'", page).group(1)))
    response = client.post(STATUS_URL, params, headers=token)
    assert response.status_code == 200
    assert oob_rows(response) == [str(task.pk)]


def test_poll_by_post_never_writes(alice, user):
    tasks = [make_task(user, status, version=2) for status in ("pending", "running", "completed")]
    with CaptureQueriesContext(connection) as queries:
        response = alice.post(STATUS_URL, {"ids": ids_param(*((t, "1.p") for t in tasks))})
    assert response.status_code == 200
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].lstrip().upper().startswith(("SELECT", "SAVEPOINT", "RELEASE"))
    ]
    assert writes == []


@pytest.mark.parametrize(
    "ids",
    ["not-a-uuid:1.p", f"{uuid.uuid4()}", f"{uuid.uuid4()}:", f"{uuid.uuid4()}:<script>"],
)
def test_poll_malformed_ids_are_400(alice, ids):
    response = alice.get(STATUS_URL, {"ids": ids})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert "Malformed" in response.content.decode()


def test_poll_never_writes(alice, user):
    tasks = [make_task(user, status, version=2) for status in ("pending", "running", "completed")]
    with CaptureQueriesContext(connection) as queries:
        alice.get(STATUS_URL, {"ids": ids_param(*((t, "1.p") for t in tasks))})
    task_writes = [
        q["sql"]
        for q in queries.captured_queries
        if "taskboard_task" in q["sql"] and not q["sql"].lstrip().upper().startswith("SELECT")
    ]
    assert task_writes == []


@pytest.mark.parametrize("rows", [5, 50])
def test_poll_query_count_is_constant(alice, user, django_assert_num_queries, rows):
    tasks = Task.objects.bulk_create(
        [Task(name="demo.long", status="running", owner=user) for _ in range(rows)]
    )
    ids = ids_param(*((t, "0.r") for t in tasks))
    # session, user, the user's permissions (direct, through groups), the polled rows,
    # and which of the rows in flight the user rang the bell of
    with django_assert_num_queries(6):
        response = alice.get(STATUS_URL, {"ids": ids})
    assert len(oob_rows(response)) == rows


def test_poll_live_unavailable_shows_marker_and_keeps_rows(alice, user, monkeypatch):
    def down(task_ids):
        raise live.LiveStatusUnavailable("connection refused")

    monkeypatch.setattr(live, "live_metas", down)
    task = make_task(user, version=2)
    response = alice.get(STATUS_URL, {"ids": ids_param((task, "1.r"))})
    body = response.content.decode()
    assert response.status_code == 200
    assert oob_rows(response) == []
    assert '<span id="live-marker" class="live-marker" role="status" hx-swap-oob="true">' in body
    assert "Live status unavailable" in body
    # Polling goes on with the tokens the page shows, so that it recovers.
    assert poll_vals(response) == {"ids": f"{task.pk}:1.r", "down": "1"}
    assert "hx-trigger" in poll_element(response)


def test_poll_live_unavailable_still_answers_finished_rows(alice, user, monkeypatch):
    def down(task_ids):
        raise live.LiveStatusUnavailable("connection refused")

    monkeypatch.setattr(live, "live_metas", down)
    running = make_task(user)
    done = make_task(user, "failed", version=2)
    response = alice.get(STATUS_URL, {"ids": ids_param((running, "1.r"), (done, "1.r"))})
    assert oob_rows(response) == [str(done.pk)]


def test_poll_recovery_clears_the_marker(alice, user):
    task = make_task(user, "completed")
    body = alice.get(STATUS_URL, {"ids": ids_param((task, "1.c")), "down": "1"}).content.decode()
    assert (
        '<span id="live-marker" class="live-marker" role="status" hx-swap-oob="true" hidden>'
        in body
    )


def test_poll_healthy_answer_has_no_marker(alice, user):
    task = make_task(user)
    body = alice.get(STATUS_URL, {"ids": ids_param((task, "1.r"))}).content.decode()
    assert "live-marker" not in body


@pytest.mark.integration  # CI=true fails, not skips, without Redis
def test_poll_real_redis_down_shows_marker(alice, user, monkeypatch):
    """Point the result backend at a closed port: the real client fails, the poll does not."""
    backend = current_app.backend
    if not hasattr(backend, "client"):
        pytest.skip("needs the Redis result backend")
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    monkeypatch.setattr(backend, "client", dead)
    task = make_task(user)
    response = alice.get(STATUS_URL, {"ids": ids_param((task, "1.r"))})
    assert response.status_code == 200
    assert "Live status unavailable" in response.content.decode()


@pytest.mark.integration
def test_poll_answers_row_whose_progress_changed(alice, user, progress):
    task = make_task(user)
    progress(task.pk, 2, 8)
    response = alice.get(STATUS_URL, {"ids": ids_param((task, "1.r"))})
    body = response.content.decode()
    assert oob_rows(response) == [str(task.pk)]
    assert '<progress class="bar" max="100" value="25"' in body
    assert poll_vals(response) == {"ids": f"{task.pk}:1.r25"}
    # Progress alone does not move the tab counts.
    assert "HX-Trigger" not in response


@pytest.mark.integration
def test_poll_unchanged_progress_answers_nothing(alice, user, progress):
    task = make_task(user)
    progress(task.pk, 2, 8)
    response = alice.get(STATUS_URL, {"ids": ids_param((task, "1.r25"))})
    assert oob_rows(response) == []


@pytest.mark.integration
@pytest.mark.parametrize("rows", [1, 50])
def test_poll_reads_live_state_in_one_redis_round_trip(alice, user, progress, monkeypatch, rows):
    backend = current_app.backend
    client = backend.client
    commands: list[str] = []
    real = client.execute_command

    def spy(*args, **options):
        commands.append(args[0])
        return real(*args, **options)

    tasks = Task.objects.bulk_create(
        [Task(name="demo.long", status="running", owner=user) for _ in range(rows)]
    )
    progress(tasks[0].pk, 1, 4)
    monkeypatch.setattr(client, "execute_command", spy)
    response = alice.get(STATUS_URL, {"ids": ids_param(*((t, "1.r") for t in tasks))})
    assert commands == ["MGET"]
    assert len(oob_rows(response)) == 1


def test_poll_row_names_the_owner_for_staff_only(client, alice, user, staff_user):
    task = make_task(user, version=2)
    params = {"ids": ids_param((task, "1.r"))}
    assert 'class="c-owner"' not in alice.get(STATUS_URL, params).content.decode()
    client.force_login(staff_user)
    body = client.get(STATUS_URL, params).content.decode()
    assert re.search(r'<td class="c-owner">\s*alice\s*</td>', body)


def test_poll_redrawn_row_is_the_table_row(alice, user):
    # The poll reads only a row's shown fields; what it draws must equal the table's row.
    task = make_task(user, version=2, args=[1, "two"], kwargs={"steps": 3})
    polled = alice.get(STATUS_URL, {"ids": ids_param((task, "1.r"))}).content.decode()
    page = alice.get("/tasks/").content.decode()

    def row(body: str) -> str:
        html = re.search(rf'<tr id="task-{task.pk}".*?</tr>', body, re.S).group(0)
        html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "csrf", html)  # masked anew
        return html.replace(' hx-swap-oob="true"', "")

    assert row(polled) == row(page)


def test_a_polled_row_goes_back_to_the_task_list_after_an_action(alice, user):
    # The poll draws rows without the page's URL: their action forms return to the list.
    task = make_task(user, version=2)
    response = alice.post(STATUS_URL, {"ids": ids_param((task, "1.r"))})
    assert oob_rows(response) == [str(task.pk)]
    assert 'name="next" value="/tasks/"' in response.content.decode()
