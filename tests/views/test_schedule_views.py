"""Schedule pages over HTTP: markup, htmx fragments and headers, permissions, CSRF, no-JS forms."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import PeriodicTask

from taskboard import services
from taskboard.models import AuditLog, Schedule, Task
from taskboard.timing import Timing
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
VALID = {
    "x": "4",
    "y": "5",
    "when-kind": "crontab",
    "when-every": "",
    "when-period": "days",
    "when-minute": "0",
    "when-hour": "2",
    "when-day_of_month": "*",
    "when-month_of_year": "*",
    "when-day_of_week": "*",
    "when-timezone": "Europe/Berlin",
}


@pytest.fixture
def schedule(user) -> Schedule:
    return services.schedule_create(
        user=user, name="demo.quick", params={"x": 1, "y": 2}, timing=Timing(10, "minutes")
    )


@pytest.fixture
def bob(other_user) -> Client:
    client = Client()
    client.force_login(other_user)
    return client


@pytest.fixture
def reader(db) -> Client:
    """A read-only staff member: sees everyone's schedules, changes none."""
    who = UserFactory(username="reader")
    who.user_permissions.add(Permission.objects.get(codename="view_all_tasks"))
    client = Client()
    client.force_login(who)
    return client


# --- the list ------------------------------------------------------------------------


def test_list_shows_own_schedules_in_words_with_the_last_run_badge(alice, user, schedule):
    TaskFactory(owner=user, schedule=schedule, completed=True)
    theirs = services.schedule_create(
        user=UserFactory(username="carol"),
        name="demo.quick",
        params={"x": 1, "y": 1},
        timing=Timing(1, "hours"),
    )
    response = alice.get("/schedules/")
    body = response.content.decode()
    assert response.status_code == 200
    assert response["Vary"].count("HX-Request") == 1
    assert f'id="schedule-{schedule.pk}"' in body
    assert f'id="schedule-{theirs.pk}"' not in body
    assert "every 10 minutes" in body
    assert 'class="badge badge-completed"' in body
    assert ">Owner<" not in body  # the owner column is for those who see everyone's
    assert 'href="/schedules/"' in body and 'aria-current="page">Schedules' in body


def test_staff_see_every_schedule_with_its_owner(client, staff_user, schedule):
    client.force_login(staff_user)
    body = client.get("/schedules/").content.decode()
    assert f'id="schedule-{schedule.pk}"' in body and ">Owner<" in body and ">alice<" in body


