"""Nobody let in: IDOR, anonymous users, CSRF and the launch rate limit (issue 4)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from taskboard.maintenance import export_path
from taskboard.models import Task
from tests.factories import TaskFactory

# No broker in these tests: revoke broadcasts are recorded (tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("revokes")]

HX = {"HX-Request": "true"}
# What static/taskboard/js/actions.js adds when the launch dialog sits on the task table.
HX_ROWS = {**HX, "X-Taskboard-Rows": "1"}


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.TASKBOARD_EXPORT_DIR = tmp_path
    return tmp_path


def logged_in(user, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def finished_export(owner, export_dir) -> Task:
    """A completed export of ``owner`` whose file exists, so only access can refuse it."""
    task = TaskFactory(
        completed=True,
        name="taskboard.export_csv",
        owner=owner,
        kwargs={"status": "", "name": "", "days": 30},
    )
    task.result = {"file": f"{task.pk}.csv", "rows": 1}
    task.save()
    with open(export_path(task.pk), "w") as handle:
        handle.write("id,name\n1,x\n")
    return task


def pending(owner) -> Task:
    return TaskFactory(name="demo.long", owner=owner, kwargs={})


# --- IDOR: another user's task, and ids nobody has -----------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_detail_of_another_users_task_is_404(alice, other_user, export_dir, htmx):
    task = finished_export(other_user, export_dir)
    response = alice.get(f"/tasks/{task.pk}/", headers=HX if htmx else {})
    assert response.status_code == 404


@pytest.mark.parametrize("htmx", [False, True])
def test_retry_of_another_users_task_is_404_and_creates_nothing(
    alice, other_user, export_dir, htmx
):
    task = finished_export(other_user, export_dir)
    response = alice.post(f"/tasks/{task.pk}/retry/", headers=HX_ROWS if htmx else {})
    assert response.status_code == 404
    assert Task.objects.count() == 1


@pytest.mark.parametrize("htmx", [False, True])
def test_cancel_of_another_users_task_is_404_and_changes_nothing(alice, other_user, revokes, htmx):
    task = pending(other_user)
    response = alice.post(f"/tasks/{task.pk}/cancel/", headers=HX if htmx else {})
    assert response.status_code == 404
    task.refresh_from_db()
    assert task.status == "pending"
    assert revokes == []


def test_download_of_another_users_file_is_404(alice, other_user, export_dir):
    task = finished_export(other_user, export_dir)
    assert alice.get(f"/tasks/{task.pk}/download/").status_code == 404


def test_retry_with_changes_of_another_users_task_is_404(alice, other_user, export_dir):
    task = finished_export(other_user, export_dir)
    form = alice.get(f"/launch/taskboard.export_csv/?retry_of={task.pk}")
    post = alice.post(
        "/launch/taskboard.export_csv/", {"retry_of": str(task.pk), "days": "1", "name": ""}
    )
    assert (form.status_code, post.status_code) == (404, 404)
    assert Task.objects.count() == 1


def test_poll_drops_another_users_task_silently(alice, user, other_user):
    mine = TaskFactory(completed=True, name="demo.long", owner=user)
    theirs = TaskFactory(completed=True, name="demo.long", owner=other_user)
    response = alice.get("/tasks/status/", {"ids": f"{mine.pk}:1.r,{theirs.pk}:1.r"})
    body = response.content.decode()
    assert response.status_code == 200
    assert f'id="task-{mine.pk}"' in body
    assert str(theirs.pk) not in body


def test_table_and_search_never_show_another_users_task(alice, other_user):
    theirs = TaskFactory(failed=True, owner=other_user)
    for params in ({}, {"q": str(theirs.pk)}, {"name": "demo.quick"}, {"status": "failed"}):
        assert f'id="task-{theirs.pk}"' not in alice.get("/tasks/", params).content.decode()


def test_task_sent_from_code_is_visible_to_staff_only(alice, client, staff_user):
    orphan = TaskFactory(completed=True, name="billing.sync", owner=None)
    assert alice.get(f"/tasks/{orphan.pk}/").status_code == 404
    client.force_login(staff_user)
    assert client.get(f"/tasks/{orphan.pk}/").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/tasks/{id}/"),
        ("post", "/tasks/{id}/retry/"),
        ("post", "/tasks/{id}/cancel/"),
        ("get", "/tasks/{id}/download/"),
        ("get", "/launch/demo.quick/?retry_of={id}"),
    ],
)
def test_random_uuid_is_404(alice, method, path):
    response = getattr(alice, method)(path.format(id=uuid.uuid4()))
    assert response.status_code == 404


def test_random_uuid_is_dropped_from_the_poll(alice):
    missing = uuid.uuid4()
    response = alice.get("/tasks/status/", {"ids": f"{missing}:1.r"})
    assert response.status_code == 200
    assert str(missing) not in response.content.decode()


def test_staff_sees_another_users_task(client, staff_user, user, export_dir):
    task = finished_export(user, export_dir)
    client.force_login(staff_user)
    assert client.get(f"/tasks/{task.pk}/").status_code == 200
    assert client.get(f"/tasks/{task.pk}/download/").status_code == 200


def test_staff_polls_another_users_task(client, staff_user, user):
    task = TaskFactory(completed=True, name="demo.long", owner=user)
    client.force_login(staff_user)
    response = client.get("/tasks/status/", {"ids": f"{task.pk}:1.r"})
    assert f'id="task-{task.pk}"' in response.content.decode()


def test_staff_retries_another_users_task(client, staff_user, user, export_dir):
    task = finished_export(user, export_dir)
    client.force_login(staff_user)
    response = client.post(f"/tasks/{task.pk}/retry/")
    assert response.status_code == 303
    assert Task.objects.filter(retry_of=task).count() == 1


def test_staff_cancels_another_users_task(client, staff_user, user, revokes):
    task = pending(user)
    client.force_login(staff_user)
    response = client.post(f"/tasks/{task.pk}/cancel/")
    assert response.status_code == 303
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert revokes == [str(task.pk)]


def test_staff_only_task_is_refused_to_others(alice):
    response = alice.post("/launch/taskboard.purge/", {"days": "90"})
    assert response.status_code == 403
    assert Task.objects.count() == 0


# --- anonymous users -------------------------------------------------------------------

ANONYMOUS = [
    ("get", "/tasks/"),
    ("get", "/tasks/status/?ids="),
    ("get", "/tasks/{id}/"),
    ("post", "/tasks/{id}/retry/"),
    ("post", "/tasks/{id}/cancel/"),
    ("get", "/tasks/{id}/download/"),
    ("get", "/launch/"),
    ("get", "/launch/demo.quick/"),
    ("post", "/launch/demo.quick/"),
]


@pytest.mark.parametrize(("method", "path"), ANONYMOUS)
def test_anonymous_is_sent_to_login(client, user, export_dir, method, path):
    task = finished_export(user, export_dir)
    data = {"x": "1", "y": "2"} if method == "post" else None
    response = getattr(client, method)(path.format(id=task.pk), data)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert Task.objects.count() == 1


@pytest.mark.parametrize(("method", "path"), ANONYMOUS)
def test_anonymous_htmx_gets_hx_redirect_not_a_login_page(client, user, export_dir, method, path):
    task = finished_export(user, export_dir)
    data = {"x": "1", "y": "2"} if method == "post" else None
    response = getattr(client, method)(path.format(id=task.pk), data, headers=HX)
    # htmx follows HX-Redirect with a full page load; a 302 would swap the login form in.
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/login/?next=")
    assert b"<form" not in response.content
    assert Task.objects.count() == 1


def test_anonymous_root_redirects_to_tasks_then_login(client):
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/?next=/tasks/")


# --- CSRF ------------------------------------------------------------------------------


def csrf_token_of(client: Client, url: str = "/tasks/") -> str:
    """Return the token the page gives htmx, from the ``hx-headers`` of its <body>."""
    body = client.get(url).content.decode()
    match = re.search(r"<body[^>]*\shx-headers='([^']*)'", body)
    assert match, "the <body> carries no hx-headers"
    return json.loads(match.group(1))["X-CSRFToken"]


POSTS = [
    ("/launch/demo.quick/", {"x": "1", "y": "2"}),
    ("/tasks/{finished}/retry/", {}),
    ("/tasks/{pending}/cancel/", {}),
    ("/accounts/logout/", {}),
]


@pytest.fixture
def targets(user, export_dir):
    return {"finished": finished_export(user, export_dir).pk, "pending": pending(user).pk}


@pytest.mark.parametrize(("path", "data"), POSTS)
@pytest.mark.parametrize("htmx", [False, True])
def test_post_without_csrf_token_is_403(user, targets, path, data, htmx):
    client = logged_in(user, csrf=True)
    response = client.post(path.format(**targets), data, headers=HX if htmx else {})
    assert response.status_code == 403


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_post_with_a_wrong_csrf_token_is_403(user, targets, path, data):
    client = logged_in(user, csrf=True)
    client.get("/tasks/")  # sets the CSRF cookie
    response = client.post(path.format(**targets), data, headers={"X-CSRFToken": "x" * 64})
    assert response.status_code == 403


def test_refused_posts_change_nothing(user, targets):
    client = logged_in(user, csrf=True)
    for path, data in POSTS:
        client.post(path.format(**targets), data)
    assert Task.objects.count() == 2
    assert Task.objects.get(pk=targets["pending"]).status == "pending"
    assert client.get("/tasks/").status_code == 200  # still logged in


@pytest.mark.parametrize(
    ("path", "data", "expected"),
    [
        ("/launch/demo.quick/", {"x": "1", "y": "2"}, 303),
        ("/tasks/{finished}/retry/", {}, 303),
        ("/tasks/{pending}/cancel/", {}, 303),
        ("/accounts/logout/", {}, 302),
    ],
)
def test_post_with_the_form_token_works(user, targets, path, data, expected):
    client = logged_in(user, csrf=True)
    token = csrf_token_of(client)
    response = client.post(path.format(**targets), {**data, "csrfmiddlewaretoken": token})
    assert response.status_code == expected


@pytest.mark.parametrize(("path", "data"), POSTS[:3])
def test_htmx_post_with_the_body_hx_headers_token_works(user, targets, path, data):
    client = logged_in(user, csrf=True)
    token = csrf_token_of(client)
    response = client.post(path.format(**targets), data, headers={**HX, "X-CSRFToken": token})
    assert response.status_code == 200


def test_logout_with_the_token_logs_out(user):
    client = logged_in(user, csrf=True)
    token = csrf_token_of(client)
    client.post("/accounts/logout/", {"csrfmiddlewaretoken": token})
    assert client.get("/tasks/").status_code == 302


@pytest.mark.parametrize("url", ["/tasks/", "/launch/", "/launch/demo.quick/"])
def test_every_page_gives_htmx_the_csrf_token(alice, url):
    assert csrf_token_of(alice, url)


def test_task_detail_gives_htmx_the_csrf_token(alice, user, export_dir):
    task = finished_export(user, export_dir)
    assert csrf_token_of(alice, f"/tasks/{task.pk}/")


# --- the launch rate limit --------------------------------------------------------------


@pytest.fixture
def limit(settings):
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 3
    return 3


def launch(client: Client, headers: dict | None = None):
    return client.post("/launch/demo.quick/", {"x": "1", "y": "2"}, headers=headers or {})


def test_launches_up_to_the_limit_pass(alice, limit):
    assert [launch(alice).status_code for _ in range(limit)] == [303] * limit
    assert Task.objects.count() == limit


def test_launch_beyond_the_limit_is_429_and_creates_no_row(alice, limit):
    for _ in range(limit):
        launch(alice)
    response = launch(alice)
    assert response.status_code == 429
    assert "You have launched or retried 3 tasks in the last minute" in response.content.decode()
    assert Task.objects.count() == limit


def test_htmx_launch_beyond_the_limit_is_429_in_the_form(alice, limit):
    for _ in range(limit):
        launch(alice, HX_ROWS)
    response = launch(alice, HX_ROWS)
    assert response.status_code == 429
    assert response["HX-Retarget"] == "#launch-form-pane"
    assert "wait a moment and try again" in response.content.decode()
    assert Task.objects.count() == limit


def test_retry_beyond_the_limit_is_429_and_creates_no_row(alice, user, export_dir, limit):
    task = finished_export(user, export_dir)
    for _ in range(limit - 1):
        launch(alice)
    response = alice.post(f"/tasks/{task.pk}/retry/")
    assert response.status_code == 429
    assert "in the last minute" in response.content.decode()
    assert Task.objects.filter(retry_of=task).count() == 0


def test_rate_limit_is_per_user(alice, other_user, limit):
    for _ in range(limit):
        launch(alice)
    other = logged_in(other_user)
    assert launch(other).status_code == 303


def test_launches_older_than_a_minute_do_not_count(alice, user, limit):
    old = timezone.now() - timedelta(seconds=61)
    # No trait: its times would be now, and only the rows' age is under test.
    TaskFactory.create_batch(limit, status="completed", owner=user, created_at=old)
    assert launch(alice).status_code == 303


def test_rate_limit_zero_means_no_limit(alice, settings):
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 0
    assert [launch(alice).status_code for _ in range(5)] == [303] * 5
