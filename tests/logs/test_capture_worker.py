"""Live task logs with a real worker on real Redis and PostgreSQL: captured, live, stored.

The demo task ``demo.chatty`` logs through its ``get_task_logger`` logger; nothing
here is mocked or eager.
"""

from __future__ import annotations

import re

import pytest
from celery import current_app

from taskboard import services, tasklog
from taskboard.models import Task, TaskLog
from tests.conftest import finished, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HX = {"HTTP_HX_REQUEST": "true"}


def stored_log(task_id, timeout: float = 30) -> TaskLog:
    """Wait until the task's log is stored and return it."""
    return wait_for(
        lambda: TaskLog.objects.filter(task_id=task_id).first(),
        timeout=timeout,
        message=f"the log of {task_id} to be stored",
    )


def expected(lines: int, message: str = "working") -> list[tuple[str, str]]:
    """Return the (level, message) pairs demo.chatty logs, and the line it prints last."""
    return [
        *(
            ("WARNING", f"{message}: line {n} of {lines} (a warning)")
            if n % 5 == 0
            else ("INFO", f"{message}: line {n} of {lines}")
            for n in range(1, lines + 1)
        ),
        # print() under the worker's worker_redirect_stdouts: a WARNING record.
        ("WARNING", f"{message}: done, {lines} lines"),
    ]


def chatty(user, **params) -> Task:
    return services.task_launch(user=user, name="demo.chatty", params=params)


def test_stored_log_equals_what_the_task_logged(celery_worker, user):
    task = chatty(user, lines=10, interval=0.05, message="stored")
    row = finished(task.pk)
    log = stored_log(task.pk)
    assert row.status == "completed"
    assert [(level, message) for _, level, message in log.entries] == expected(10, "stored")
    assert log.dropped == 0
    assert log.text.splitlines()[0] == "stored: line 1 of 10"
    stamps = [at for at, _, _ in log.entries]
    assert stamps == sorted(stamps)
    assert row.started_at.timestamp() - 1 <= stamps[0] <= row.finished_at.timestamp() + 1


def test_each_task_keeps_only_its_own_lines(celery_worker, user):
    # Two run at once on the session worker's two processes.
    first = chatty(user, lines=10, interval=0.05, message="first")
    second = chatty(user, lines=10, interval=0.05, message="second")
    for task in (first, second):
        finished(task.pk)
    assert [m for _, _, m in stored_log(first.pk).entries] == [m for _, m in expected(10, "first")]
    assert [m for _, _, m in stored_log(second.pk).entries] == [
        m for _, m in expected(10, "second")
    ]


def test_live_log_grows_while_running_and_the_fragment_gives_only_new_lines(
    celery_worker, user, client
):
    client.force_login(user)
    task = chatty(user, lines=10, interval=0.4, message="live")
    url = f"/tasks/{task.pk}/log/"
    shown = wait_for(
        lambda: (chunk := tasklog.read_live(task.pk)) and len(chunk.lines) >= 3 and chunk,
        message="three lines in the live log",
    )
    assert Task.objects.get(pk=task.pk).status == "running"  # read live, not stored
    offset = len(shown.lines)

    response = client.get(f"{url}?offset={offset}", **HX)
    body = response.content.decode()
    if response.status_code == 204:  # no new line in between: ask again later
        body = wait_for(
            lambda: (
                (r := client.get(f"{url}?offset={offset}", **HX)).status_code == 200
                and r.content.decode()
            ),
            message="a newer line",
        )
    numbers = [int(n) for n in re.findall(r"live: line (\d+) of 10", body)]
    assert numbers and numbers[0] == offset + 1
    assert numbers == list(range(offset + 1, offset + 1 + len(numbers)))
    assert f"?offset={offset + len(numbers)}" in body  # the next poll carries the new offset
    assert 'hx-swap-oob="true"' in body

    finished(task.pk)
    stored_log(task.pk)
    last = client.get(f"{url}?offset={offset + len(numbers)}", **HX)
    assert last.status_code == 200
    tail = [int(n) for n in re.findall(r"live: line (\d+) of 10", last.content.decode())]
    assert tail == list(range(offset + len(numbers) + 1, 11))
    assert "hx-trigger" not in last.content.decode()  # ended: polling stops


def test_log_beyond_the_cap_keeps_the_cap_and_says_how_many_were_dropped(
    celery_worker, user, client, settings
):
    cap = settings.TASKBOARD_LOG_MAX_LINES
    task = chatty(user, lines=cap + 150, interval=0, message="flood")
    finished(task.pk)
    log = stored_log(task.pk)
    assert len(log.entries) == cap
    assert log.dropped == 151  # the lines over the cap, and the printed one after them
    assert log.entries[-1][2].startswith(f"flood: line {cap} of {cap + 150}")  # the first kept

    client.force_login(user)
    page = client.get(f"/tasks/{task.pk}/").content.decode()
    assert "151 lines dropped" in page
    download = client.get(f"/tasks/{task.pk}/log/download/").content.decode()
    assert download.endswith("[151 lines dropped: over the log's cap]\n")
    assert len(download.splitlines()) == cap + 1


def test_failed_task_keeps_its_log_up_to_the_failure(celery_worker, user):
    task = chatty(user, lines=10, interval=0, message="doomed", fail_after=3)
    row = finished(task.pk)
    log = stored_log(task.pk)
    assert row.status == "failed"
    assert [(level, message) for _, level, message in log.entries] == [
        *expected(10, "doomed")[:3],
        ("ERROR", "giving up after line 3"),
    ]


def test_cancelled_running_task_keeps_its_log_up_to_the_stop(celery_worker, user):
    task = chatty(user, lines=200, interval=0.1, message="stopped")
    wait_for(
        lambda: len(tasklog.read_live(task.pk).lines) >= 3, message="three lines in the backend"
    )
    services.task_cancel(task=Task.objects.get(pk=task.pk), user=user)
    row = finished(task.pk)
    log = stored_log(task.pk)
    assert row.status == "cancelled"
    messages = [message for _, _, message in log.entries]
    assert 3 <= len(messages) < 200
    assert messages == [message for _, message in expected(200, "stopped")[: len(messages)]]


def test_terminated_task_keeps_the_lines_it_sent(celery_worker, user):
    # Its pool process is killed: the worker's main process stores what reached Redis.
    task = chatty(user, lines=200, interval=0.1, message="terminated")
    wait_for(
        lambda: len(tasklog.read_live(task.pk).lines) >= 3, message="three lines in the backend"
    )
    current_app.control.revoke(str(task.pk), terminate=True)
    row = finished(task.pk)
    log = stored_log(task.pk)
    assert row.status == "cancelled"
    sent = [line.message for line in tasklog.read_live(task.pk).lines]
    assert [message for _, _, message in log.entries] == sent
    assert 3 <= len(sent) < 200