def test_list_for_htmx_is_the_table_fragment(alice, schedule):
    response = alice.get("/schedules/", **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="schedule-table"') and "<html" not in body


def test_list_shows_why_a_schedule_is_broken(alice, schedule):
    Schedule.objects.filter(pk=schedule.pk).update(name="demo.gone")
    body = alice.get("/schedules/").content.decode()
    assert "The task “demo.gone” is no longer registered." in body
    assert 'class="broken"' in body


def test_list_queries_do_not_grow_with_the_schedules(client, staff_user):
    client.force_login(staff_user)

    def add(n: int) -> None:
        for i in range(n):
            owner = UserFactory()
            schedule = services.schedule_create(
                user=owner, name="demo.quick", params={"x": i, "y": 1}, timing=Timing(5, "hours")
            )
            TaskFactory(owner=owner, schedule=schedule, completed=True)

    add(1)
    client.get("/schedules/")  # warm: the session, the permission caches
    with CaptureQueriesContext(connection) as one:
        client.get("/schedules/")
    add(5)
    with CaptureQueriesContext(connection) as six:
        assert client.get("/schedules/").content.decode().count('<tr id="schedule-') == 6
    assert len(six) == len(one), "\n".join(q["sql"][:150] for q in six.captured_queries)


def test_anonymous_goes_to_login_and_htmx_gets_hx_redirect(client):
    assert client.get("/schedules/").status_code == 302
    response = client.get("/schedules/", **HX)
    assert response.status_code == 200 and "/login/" in response["HX-Redirect"]


# --- a schedule's page -------------------------------------------------------------


def test_detail_lists_runs_success_rate_and_run_times(alice, user, schedule):
    for _ in range(3):
        TaskFactory(owner=user, schedule=schedule, completed=True)
    failed = TaskFactory(owner=user, schedule=schedule, failed=True)
    other = TaskFactory(owner=user, completed=True)
    response = alice.get(f"/schedules/{schedule.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert f'id="task-{failed.pk}"' in body and f'id="task-{other.pk}"' not in body
    assert "75% of the last 4 finished runs" in body
    assert body.count("<meter") == 3
    assert f'href="/tasks/?schedule={schedule.pk}"' in body
    assert "Run now" in body and "Disable" in body


def test_detail_runs_are_task_table_rows_kept_live_by_the_poll(alice, user, schedule):
    # The same row template and poll as the task table: a run in flight is polled,
    # and the runs can be selected for a bulk action that comes back here.
    assert 'id="bulk-form"' not in alice.get(f"/schedules/{schedule.pk}/").content.decode()
    done = TaskFactory(owner=user, schedule=schedule, completed=True)
    running = TaskFactory(owner=user, schedule=schedule, running=True)
    body = alice.get(f"/schedules/{schedule.pk}/").content.decode()
    assert f'<tr id="task-{running.pk}" class="task-row status-running"' in body
    assert body.count("data-poll=") == 1 and f'data-poll="{running.pk}:' in body
    assert '<div id="poll" hx-post="/tasks/status/"' in body
    assert 'id="bulk-form"' in body and f'value="{done.pk}" form="bulk-form"' in body
    assert f'<input type="hidden" name="next" value="/schedules/{schedule.pk}/">' in body


def test_detail_of_a_schedule_whose_task_is_gone_offers_no_edit(alice, schedule):
    Schedule.objects.filter(pk=schedule.pk).update(name="demo.gone")
    body = alice.get(f"/schedules/{schedule.pk}/").content.decode()
    assert "The task “demo.gone” is no longer registered." in body
    assert f'href="/schedules/{schedule.pk}/edit/"' not in body
    assert "register the task again" in body


def test_detail_for_htmx_is_a_fragment(alice, schedule):
    body = alice.get(f"/schedules/{schedule.pk}/", **HX).content.decode()
    assert body.lstrip().startswith('<section id="schedule-detail"') and "<html" not in body


def test_another_users_schedule_is_404_on_every_page(bob, schedule):
    for path in ("", "edit/", "delete/"):
        assert bob.get(f"/schedules/{schedule.pk}/{path}").status_code == 404, path
    for path in ("enable/", "disable/", "delete/", "run/", "edit/"):
        assert bob.post(f"/schedules/{schedule.pk}/{path}", VALID).status_code == 404, path
    assert PeriodicTask.objects.get().enabled and Schedule.objects.exists()
    assert not Task.objects.exists()


def test_read_only_staff_see_it_but_may_not_change_it(reader, schedule):
    body = reader.get(f"/schedules/{schedule.pk}/").content.decode()
    assert "Run now" not in body and "Disable" not in body
    assert reader.post(f"/schedules/{schedule.pk}/disable/").status_code == 403
    assert PeriodicTask.objects.get().enabled


def test_runs_filter_of_the_task_table_is_bookmarkable(alice, user, schedule):
    run = TaskFactory(owner=user, schedule=schedule)
    other = TaskFactory(owner=user)
    body = alice.get(f"/tasks/?schedule={schedule.pk}").content.decode()
    assert f'id="task-{run.pk}"' in body and f'id="task-{other.pk}"' not in body


# --- create and edit ---------------------------------------------------------------------


def test_launch_form_offers_run_on_a_schedule(alice):
    body = alice.get("/launch/demo.quick/").content.decode()
    assert 'formaction="/schedules/new/demo.quick/"' in body and "Run on a schedule" in body


def test_run_on_a_schedule_carries_the_launch_forms_values_to_the_schedule_form(alice):
    # Without JavaScript: a 303 to the schedule form, the task's fields in its address
    # (the CSRF token and the launch-later fields stay behind); nothing is created.
    typed = {"x": "20", "y": "22", "to-schedule": "1", "later-kind": "in"}
    response = alice.post("/schedules/new/demo.quick/", typed)
    assert response.status_code == 303
    assert response["Location"] == "/schedules/new/demo.quick/?x=20&y=22"
    assert not Schedule.objects.exists()
    body = alice.get(response["Location"]).content.decode()
    assert 'name="x" value="20"' in body and 'name="y" value="22"' in body
    assert 'name="when-kind"' in body
    # From the launch dialog (htmx): the same address, as a full-page redirect.
    htmx = alice.post("/schedules/new/demo.quick/", typed, **HX)
    assert htmx.status_code == 200
    assert htmx["HX-Redirect"] == "/schedules/new/demo.quick/?x=20&y=22"
    assert not Schedule.objects.exists()


def test_the_schedule_form_opened_without_values_shows_the_tasks_own_defaults(alice):
    body = alice.get("/schedules/new/demo.quick/").content.decode()
    assert 'name="x" value="2"' in body and 'name="y" value="3"' in body


def test_create_form_has_the_task_fields_and_the_timing(alice):
    body = alice.get("/schedules/new/demo.quick/").content.decode()
    assert 'name="x"' in body and 'name="when-minute"' in body and 'name="when-kind"' in body


def test_create_without_javascript_redirects_303_to_the_schedule(alice, user):
    response = alice.post("/schedules/new/demo.quick/", VALID)
    schedule = Schedule.objects.get()
    assert response.status_code == 303
    assert response["Location"] == f"/schedules/{schedule.pk}/"
    assert schedule.params == {"x": 4, "y": 5} and schedule.owner == user
    assert str(schedule.periodic_task.crontab.timezone) == "Europe/Berlin"
    assert "At 02:00 (Europe/Berlin)" in alice.get(response["Location"]).content.decode()


def test_create_with_htmx_answers_hx_redirect_never_a_302(alice):
    response = alice.post("/schedules/new/demo.quick/", VALID, **HX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/schedules/{Schedule.objects.get().pk}/"


def test_invalid_create_shows_the_errors_of_both_forms(alice):
    data = VALID | {"x": "nope", "when-hour": "25", "when-timezone": "Mars/Olympus"}
    response = alice.post("/schedules/new/demo.quick/", data)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Enter a whole number" in body
    assert "“Mars/Olympus” is not a known time zone." in body
    assert 'class="field has-error"' in body
    assert not Schedule.objects.exists()
    htmx = alice.post("/schedules/new/demo.quick/", data, **HX)
    assert htmx.status_code == 422
    assert htmx.content.decode().lstrip().startswith('<div id="schedule-form-pane"')


def test_an_interval_needs_its_number(alice):
    data = VALID | {"when-kind": "interval", "when-every": ""}
    body = alice.post("/schedules/new/demo.quick/", data).content.decode()
    assert "Say how often it runs." in body and not Schedule.objects.exists()


def test_create_of_an_unknown_task_is_404(alice):
    assert alice.get("/schedules/new/demo.nope/").status_code == 404


def test_create_refuses_a_post_without_csrf(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/schedules/new/demo.quick/", VALID).status_code == 403
    assert not Schedule.objects.exists()


def test_edit_is_prefilled_and_saves(alice, schedule):
    body = alice.get(f"/schedules/{schedule.pk}/edit/").content.decode()
    assert 'name="when-every" value="10"' in body and 'name="x" value="1"' in body
    response = alice.post(f"/schedules/{schedule.pk}/edit/", VALID | {"x": "9"})
    assert response.status_code == 303
    schedule.refresh_from_db()
    assert schedule.params["x"] == 9 and schedule.periodic_task.crontab is not None
    assert AuditLog.objects.filter(action=AuditLog.SCHEDULE_EDIT).exists()


# --- enable, disable, delete, run now -------------------------------------------------


def test_disable_and_enable_without_javascript_and_with_htmx(alice, schedule):
    response = alice.post(f"/schedules/{schedule.pk}/disable/")
    assert response.status_code == 303 and response["Location"] == f"/schedules/{schedule.pk}/"
    assert not PeriodicTask.objects.get().enabled
    assert "Enable" in alice.get(f"/schedules/{schedule.pk}/").content.decode()
    response = alice.post(f"/schedules/{schedule.pk}/enable/", **HX)
    assert response.status_code == 200 and response["HX-Redirect"] == f"/schedules/{schedule.pk}/"
    assert PeriodicTask.objects.get().enabled
    assert alice.get(f"/schedules/{schedule.pk}/enable/").status_code == 405


def test_delete_asks_first_without_javascript_then_deletes(alice, schedule):
    page = alice.get(f"/schedules/{schedule.pk}/delete/")
    body = page.content.decode()
    assert (
        page.status_code == 200
        and "Delete the schedule of" in body
        and "csrfmiddlewaretoken" in body
    )
    assert Schedule.objects.exists()
    response = alice.post(f"/schedules/{schedule.pk}/delete/")
    assert response.status_code == 303 and response["Location"] == "/schedules/"
    assert not Schedule.objects.exists() and not PeriodicTask.objects.exists()


def test_delete_with_htmx_answers_hx_redirect(alice, schedule):
    response = alice.post(f"/schedules/{schedule.pk}/delete/", **HX)
    assert response.status_code == 200 and response["HX-Redirect"] == "/schedules/"


def test_run_now_launches_one_linked_row(alice, user, schedule, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = alice.post(f"/schedules/{schedule.pk}/run/")
    task = Task.objects.get()
    assert len(callbacks) == 1
    assert response.status_code == 303 and response["Location"] == f"/tasks/{task.pk}/"
    assert task.schedule == schedule and task.owner == user and task.kwargs == {"x": 1, "y": 2}


def test_run_now_of_a_broken_schedule_says_why_and_launches_nothing(alice, schedule):
    Schedule.objects.filter(pk=schedule.pk).update(name="demo.gone")
    response = alice.post(f"/schedules/{schedule.pk}/run/", follow=True)
    assert "no longer registered" in response.content.decode()
    assert not Task.objects.exists()
