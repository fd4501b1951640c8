"""Taskboard's pages in the host, over HTTP: its URL prefix, login page, users and backend."""

import importlib.util
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model
from django.core.management import call_command
from django.db import connection

from taskboard.models import Task

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
PROJECT = Path(__file__).resolve().parent.parent


def row_ids(response) -> list[str]:
    return re.findall(r'<tr id="task-([0-9a-f-]{36})"', response.content.decode())


@pytest.fixture
def operator(db):
    """A staff user of the host: sees everyone's tasks, with their owners' emails."""
    return get_user_model().objects.create_user("olga@example.com", is_staff=True)


def test_the_host_is_what_its_settings_say():
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert connection.vendor == "postgresql"
    assert get_user_model()._meta.label == "accounts.User"
    assert get_user_model().USERNAME_FIELD == "email"
    assert not hasattr(get_user_model(), "username")
    assert settings.AUTHENTICATION_BACKENDS == ["accounts.backends.HostBackend"]
    # Taskboard runs on its defaults and without django-htmx's middleware.
    assert [name for name in dir(settings) if name.startswith("TASKBOARD_")] == []
    assert "django_htmx.middleware.HtmxMiddleware" not in settings.MIDDLEWARE


def test_login_through_the_hosts_page_uses_the_hosts_backend(client, member):
    response = client.post(
        "/sso/login/", {"username": "carol@example.com", "password": "carol-secret-pw"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/ops/jobs/"
    assert client.session[BACKEND_SESSION_KEY] == "accounts.backends.HostBackend"
    page = client.get("/ops/jobs/", follow=True)
    assert page.redirect_chain == [("/ops/jobs/tasks/", 302)]
    assert page.status_code == 200
    assert "carol@example.com" in page.content.decode()


def test_anonymous_page_redirects_to_the_hosts_login_url(client):
    response = client.get("/ops/jobs/tasks/")
    assert response.status_code == 302
    assert response["Location"] == "/sso/login/?next=/ops/jobs/tasks/"


def test_anonymous_htmx_request_gets_hx_redirect_to_the_hosts_login_url(client):
    response = client.get("/ops/jobs/tasks/status/", {"ids": ""}, headers=HX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/sso/login/?next=/ops/jobs/tasks/status/%3Fids%3D"


def test_table_lists_the_rows_under_the_hosts_prefix(client, member, operator):
    mine = Task.objects.create(name="hostproj.add", status="completed", owner=member, result=3)
    other = Task.objects.create(name="hostproj.fail", status="failed", owner=operator)
    client.force_login(operator)
    response = client.get("/ops/jobs/tasks/")
    body = response.content.decode()
    assert response.status_code == 200
    assert sorted(row_ids(response)) == sorted([str(mine.pk), str(other.pk)])
    assert f'href="/ops/jobs/tasks/{mine.pk}/"' in body
    # The owner column shows the host's login name: the email.
    assert '<td class="c-owner">carol@example.com</td>' in body


def test_table_htmx_request_answers_a_fragment_without_the_middleware(member_client, member):
    task = Task.objects.create(name="hostproj.add", status="completed", owner=member)
    response = member_client.get("/ops/jobs/tasks/", headers=HX)
    assert response.status_code == 200
    assert row_ids(response) == [str(task.pk)]
    assert "<html" not in response.content.decode()


def test_catalog_lists_the_hosts_launchable_tasks(member_client):
    body = member_client.get("/ops/jobs/launch/").content.decode()
    assert "Host: add two numbers" in body
    assert 'href="/ops/jobs/launch/hostproj.add/"' in body
    assert "Host: always fails" in body


def test_launch_form_is_the_hosts_form(member_client):
    response = member_client.get("/ops/jobs/launch/hostproj.add/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="x"' in body
    assert 'name="y"' in body


def test_poll_answers_the_changed_row(member_client, member):
    running = Task.objects.create(name="hostproj.add", status="running", owner=member)
    done = Task.objects.create(name="hostproj.add", status="completed", owner=member, version=2)
    response = member_client.get(
        "/ops/jobs/tasks/status/", {"ids": f"{running.pk}:1.r,{done.pk}:1.r"}, headers=HX
    )
    body = response.content.decode()
    assert response.status_code == 200
    changed = re.findall(r'<tr id="task-([0-9a-f-]{36})"[^>]*hx-swap-oob="true"', body)
    assert changed == [str(done.pk)]
    assert f'href="/ops/jobs/tasks/{done.pk}/"' in body
    assert response["HX-Trigger"] == "tasks-changed"


def test_poll_of_unchanged_rows_answers_no_content(member_client, member):
    running = Task.objects.create(name="hostproj.add", status="running", owner=member)
    response = member_client.get("/ops/jobs/tasks/status/", {"ids": f"{running.pk}:1.r"})
    assert response.status_code == 204


def test_detail_page(member_client, member):
    task = Task.objects.create(
        name="hostproj.fail",
        status="failed",
        owner=member,
        kwargs={"message": "boom"},
        error_type="HostFailure",
        error_message="boom",
    )
    response = member_client.get(f"/ops/jobs/tasks/{task.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="task-detail"' in body
    assert "HostFailure" in body
    assert f'href="/ops/jobs/launch/hostproj.fail/?retry_of={task.pk}"' in body


def test_the_hosts_own_tasks_app_is_imported_not_the_repositorys():
    import tasks

    # Taskboard comes from its package alone: the repository's site is not importable here.
    assert importlib.util.find_spec("web") is None
    assert Path(tasks.__file__).resolve().parent == PROJECT / "tasks"


def test_no_migration_is_missing_with_the_hosts_user_model():
    # Exits non-zero if a model (the host's or Taskboard's) differs from its migrations.
    call_command("makemigrations", check=True, dry_run=True, verbosity=0)
