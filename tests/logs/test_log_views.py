"""HTTP tests of a task's log: the live fragment, the plain page, the download.

Live lines are written into the real result backend (Redis) the way a worker
writes them (taskboard/tasklog.py); stored logs are TaskLog rows.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.inproc import redis_round_trips
from taskboard import tasklog
from taskboard.models import Task, TaskLog
from tests.factories import TaskFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

HX = {"HTTP_HX_REQUEST": "true"}
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def log_live(task: Task, messages: list[str], level: str = "INFO", logged: int | None = None):
    """Append ``messages`` to the task's live log as a worker does."""
    now = time.time()
    lines = [tasklog.encode(now + i / 1000, level, m) for i, m in enumerate(messages)]
    store = tasklog.store_for()
    store.write({str(task.pk): tasklog.Batch(lines, logged or len(lines))})


def store(task: Task, messages: list[str], dropped: int = 0) -> TaskLog:
    now = time.time()
    return TaskLog.objects.create(
        task=task,
        entries=[[now + i, "INFO", m] for i, m in enumerate(messages)],
        dropped=dropped,
        text="\n".join(messages),
    )


def shown(response) -> list[str]:
    return re.findall(r'<span class="log-message">(.*?)</span>', response.content.decode(), re.S)


def poll_element(response) -> str:
    return re.search(r'<p id="log-poll"[^>]*>', response.content.decode()).group(0)


@pytest.fixture
def running(user):
    return TaskFactory(owner=user, running=True, name="demo.chatty")


def test_fragment_returns_only_the_lines_after_the_offset(alice, running):
    log_live(running, [f"line {n}" for n in range(1, 6)])
    response = alice.get(f"/tasks/{running.pk}/log/?offset=2", **HX)
    assert response.status_code == 200
    assert shown(response) == ["line 3", "line 4", "line 5"]
    element = poll_element(response)
    assert "offset=5" in element
    assert 'hx-trigger="every 2s"' in element
    assert 'hx-swap="beforeend"' in element
    assert 'hx-target="#log-lines"' in element
    assert 'hx-swap-oob="true"' in element
    assert "HX-Request" in response["Vary"]


def test_fragment_with_nothing_new_answers_no_content(alice, running):
    log_live(running, ["one", "two"])
    assert alice.get(f"/tasks/{running.pk}/log/?offset=2", **HX).status_code == 204


def test_fragment_of_a_running_task_costs_one_redis_round_trip_and_no_log_query(alice, running):
    log_live(running, ["one", "two", "three"])
    alice.get(f"/tasks/{running.pk}/log/?offset=1", **HX)  # warm the session
    with CaptureQueriesContext(connection) as queries, redis_round_trips() as trips:
        response = alice.get(f"/tasks/{running.pk}/log/?offset=1", **HX)
    assert shown(response) == ["two", "three"]
    assert trips == ["PIPELINE[3]"]
    assert not [q for q in queries.captured_queries if "taskboard_tasklog" in q["sql"]]
    # session, user, the user's permissions (direct, through groups), the task
    assert len(queries) == 5


def test_ended_task_serves_its_stored_log_and_stops_polling(alice, user):
    task = TaskFactory(owner=user, completed=True)
    store(task, ["a", "b", "c"])
    response = alice.get(f"/tasks/{task.pk}/log/?offset=1", **HX)
    assert shown(response) == ["b", "c"]
    element = poll_element(response)
    assert "hx-trigger" not in element and "hx-get" not in element
    assert "data-finished" in element


def test_stored_log_dropped_lines_are_said_plainly(alice, user):
    task = TaskFactory(owner=user, completed=True)
    store(task, ["kept"], dropped=42)
    page = alice.get(f"/tasks/{task.pk}/").content.decode()
    assert "42 lines dropped" in page


def test_detail_page_shows_the_log_so_far_with_its_poll(alice, running):
    log_live(running, ["first", "second"], level="WARNING")
    response = alice.get(f"/tasks/{running.pk}/")
    body = response.content.decode()
    assert shown(response) == ["first", "second"]
    assert '<span class="log-level">WARNING</span>' in body  # the level in words, not only colour
    assert 'class="log-line log-warning"' in body
    assert "offset=2" in poll_element(response)
    assert f'href="/tasks/{running.pk}/log/download/"' in body
    assert "taskboard/js/tasklog.js" in body


def test_detail_fragment_does_not_redraw_the_log(alice, running):
    log_live(running, ["first"])
    response = alice.get(f"/tasks/{running.pk}/", **HX)
    assert 'id="log-lines"' not in response.content.decode()


def test_log_page_without_javascript_lists_the_lines_and_links_to_newer_ones(alice, running):
    log_live(running, ["one", "two", "three"])
    response = alice.get(f"/tasks/{running.pk}/log/?offset=1")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body
    assert shown(response) == ["two", "three"]
    assert f'href="/tasks/{running.pk}/log/?offset=3"' in body


