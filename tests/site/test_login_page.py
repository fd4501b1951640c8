"""The login page (with the demo account's hint) and the favicon every page links."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

pytestmark = pytest.mark.django_db

ICON = re.compile(r'<link rel="icon" href="([^"]+)"')


def test_login_page_names_the_demo_account_when_it_exists(client, django_user_model):
    django_user_model.objects.create_user("demo", password="demo-taskboard")
    response = client.get(reverse("login"))
    assert response.status_code == 200
    hint = response.context["demo_account"]
    assert (hint.name, hint.password) == ("demo", "demo-taskboard")
    assert b'class="demo-hint"' in response.content
    assert b"<code>demo</code>" in response.content
    assert b"<code>demo-taskboard</code>" in response.content


def test_login_page_follows_the_demo_account_settings(client, django_user_model, monkeypatch):
    monkeypatch.setenv("TASKBOARD_DEMO_USER", "guest")
    monkeypatch.setenv("TASKBOARD_DEMO_PASSWORD", "guest-pass-1")
    django_user_model.objects.create_user("guest", password="guest-pass-1")
    response = client.get(reverse("login"))
    assert b"<code>guest</code>" in response.content
    assert b"<code>guest-pass-1</code>" in response.content


def test_login_page_has_no_hint_without_the_demo_account(client, user):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert response.context["demo_account"] is None
    assert b"demo-hint" not in response.content
    assert b"demo-taskboard" not in response.content


def test_login_page_has_no_hint_for_an_inactive_demo_account(client, django_user_model):
    django_user_model.objects.create_user("demo", password="demo-taskboard", is_active=False)
    assert b"demo-hint" not in client.get(reverse("login")).content


def test_login_page_writes_nothing(client, django_user_model):
    django_user_model.objects.create_user("demo", password="demo-taskboard")
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("login"))
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []


def test_login_page_renders_fields_as_field_groups(client):
    content = client.get(reverse("login")).content.decode()
    assert content.count('<div class="field">') == 2
    assert 'class="login-form"' in content


def test_login_error_is_shown_as_an_alert(client, user):
    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert b'class="alert alert-error"' in response.content


def test_login_with_the_demo_account_works(client, django_user_model):
    django_user_model.objects.create_user("demo", password="demo-taskboard")
    response = client.post(reverse("login"), {"username": "demo", "password": "demo-taskboard"})
    assert response.status_code == 302


@pytest.mark.parametrize("signed_in", [False, True])
def test_every_page_links_a_favicon_that_answers(client, user, signed_in):
    if signed_in:
        client.force_login(user)
    page = client.get(reverse("taskboard:task_list" if signed_in else "login"))
    assert page.status_code == 200
    match = ICON.search(page.content.decode())
    assert match, "the page links no favicon"
    icon = client.get(match.group(1))
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(icon.streaming_content if icon.streaming else [icon.content])
