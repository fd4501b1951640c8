"""Launch later at the HTTP level: the form's When fields, send now, cancel, the tab and badge."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.test import Client
from django.utils import timezone

from taskboard.models import AuditLog, Task
from tests.conftest import QUEUE
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
HX_ROWS = {**HX, "HTTP_X_TASKBOARD_ROWS": "1"}
PARAMS = {"x": "4", "y": "5"}
# Where "send now" sends the fixture's row: a queue no worker reads, emptied after each
# test (the session's worker would run it, and record a row for it, in a later test).
LATER_QUEUE = f"{QUEUE}-later-views"


@pytest.fixture(autouse=True)
def _empty_queue():
    yield
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(LATER_QUEUE)


@pytest.fixture
def client_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def scheduled(user) -> Task:
    return TaskFactory(
        owner=user,
        status="scheduled",
        run_at=timezone.now() + timedelta(hours=1),
        queue=LATER_QUEUE,
    )


def in_one_hour() -> dict:
    return {**PARAMS, "later-when": "in", "later-amount": "1", "later-unit": "hours"}


# --- the launch form ----------------------------------------------------------------


def test_the_form_offers_now_at_and_in(client_in):
    body = client_in.get("/launch/demo.quick/").content.decode()
    assert 'name="later-when" value="now"' in body and "checked" in body
    assert 'type="datetime-local" name="later-at"' in body
    assert 'name="later-amount"' in body and 'name="later-unit"' in body
    assert "Time zone UTC." in body


def test_a_retry_with_changes_and_a_workflow_run_now(client_in, user):
    old = TaskFactory(owner=user, name="demo.quick", status="failed")
    for path in (f"/launch/demo.quick/?retry_of={old.pk}", "/launch/demo.pages/"):
        response = client_in.get(path)
        assert response.status_code == 200
        assert 'id="launch-form"' in response.text and "later-when" not in response.text


def test_launch_in_one_hour_is_scheduled_and_sends_nothing(
    client_in, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_in.post("/launch/demo.quick/", in_one_hour(), follow=True)
    task = Task.objects.get()
    assert task.status == "scheduled" and callbacks == []
    assert timezone.now() + timedelta(minutes=59) < task.run_at
    assert response.redirect_chain[-1] == (f"/tasks/{task.pk}/", 303)
    body = response.content.decode()
    assert "Scheduled “Add two numbers” for" in body
    assert 'class="badge badge-scheduled" data-status="scheduled">Scheduled<' in body
    assert "<dt>Due</dt>" in body and 'id="send-now-button"' in body


def test_launch_at_a_time_reads_it_in_the_current_time_zone(client_in, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    local = (timezone.localtime() + timedelta(days=1)).replace(second=0, microsecond=0)
    data = {**PARAMS, "later-when": "at", "later-at": local.strftime("%Y-%m-%dT%H:%M")}
    assert client_in.post("/launch/demo.quick/", data).status_code == 303
    assert Task.objects.get().run_at == local


def test_launch_later_from_the_dialog_answers_the_scheduled_row(client_in):
    response = client_in.post("/launch/demo.quick/", in_one_hour(), **HX_ROWS)
    task = Task.objects.get()
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert response["HX-Retarget"] == "#task-rows"
    assert f'id="task-{task.pk}"' in body and "badge-scheduled" in body
    assert 'class="due"' in body
    trigger = json.loads(response["HX-Trigger"])
    assert "tasks-changed" in trigger
    assert trigger["taskboard:launched"]["notice"].startswith("Scheduled “Add two numbers” for ")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"later-when": "at", "later-at": "2001-01-01T10:00"}, "Choose a time in the future."),
        ({"later-when": "in"}, "Say in how many minutes or hours."),
        (
            {"later-when": "in", "later-amount": "400", "later-unit": "days"},
            "Select a valid choice.",
        ),
    ],
)
def test_a_wrong_time_is_shown_on_the_full_page_and_launches_nothing(client_in, data, message):
    response = client_in.post("/launch/demo.quick/", {**PARAMS, **data})
    body = response.content.decode()
    assert response.status_code == 200 and "<html" in body
    assert message in body
    assert 'value="4"' in body  # the parameters are kept
    assert not Task.objects.exists()


def test_a_wrong_time_in_the_dialog_is_a_422_fragment_with_both_errors(client_in):
    data = {"x": "nope", "y": "5", "later-when": "in", "later-amount": "0"}
    response = client_in.post("/launch/demo.quick/", data, **HX_ROWS)
    body = response.content.decode()
    assert response.status_code == 422 and "<html" not in body
    assert response["HX-Retarget"] == "#launch-form-pane"
    assert "Enter a whole number." in body
    assert "greater than or equal to 1" in body
    assert re.search(r'name="later-when" value="in"[^>]*checked', body)
    assert not Task.objects.exists()


def test_a_scheduled_launch_is_refused_beyond_the_rate_limit(client_in, settings):
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 1
    assert client_in.post("/launch/demo.quick/", in_one_hour()).status_code == 303
    response = client_in.post("/launch/demo.quick/", in_one_hour(), **HX_ROWS)
    assert response.status_code == 429
    assert Task.objects.count() == 1


# --- send now -------------------------------------------------------------------------


def test_send_now_get_is_a_confirmation_page_that_writes_nothing(client_in, scheduled):
    response = client_in.get(f"/tasks/{scheduled.pk}/send-now/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Really send now" in body and "due <time" in body
    assert f'action="/tasks/{scheduled.pk}/send-now/"' in body
    assert Task.objects.get(pk=scheduled.pk).status == "scheduled"


def test_send_now_post_sends_it_and_goes_back(client_in, scheduled):
    response = client_in.post(f"/tasks/{scheduled.pk}/send-now/")
    assert response.status_code == 303
    assert response["Location"] == f"/tasks/{scheduled.pk}/"
    assert Task.objects.get(pk=scheduled.pk).status == "pending"
    assert AuditLog.objects.filter(action=AuditLog.SEND_NOW).count() == 1


def test_send_now_htmx_answers_the_detail_fragment(client_in, scheduled):
    response = client_in.post(f"/tasks/{scheduled.pk}/send-now/", **HX)
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert 'id="task-detail"' in body and "Sent now." in body
    assert 'data-status="pending"' in body and "send-now-button" not in body
    assert response["HX-Trigger"] == "tasks-changed"


def test_send_now_of_a_row_no_longer_scheduled_is_409(client_in, user):
    sent = TaskFactory(owner=user, status="pending")
    assert client_in.get(f"/tasks/{sent.pk}/send-now/").status_code == 409
    response = client_in.post(f"/tasks/{sent.pk}/send-now/", **HX)
    assert response.status_code == 409
    assert "no longer scheduled" in response.content.decode()


def test_send_now_and_cancel_of_another_users_task_are_404(client, other_user, scheduled):
    client.force_login(other_user)
    for path in ("send-now", "cancel"):
        assert client.get(f"/tasks/{scheduled.pk}/{path}/").status_code == 404
        assert client.post(f"/tasks/{scheduled.pk}/{path}/").status_code == 404
    assert Task.objects.get(pk=scheduled.pk).status == "scheduled"


def test_send_now_without_csrf_token_is_403(user, scheduled):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(f"/tasks/{scheduled.pk}/send-now/").status_code == 403
    assert Task.objects.get(pk=scheduled.pk).status == "scheduled"


# --- cancel, the row, the tab ----------------------------------------------------------


def test_cancel_from_the_row_cancels_it_without_a_revoke(client_in, scheduled, revokes):
    response = client_in.post(
        f"/tasks/{scheduled.pk}/cancel/", HTTP_HX_TARGET=f"task-{scheduled.pk}", **HX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert f'id="task-{scheduled.pk}"' in body and "badge-cancelled" in body
    assert response["HX-Trigger"] == "tasks-changed"
    assert revokes == []
    assert Task.objects.get(pk=scheduled.pk).status == "cancelled"


def test_cancel_confirmation_page_says_it_never_runs(client_in, scheduled):
    body = client_in.get(f"/tasks/{scheduled.pk}/cancel/").content.decode()
    assert "It was not sent yet: it never runs." in body


def test_the_scheduled_tab_lists_scheduled_rows_with_their_due_time(client_in, scheduled, user):
    TaskFactory(owner=user, status="pending")
    body = client_in.get("/tasks/?status=scheduled").content.decode()
    rows = body.split('id="task-rows"', 1)[1]
    assert re.findall(r'data-status="(\w+)"', rows) == ["scheduled"]
    assert 'class="due">due <time' in rows
    # A scheduled row is in flight: the poll carries it, and offers Cancel.
    assert f'data-poll="{scheduled.pk}:' in rows
    assert f'action="/tasks/{scheduled.pk}/cancel/"' in rows
    tab = re.search(r'data-tab="scheduled" data-key="2"[^>]*>.*?</a>', body, re.S)
    assert tab and "Scheduled" in tab.group(0)
