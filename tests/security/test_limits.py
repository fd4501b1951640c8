"""Bounded work: the poll's id cap, and large results and tracebacks capped (issue 4).

Where the full value is kept: the database keeps at most TASKBOARD_RESULT_MAX_BYTES
of a result and TASKBOARD_TRACEBACK_MAX_BYTES of an error message or traceback,
marked as truncated. The result backend (Redis) keeps the task's full return value,
exception and traceback until ``result_expires`` (CELERY_RESULT_EXPIRES), where
``AsyncResult(id)`` reads them; after that only the capped copy in the database is left.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from celery import current_app
from celery.result import AsyncResult
from django.conf import settings
from django.test import Client

from taskboard import services, states
from taskboard.models import Task
from tests.conftest import wait_for

STATUS_URL = "/tasks/status/"
BIG = 1024 * 1024  # 1 MiB: far above both caps


def ids(task_ids, token: str = "1.r") -> str:
    return ",".join(f"{task_id}:{token}" for task_id in task_ids)


# --- the poll's cap ----------------------------------------------------------------


@pytest.mark.django_db
def test_poll_with_10000_ids_is_400_naming_the_cap(alice):
    response = alice.get(STATUS_URL, {"ids": ids(uuid.uuid4() for _ in range(10_000))})
    assert response.status_code == 400
    cap = settings.TASKBOARD_POLL_MAX_CARRIED
    assert response.content.decode().startswith("Too many ids: ")
    assert response.content.decode().endswith(f"at most {cap} allowed.")


@pytest.mark.django_db
def test_poll_with_10000_ids_reads_no_task_rows(alice, django_assert_max_num_queries):
    raw = ids(uuid.uuid4() for _ in range(10_000))
    # The session and the user only: refused before any task is read.
    with django_assert_max_num_queries(2) as queries:
        alice.get(STATUS_URL, {"ids": raw})
    assert not any("taskboard_task" in q["sql"] for q in queries.captured_queries)


@pytest.mark.django_db
def test_poll_over_the_cap_within_the_length_limit_is_400(alice, settings):
    settings.TASKBOARD_POLL_MAX_CARRIED = 5
    response = alice.get(STATUS_URL, {"ids": ids(uuid.uuid4() for _ in range(6))})
    assert response.status_code == 400
    assert response.content.decode() == "Too many ids: 6 polled, at most 5 allowed."


@pytest.mark.django_db
def test_poll_with_10000_malformed_ids_is_400_without_task_queries(
    alice, django_assert_max_num_queries
):
    raw = ",".join(f"not-a-uuid-{i}:1.r" for i in range(10_000))
    with django_assert_max_num_queries(2):
        response = alice.get(STATUS_URL, {"ids": raw})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
def test_poll_malformed_id_within_the_limit_names_it(alice):
    response = alice.get(STATUS_URL, {"ids": f"{uuid.uuid4()}:1.r,<script>:1.r"})
    assert response.status_code == 400
    assert response.content.decode() == ("Malformed task id '<script>'.")


@pytest.mark.django_db
def test_poll_malformed_message_is_plain_text_not_html(alice):
    response = alice.get(STATUS_URL, {"ids": "<img src=x onerror=alert(1)>"})
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.django_db
def test_poll_at_the_cap_takes_one_task_query(alice, user, django_assert_max_num_queries):
    cap = settings.TASKBOARD_POLL_MAX_IDS
    own = [
        Task.objects.create(name="demo.long", status="running", owner=user).pk for _ in range(20)
    ]
    polled = own + [uuid.uuid4() for _ in range(cap - len(own))]
    # session, user, the user's permissions (direct, through groups), the polled rows
    with django_assert_max_num_queries(5) as queries:
        response = alice.get(STATUS_URL, {"ids": ids(polled)})
    assert response.status_code == 200
    assert sum("taskboard_task" in q["sql"] for q in queries.captured_queries) == 1


# --- capped in the database ---------------------------------------------------------


def running(owner, name: str = "demo.quick") -> Task:
    return Task.objects.create(name=name, status="running", owner=owner)


@pytest.mark.django_db
def test_large_result_is_capped_in_the_database(user):
    task = running(user)
    services.track_succeeded(task_id=task.pk, result="r" * BIG)
    task.refresh_from_db()
    assert task.status == "completed"
    assert task.result_truncated is True
    stored = json.dumps(task.result).encode()
    assert len(stored) < settings.TASKBOARD_RESULT_MAX_BYTES + 200
    assert "[truncated: " in task.result["preview"]


@pytest.mark.django_db
def test_result_under_the_cap_is_kept_whole(user):
    task = running(user)
    services.track_succeeded(task_id=task.pk, result={"rows": ["x" * 100] * 10})
    task.refresh_from_db()
    assert task.result_truncated is False
    assert task.result == {"rows": ["x" * 100] * 10}


@pytest.mark.django_db
def test_large_error_message_and_traceback_are_capped_in_the_database(user):
    task = running(user, "demo.fail")
    services.track_failed(task_id=task.pk, exception=ValueError("m" * BIG), traceback="t" * BIG)
    task.refresh_from_db()
    cap = settings.TASKBOARD_TRACEBACK_MAX_BYTES
    assert task.status == "failed"
    assert len(task.error_message.encode()) < cap + 100
    assert len(task.traceback.encode()) < cap + 100
    assert task.traceback.endswith(f"… [truncated: {BIG - cap} more bytes]")


@pytest.mark.django_db
def test_reconciler_caps_a_large_result_read_from_the_backend(user):
    task = running(user)
    services.apply_backend_meta(task.pk, {"status": "SUCCESS", "result": ["r" * BIG]})
    task.refresh_from_db()
    assert task.status == "completed"
    assert task.result_truncated is True


@pytest.mark.django_db
def test_reconciler_caps_a_large_traceback_read_from_the_backend(user):
    task = running(user)
    meta = {
        "status": "FAILURE",
        "result": {"exc_type": "ValueError", "exc_message": ["m" * BIG]},
        "traceback": "t" * BIG,
    }
    services.apply_backend_meta(task.pk, meta)
    task.refresh_from_db()
    assert task.status == "failed"
    assert "[truncated: " in task.error_message
    assert "[truncated: " in task.traceback


@pytest.mark.django_db
def test_nul_in_a_result_still_completes_the_row(user):
    # PostgreSQL's jsonb refuses \u0000: the write used to fail and the row stay running.
    task = running(user)
    services.track_succeeded(task_id=task.pk, result={"a\x00": ["x\x00y", "\\u0000 kept"]})
    task.refresh_from_db()
    assert task.status == "completed"
    assert task.result == {"a\ufffd": ["x\ufffdy", "\\u0000 kept"]}


@pytest.mark.django_db
def test_nul_in_an_error_still_fails_the_row(user):
    task = running(user, "demo.fail")
    services.track_failed(task_id=task.pk, exception=ValueError("bad\x00"), traceback="tb\x00")
    task.refresh_from_db()
    assert task.status == "failed"
    assert task.error_message == "bad\ufffd"
    assert task.traceback == "tb\ufffd"


def test_cap_text_counts_bytes_not_characters(settings):
    settings.TASKBOARD_TRACEBACK_MAX_BYTES = 10
    capped = states.cap_text("é" * 10)  # 20 bytes
    assert capped == "ééééé\n… [truncated: 10 more bytes]"


# --- capped on the page -------------------------------------------------------------


@pytest.fixture
def big_failure(user) -> Task:
    task = running(user, "demo.fail")
    services.track_failed(task_id=task.pk, exception=ValueError("m" * BIG), traceback="t" * BIG)
    task.refresh_from_db()
    return task


@pytest.fixture
def big_result(user) -> Task:
    task = running(user)
    services.track_succeeded(task_id=task.pk, result={"data": "r" * BIG})
    task.refresh_from_db()
    return task


@pytest.mark.django_db
def test_detail_shows_a_capped_result_and_says_so(alice, big_result):
    body = alice.get(f"/tasks/{big_result.pk}/").content.decode()
    assert "The result was larger than the stored limit and is shown truncated." in body
    assert "[truncated: " in body
    assert len(body) < 2 * settings.TASKBOARD_RESULT_MAX_BYTES


@pytest.mark.django_db
def test_detail_shows_a_capped_traceback_and_says_so(alice, big_failure):
    body = alice.get(f"/tasks/{big_failure.pk}/").content.decode()
    assert re.search(r'<pre id="traceback"[^>]*>t+\n… \[truncated: \d+ more bytes\]</pre>', body)
    # The message and the traceback, each capped: nowhere near the 2 MiB produced.
    assert len(body) < 3 * settings.TASKBOARD_TRACEBACK_MAX_BYTES


@pytest.mark.django_db
def test_table_row_shows_a_short_error_line(alice, big_failure):
    body = alice.get("/tasks/").content.decode()
    row = re.search(rf'<tr id="task-{big_failure.pk}".*?</tr>', body, re.S).group(0)
    assert len(row) < 4_000


@pytest.mark.django_db
def test_poll_answers_a_short_row_for_a_large_failure(alice, big_failure):
    # The page drew it running; the poll answers the failed row, small.
    response = alice.get(STATUS_URL, {"ids": f"{big_failure.pk}:1.r"})
    assert f'id="task-{big_failure.pk}"' in response.content.decode()
    assert len(response.content) < 4_000


@pytest.mark.django_db
def test_table_row_shows_short_arguments(alice, user):
    task = Task.objects.create(
        name="demo.quick", status="completed", owner=user, args=["a" * BIG], kwargs={}
    )
    body = alice.get("/tasks/").content.decode()
    row = re.search(rf'<tr id="task-{task.pk}".*?</tr>', body, re.S).group(0)
    assert len(row) < 4_000


# --- the full value, where it was kept: the result backend ----------------------------


def _finished(task_id) -> Task | None:
    row = Task.objects.filter(pk=task_id).first()
    return row if row and row.is_terminal else None


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_large_result_is_capped_in_the_database_and_whole_in_the_backend(celery_worker, user):
    # Sent from code, as integrators do: quick returns x + y, here a 200 kB string.
    x, y = "a" * 100_000, "b" * 100_000
    sent = current_app.send_task("demo.quick", kwargs={"x": x, "y": y})
    try:
        row = wait_for(lambda: _finished(sent.id), message="the quick task to finish")
        assert row.status == "completed"
        assert row.result_truncated is True
        assert len(json.dumps(row.result)) < settings.TASKBOARD_RESULT_MAX_BYTES + 200
        assert AsyncResult(sent.id).get(timeout=10) == x + y
        backend = current_app.backend
        ttl = backend.client.ttl(backend.get_key_for_task(sent.id))
        assert 0 < ttl <= settings.CELERY_RESULT_EXPIRES
    finally:
        AsyncResult(sent.id).forget()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_large_failure_is_capped_in_the_database_and_whole_in_the_backend(celery_worker, user):
    message = "m" * 100_000
    sent = current_app.send_task("demo.fail", kwargs={"message": message})
    try:
        row = wait_for(lambda: _finished(sent.id), message="the fail task to finish")
        cap = settings.TASKBOARD_TRACEBACK_MAX_BYTES
        assert row.status == "failed"
        assert "[truncated: " in row.error_message
        assert len(row.error_message.encode()) < cap + 100
        assert len(row.traceback.encode()) < cap + 100
        kept = AsyncResult(sent.id)
        assert message in str(kept.result)
        assert message in kept.traceback
        client = Client()
        client.force_login(user)
        Task.objects.filter(pk=sent.id).update(owner=user)
        body = client.get(f"/tasks/{sent.id}/").content.decode()
        assert "[truncated: " in body
    finally:
        AsyncResult(sent.id).forget()
