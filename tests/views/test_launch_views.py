"""The launch catalog and form at the HTTP level (no broker: the send is on commit)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from taskboard.models import Task
from taskboard.services import launch as launch_service
from tests.factories import TaskFactory

HX = {"HTTP_HX_REQUEST": "true"}
# What static/taskboard/js/actions.js adds when the page has the task table.
HX_ROWS = {**HX, "HTTP_X_TASKBOARD_ROWS": "1"}


@pytest.fixture
def client_in(client, user):
    client.force_login(user)
    return client


# --- catalog -----------------------------------------------------------------


@pytest.mark.django_db
def test_catalog_full_page_lists_tasks(client_in):
    response = client_in.get("/launch/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" in body
    assert "Add two numbers" in body
    assert 'href="/launch/demo.long/"' in body
    assert response["Vary"].count("HX-Request") == 1


@pytest.mark.django_db
def test_catalog_hides_staff_only_tasks_from_others(client_in):
    assert "Purge old records" not in client_in.get("/launch/").content.decode()


@pytest.mark.django_db
def test_catalog_shows_staff_only_tasks_to_staff(client, staff_user):
    client.force_login(staff_user)
    assert "Purge old records" in client.get("/launch/").content.decode()


@pytest.mark.django_db
def test_catalog_fragment_is_the_picker_with_first_form(client_in):
    response = client_in.get("/launch/", **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert 'class="picker"' in body
    assert 'hx-get="/launch/demo.quick/"' in body
    assert 'id="launch-form"' in body
    assert 'hx-post="/launch/demo.quick/"' in body  # "Add two numbers" sorts first


@pytest.mark.django_db
def test_catalog_stats_show_success_rate_and_last_run(client_in, user, other_user):
    TaskFactory.create_batch(3, completed=True, owner=user)
    TaskFactory(failed=True, owner=user)
    TaskFactory(cancelled=True, owner=user)
    TaskFactory(failed=True, owner=other_user)
    body = client_in.get("/launch/").content.decode()
    assert "5 runs" in body
    assert "75% of 4 finished succeeded" in body  # cancelled runs are left out of the rate
    assert "1 cancelled" in body
    assert "last run <time" in body
    assert "just now" in body


@pytest.mark.django_db
def test_catalog_stats_ignore_runs_older_than_the_window(client_in, user):
    # No trait: its times would be now, and only the row's age is under test.
    TaskFactory(
        name="demo.fail",
        status="failed",
        owner=user,
        created_at=timezone.now() - timedelta(days=40),
    )
    body = client_in.get("/launch/").content.decode()
    assert "1 run" not in body


@pytest.mark.django_db
def test_catalog_stats_take_one_query(client_in, user, django_assert_num_queries):
    for name in ("demo.quick", "demo.fail", "demo.long"):
        TaskFactory(completed=True, name=name, owner=user)
    # Session, user, the user's permissions (Django's ModelBackend: direct, then through
    # groups), then one grouped query for every task's stats.
    with django_assert_num_queries(5):
        client_in.get("/launch/")


@pytest.mark.django_db
def test_catalog_anonymous_redirects_to_login(client):
    response = client.get("/launch/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_catalog_anonymous_htmx_gets_hx_redirect(client):
    response = client.get("/launch/", **HX)
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/login/")


# --- form ---------------------------------------------------------------------


@pytest.mark.django_db
def test_form_full_page(client_in):
    response = client_in.get("/launch/demo.long/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body
    assert 'name="seconds"' in body
    assert 'id="launch-seconds"' in body  # unique beside the dashboard's own filter fields
    assert "hx-post" not in body  # the page's own form does a plain POST
    assert response["Vary"].count("HX-Request") == 1


@pytest.mark.django_db
def test_form_fragment_posts_with_htmx(client_in):
    response = client_in.get("/launch/demo.long/", **HX)
    body = response.content.decode()
    assert "<html" not in body
    assert 'id="launch-form-pane"' in body
    assert 'hx-post="/launch/demo.long/"' in body


@pytest.mark.django_db
def test_form_unknown_task_is_404(client_in):
    assert client_in.get("/launch/nope/").status_code == 404
    assert client_in.post("/launch/nope/", {}).status_code == 404


@pytest.mark.django_db
def test_form_staff_only_task_is_403_for_others(client_in):
    assert client_in.get("/launch/taskboard.purge/").status_code == 403
    assert client_in.post("/launch/taskboard.purge/", {"days": "5"}).status_code == 403
    assert Task.objects.count() == 0


@pytest.mark.django_db
def test_form_staff_only_task_opens_for_staff(client, staff_user):
    client.force_login(staff_user)
    assert client.get("/launch/taskboard.purge/").status_code == 200


@pytest.mark.django_db
def test_form_prefilled_from_retry_of(client_in, user):
    old = TaskFactory(failed=True, name="demo.long", owner=user, kwargs={"seconds": 7, "steps": 3})
    body = client_in.get(f"/launch/demo.long/?retry_of={old.pk}").content.decode()
    assert 'value="7"' in body
    assert 'value="3"' in body
    assert f'name="retry_of" value="{old.pk}"' in body


@pytest.mark.django_db
def test_form_retry_of_someone_elses_task_is_404(client_in, other_user):
    old = TaskFactory(failed=True, name="demo.long", owner=other_user, kwargs={})
    assert client_in.get(f"/launch/demo.long/?retry_of={old.pk}").status_code == 404


@pytest.mark.django_db
def test_form_retry_of_malformed_id_is_404(client_in):
    assert client_in.get("/launch/demo.long/?retry_of=not-a-uuid").status_code == 404


@pytest.mark.django_db
def test_form_retry_of_another_task_name_is_404(client_in, user):
    old = TaskFactory(failed=True, name="demo.fail", owner=user, kwargs={})
    assert client_in.get(f"/launch/demo.long/?retry_of={old.pk}").status_code == 404


# --- launch -------------------------------------------------------------------


@pytest.mark.django_db
def test_launch_post_redirects_to_the_new_task(client_in, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_in.post("/launch/demo.quick/", {"x": "4", "y": "5"})
    task = Task.objects.get()
    assert response.status_code == 303
    assert response["Location"] == f"/tasks/{task.pk}/"
    assert task.owner == user
    assert task.kwargs == {"x": 4, "y": 5}
    assert task.status == "pending"
    assert len(callbacks) == 1  # the message is sent on commit


@pytest.mark.django_db
def test_launch_post_sets_a_success_message(client_in):
    response = client_in.post("/launch/demo.quick/", {"x": "1", "y": "1"}, follow=True)
    assert "Launched “Add two numbers”." in response.content.decode()


@pytest.mark.django_db
def test_launch_invalid_full_page_keeps_values_and_creates_nothing(client_in):
    response = client_in.post("/launch/demo.long/", {"seconds": "-3", "steps": "17"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body
    assert "greater than or equal to 1" in body
    assert 'value="-3"' in body
    assert 'value="17"' in body
    assert 'aria-invalid="true"' in body
    assert Task.objects.count() == 0


@pytest.mark.django_db
def test_launch_invalid_htmx_is_422_fragment_retargeted(client_in):
    response = client_in.post("/launch/demo.long/", {"seconds": "x", "steps": "2"}, **HX_ROWS)
    body = response.content.decode()
    assert response.status_code == 422
    assert "<html" not in body
    assert response["HX-Retarget"] == "#launch-form-pane"
    assert response["HX-Reswap"] == "outerHTML"
    assert "Enter a whole number." in body
    assert 'value="x"' in body
    assert Task.objects.count() == 0


@pytest.mark.django_db
def test_launch_htmx_on_dashboard_answers_the_new_row(client_in):
    response = client_in.post("/launch/demo.quick/", {"x": "1", "y": "2"}, **HX_ROWS)
    task = Task.objects.get()
    body = response.content.decode()
    assert response.status_code == 200
    assert f'id="task-{task.pk}"' in body
    assert "<html" not in body
    assert response["HX-Retarget"] == "#task-rows"
    assert response["HX-Reswap"] == "afterbegin"
    trigger = json.loads(response["HX-Trigger"])
    assert trigger["taskboard:launched"] == {
        "id": str(task.pk),
        "url": f"/tasks/{task.pk}/",
        # The dashboard shows it above the table, as a full-page launch's message.
        "notice": "Launched “Add two numbers”.",
    }
    assert "tasks-changed" in trigger


@pytest.mark.django_db
def test_launch_htmx_elsewhere_redirects_to_the_new_task(client_in):
    response = client_in.post("/launch/demo.quick/", {"x": "1", "y": "2"}, **HX)
    task = Task.objects.get()
    assert response["HX-Redirect"] == f"/tasks/{task.pk}/"


@pytest.mark.django_db
def test_launch_htmx_elsewhere_shows_the_message_on_the_tasks_page(client_in):
    response = client_in.post("/launch/demo.quick/", {"x": "1", "y": "2"}, **HX)
    body = client_in.get(response["HX-Redirect"]).content.decode()
    assert "Launched “Add two numbers”." in body


@pytest.mark.django_db
def test_launch_form_page_links_back_to_the_task_list(client_in):
    body = client_in.get("/launch/demo.quick/").content.decode()
    assert '<a href="/tasks/">Back to the task list</a>' in body
    assert "Back to all tasks" not in body


@pytest.mark.django_db
def test_launch_with_retry_of_links_the_new_row(client_in, user):
    old = TaskFactory(failed=True, name="demo.long", owner=user, kwargs={"seconds": 7, "steps": 3})
    client_in.post("/launch/demo.long/", {"seconds": "2", "steps": "2", "retry_of": old.pk})
    new = Task.objects.exclude(pk=old.pk).get()
    assert new.retry_of == old
    assert new.kwargs == {"seconds": 2, "steps": 2}


@pytest.mark.django_db
def test_launch_with_retry_of_unfinished_task_is_409(client_in, user):
    old = TaskFactory(running=True, name="demo.long", owner=user, kwargs={})
    response = client_in.post(
        "/launch/demo.long/", {"seconds": "2", "steps": "2", "retry_of": old.pk}
    )
    assert response.status_code == 409
    assert "Only a finished task can be retried." in response.content.decode()
    assert Task.objects.count() == 1


@pytest.mark.django_db
def test_launch_without_csrf_token_is_403(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/launch/demo.quick/", {"x": "1", "y": "2"})
    assert response.status_code == 403
    assert Task.objects.count() == 0


@pytest.mark.django_db
def test_launch_with_csrf_token_passes(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get("/launch/demo.quick/")
    token = page.context["csrf_token"]
    response = client.post(
        "/launch/demo.quick/", {"x": "1", "y": "2", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 303


@pytest.mark.django_db
def test_launch_anonymous_post_redirects_to_login(client):
    response = client.post("/launch/demo.quick/", {"x": "1", "y": "2"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert Task.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_launch_broker_down_is_503_and_leaves_no_row(client, user, monkeypatch):
    def broken_send(task):
        raise ConnectionError("broker down")

    # The send itself fails (no message leaves): the row must not stay behind.
    monkeypatch.setattr(launch_service, "_send", broken_send)
    client.force_login(user)
    response = client.post("/launch/demo.quick/", {"x": "1", "y": "2"}, **HX_ROWS)
    assert response.status_code == 503
    assert "nothing was launched" in response.content.decode()
    assert response["HX-Retarget"] == "#launch-form-pane"
    # This user's rows only: a transactional test shares the database with the session's
    # worker, which may still record a task an earlier test sent (rows it makes have no owner).
    assert not Task.objects.filter(owner=user).exists()


@pytest.mark.django_db
def test_launch_over_the_rate_limit_is_429_and_creates_nothing(client_in, user, settings):
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 1
    TaskFactory(completed=True, owner=user)
    response = client_in.post("/launch/demo.quick/", {"x": "1", "y": "2"}, **HX_ROWS)
    assert response.status_code == 429
    assert "wait a moment" in response.content.decode()
    assert response["HX-Retarget"] == "#launch-form-pane"
    assert Task.objects.count() == 1


@pytest.mark.django_db
def test_catalog_rate_leaves_cancelled_runs_out_and_counts_them_beside_it(client_in, user):
    TaskFactory(completed=True, owner=user)
    TaskFactory.create_batch(3, cancelled=True, owner=user)
    body = client_in.get("/launch/").content.decode()
    assert "4 runs" in body
    assert "100% of 1 finished succeeded" in body
    assert "3 cancelled" in body
