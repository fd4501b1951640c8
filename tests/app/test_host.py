"""Taskboard in a host: the host's LOGIN_URL and its user model's USERNAME_FIELD are used."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from taskboard import maintenance
from taskboard.models import Task

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
HX = {"HX-Request": "true"}


# --- the host's login page -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/tasks/", "/audit/", "/launch/", "/tasks/failures/"])
def test_anonymous_page_redirects_to_the_hosts_login_url(client, settings, path):
    settings.LOGIN_URL = "/sso/login/"
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/sso/login/?next={path}"


def test_anonymous_htmx_request_gets_hx_redirect_to_the_hosts_login_url(client, settings):
    settings.LOGIN_URL = "/sso/login/"
    response = client.get("/tasks/", headers=HX)
    # Never the login page swapped into a fragment: htmx loads it as a whole page.
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/sso/login/?next=/tasks/"


def test_anonymous_htmx_request_follows_a_login_url_on_another_host(client, settings):
    settings.LOGIN_URL = "https://sso.example.com/login"
    response = client.get("/tasks/status/", {"ids": ""}, headers=HX)
    assert response["HX-Redirect"].startswith("https://sso.example.com/login?next=")


# --- the host's user model: its USERNAME_FIELD, never "username" --------------------------


def test_no_code_reads_username_directly():
    """Login names are read through USERNAME_FIELD or get_username(), never ``username``."""
    pattern = re.compile(r"\b(owner|actor|user)__username\b|\.username\b|\busername=")
    found = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for package in ("taskboard", "tasks", "web", "templates")
        for path in sorted((ROOT / package).rglob("*"))
        if path.suffix in {".py", ".html"} and "migrations" not in path.parts
        for line in path.read_text().splitlines()
        if pattern.search(line)
    ]
    assert found == []


@pytest.fixture
def by_email(monkeypatch, django_user_model):
    """The user model's login name is its email, as a host's custom user model may have it."""
    monkeypatch.setattr(django_user_model, "USERNAME_FIELD", "email")
    alice = django_user_model.objects.create_user("alice", email="zz-alice@example.com")
    bob = django_user_model.objects.create_user("bob", email="aa-bob@example.com")
    return alice, bob


def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("sam", is_staff=True))
    return client


def row_ids(response) -> list[str]:
    return re.findall(r'<tr id="task-([0-9a-f-]{36})"', response.content.decode())


def test_owner_filter_matches_the_username_field(by_email, client, django_user_model):
    alice, bob = by_email
    mine = Task.objects.create(name="demo.quick", owner=alice)
    Task.objects.create(name="demo.quick", owner=bob)
    client = staff_client(client, django_user_model)
    assert row_ids(client.get("/tasks/", {"owner": "zz-alice@example.com"})) == [str(mine.pk)]
    assert row_ids(client.get("/tasks/", {"owner": "alice"})) == []
    api = client.get("/api/tasks/", {"owner": "zz-alice@example.com"}).json()["results"]
    assert [(item["id"], item["owner"]) for item in api] == [(str(mine.pk), "zz-alice@example.com")]


def test_owner_sort_orders_by_the_username_field(by_email, client, django_user_model):
    alice, bob = by_email
    # By username alice's task would come first; by email bob's does.
    alices = Task.objects.create(name="demo.quick", owner=alice)
    bobs = Task.objects.create(name="demo.quick", owner=bob)
    response = staff_client(client, django_user_model).get("/tasks/", {"sort": "owner"})
    assert row_ids(response) == [str(bobs.pk), str(alices.pk)]
    assert "zz-alice@example.com" in response.content.decode()


def test_export_names_owners_by_the_username_field(by_email, settings, tmp_path):
    alice, _ = by_email
    settings.TASKBOARD_EXPORT_DIR = tmp_path
    me = Task.objects.create(name="taskboard.export_csv", status="running", owner=alice)
    maintenance.export_csv(task_id=me.pk)
    with open(maintenance.export_path(me.pk), newline="", encoding="utf-8") as handle:
        owners = {row["owner"] for row in csv.DictReader(handle)}
    assert owners == {"zz-alice@example.com"}


# --- the host's base template -------------------------------------------------------------


def test_the_sites_override_of_the_base_template_is_used(alice):
    """Pages extend taskboard/base.html; the site's own (templates/taskboard/) fills its blocks."""
    response = alice.get("/tasks/")
    names = [template.name for template in response.templates]
    assert "taskboard/base.html" in names and "taskboard/layout.html" in names
    body = response.content.decode()
    assert '<link rel="stylesheet" href="/static/site.css">' in body
    assert '<link rel="stylesheet" href="/static/taskboard/css/app.css">' in body


def test_the_admin_link_comes_from_the_sites_block_not_from_taskboard(alice, user):
    assert 'href="/admin/"' not in alice.get("/tasks/").content.decode()
    user.is_staff = True
    user.save()
    assert 'href="/admin/"' in alice.get("/tasks/").content.decode()
    layout = (ROOT / "taskboard" / "templates" / "taskboard" / "layout.html").read_text()
    assert "admin:" not in layout


def test_without_a_logout_url_the_header_has_no_logout_button(alice, settings):
    assert 'action="/accounts/logout/"' in alice.get("/tasks/").content.decode()
    settings.TASKBOARD_LOGOUT_URL = "no-such-url-name"
    body = alice.get("/tasks/").content.decode()
    assert "Log out" not in body and 'class="who">alice<' in body