@pytest.mark.parametrize("offset", ["abc", "-1", "1.5", "9" * 12, "١"])
def test_bad_offset_is_400_with_a_clear_message(alice, running, offset):
    response = alice.get(f"/tasks/{running.pk}/log/", {"offset": offset}, **HX)
    assert response.status_code == 400
    assert "offset must be a whole number" in response.content.decode()


@pytest.mark.parametrize("path", ["log/", "log/?offset=0", "log/download/"])
def test_another_users_log_is_404(client, other_user, running, path):
    log_live(running, ["private"])
    client.force_login(other_user)
    assert client.get(f"/tasks/{running.pk}/{path}").status_code == 404
    assert client.get(f"/tasks/{running.pk}/{path}", **HX).status_code == 404


def test_staff_may_read_anyones_log(client, staff_user, running):
    log_live(running, ["visible to staff"])
    client.force_login(staff_user)
    assert shown(client.get(f"/tasks/{running.pk}/log/", **HX)) == ["visible to staff"]


def test_anonymous_log_fragment_gets_hx_redirect(client, running):
    response = client.get(f"/tasks/{running.pk}/log/", **HX)
    assert "HX-Redirect" in response


def test_download_is_the_whole_stored_log_as_a_text_attachment(alice, user):
    task = TaskFactory(owner=user, failed=True)
    store(task, ["first line", "second\nwith more"], dropped=3)
    response = alice.get(f"/tasks/{task.pk}/log/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="task-{task.pk}.log"'
    text = response.content.decode()
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00 INFO     first line\n", text)
    assert "INFO     second\nwith more\n" in text
    assert text.endswith("[3 lines dropped: over the log's cap]\n")


def test_download_of_a_running_task_is_its_live_log_so_far(alice, running):
    log_live(running, [XSS])
    response = alice.get(f"/tasks/{running.pk}/log/download/")
    assert XSS in response.content.decode()  # plain text: nothing to escape, nothing rendered


def test_log_lines_with_markup_render_inert(alice, running):
    log_live(running, [XSS], level="<b>ERROR</b>")
    for response in (
        alice.get(f"/tasks/{running.pk}/"),
        alice.get(f"/tasks/{running.pk}/log/"),
        alice.get(f"/tasks/{running.pk}/log/?offset=0", **HX),
    ):
        body = response.content.decode()
        assert "<script>alert" not in body
        assert "<img src=x" not in body
        assert "<b>ERROR</b>" not in body
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
        assert 'class="log-line log-info"' in body  # an unknown level draws as info


def test_ended_task_without_a_stored_log_still_shows_what_reached_the_backend(alice, user):
    # A worker killed before it could store the log: what it sent is read live.
    task = TaskFactory(owner=user, failed=True)
    log_live(task, ["sent before the kill"])
    assert shown(alice.get(f"/tasks/{task.pk}/")) == ["sent before the kill"]


def test_task_that_logged_nothing_says_so_once_it_settled(alice, user):
    task = TaskFactory(
        owner=user, completed=True, finished_at=timezone.now() - timedelta(minutes=1)
    )
    body = alice.get(f"/tasks/{task.pk}/").content.decode()
    assert "This task logged nothing." in body
    assert "hx-trigger" not in re.search(r'<p id="log-poll"[^>]*>', body).group(0)


def test_just_ended_task_asks_a_little_longer_for_its_last_lines(alice, user):
    # Its worker sends the last lines right after the end is recorded.
    task = TaskFactory(owner=user, completed=True, finished_at=timezone.now())
    body = alice.get(f"/tasks/{task.pk}/").content.decode()
    assert "hx-trigger" in re.search(r'<p id="log-poll"[^>]*>', body).group(0)


def test_log_unavailable_shows_a_marker_and_keeps_polling(alice, running, monkeypatch):
    def down(*args, **kwargs):
        raise tasklog.LogUnavailable("connection refused")

    monkeypatch.setattr(tasklog.RedisLogs, "read", down)
    response = alice.get(f"/tasks/{running.pk}/log/?offset=0", **HX)
    assert response.status_code == 200
    assert "live log unavailable" in response.content.decode()
    assert "hx-trigger" in poll_element(response)


def test_an_ended_task_whose_live_log_cannot_be_read_never_says_it_logged_nothing(
    alice, user, monkeypatch
):
    # No stored log yet and the result backend down: unknown, so it asks again.
    def down(*args, **kwargs):
        raise tasklog.LogUnavailable("connection refused")

    monkeypatch.setattr(tasklog.RedisLogs, "read", down)
    ended = TaskFactory(owner=user, completed=True)
    response = alice.get(f"/tasks/{ended.pk}/log/?offset=0", **HX)
    body = response.content.decode()
    assert "live log unavailable" in body and "logged nothing" not in body
    assert "hx-trigger" in poll_element(response)


def test_log_views_never_write(alice, running):
    log_live(running, ["one"])
    with CaptureQueriesContext(connection) as queries:
        alice.get(f"/tasks/{running.pk}/log/?offset=0", **HX)
        alice.get(f"/tasks/{running.pk}/log/download/")
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}
        and "django_session" not in q["sql"]
    ]
    assert writes == []
