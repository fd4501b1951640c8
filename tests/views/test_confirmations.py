"""Retry, Cancel and Revoke ask first: a confirmation page without JS, the page's dialog with it."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from taskboard.models import AuditLog, Task
from taskboard.tokens import token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(user):
    return Task.objects.create(name="demo.long", status="pending", owner=user)


@pytest.fixture
def running(user):
    return Task.objects.create(
        name="demo.long", status="running", owner=user, started_at=timezone.now()
    )


@pytest.fixture
def failed(user):
    return Task.objects.create(
        name="demo.fail",
        status="failed",
        owner=user,
        kwargs={"message": "boom"},
        finished_at=timezone.now(),
    )


def post_form(body: str) -> str:
    """Return the page's one POST form."""
    forms = re.findall(r'<form method="post".*?</form>', body, flags=re.S)
    forms = [f for f in forms if "logout" not in f]
    assert len(forms) == 1, forms
    return forms[0]


def test_cancel_get_asks_and_writes_nothing(alice, pending, revokes):
    response = alice.get(f"/tasks/{pending.pk}/cancel/")
    body = response.content.decode()
    assert response.status_code == 200
    assert f"Really cancel demo.long <code>{str(pending.pk)[:8]}</code>?" in body
    form = post_form(body)
    assert f'action="/tasks/{pending.pk}/cancel/"' in form
    assert "csrfmiddlewaretoken" in form and ">Cancel task</button>" in form
    pending.refresh_from_db()
    assert pending.status == "pending" and not pending.cancel_requested
    assert revokes == [] and not AuditLog.objects.exists()


def test_cancel_get_of_a_running_task_says_when_it_stops(alice, running):
    body = alice.get(f"/tasks/{running.pk}/cancel/").content.decode()
    assert "It stops at its next progress report." in body


def test_cancel_confirmed_from_the_page_cancels_and_goes_back(alice, pending, revokes):
    body = alice.get(f"/tasks/{pending.pk}/cancel/", {"next": "/tasks/?status=pending"})
    assert 'name="next" value="/tasks/?status=pending"' in body.content.decode()
    response = alice.post(f"/tasks/{pending.pk}/cancel/", {"next": "/tasks/?status=pending"})
    assert response.status_code == 303
    assert response["Location"] == "/tasks/?status=pending"
    pending.refresh_from_db()
    assert pending.status == "cancelled"


def test_cancel_get_ignores_an_offsite_next(alice, pending):
    body = alice.get(f"/tasks/{pending.pk}/cancel/", {"next": "https://evil.example/"})
    content = body.content.decode()
    assert "evil.example" not in content
    assert f'name="next" value="/tasks/{pending.pk}/"' in content


def test_cancel_get_of_a_finished_task_explains_and_offers_no_form(alice, failed):
    response = alice.get(f"/tasks/{failed.pk}/cancel/")
    body = response.content.decode()
    assert response.status_code == 409
    assert "This task has already finished." in body
    assert not re.search(r'<form method="post"(?![^>]*logout)', body)


def test_retry_get_asks_and_launches_nothing(alice, failed):
    response = alice.get(f"/tasks/{failed.pk}/retry/")
    body = response.content.decode()
    assert response.status_code == 200
    assert f"Really retry demo.fail <code>{str(failed.pk)[:8]}</code>?" in body
    assert f'action="/tasks/{failed.pk}/retry/"' in post_form(body)
    assert Task.objects.count() == 1 and not AuditLog.objects.exists()


def test_retry_confirmation_page_submitted_twice_launches_once(alice, failed):
    form = post_form(alice.get(f"/tasks/{failed.pk}/retry/").content.decode())
    known = re.search(r'name="retries" value="(\d+)"', form).group(1)
    assert known == "0"

    for _ in range(2):
        alice.post(f"/tasks/{failed.pk}/retry/", {"retries": known})

    assert Task.objects.filter(retry_of=failed).count() == 1


def test_retry_get_of_an_unfinished_task_explains(alice, pending):
    response = alice.get(f"/tasks/{pending.pk}/retry/")
    assert response.status_code == 409
    assert "Only a finished task can be retried." in response.content.decode()


def test_confirm_pages_of_someone_elses_task_are_404(alice, other_user):
    task = Task.objects.create(name="demo.long", status="pending", owner=other_user)
    assert alice.get(f"/tasks/{task.pk}/cancel/").status_code == 404
    assert alice.get(f"/tasks/{task.pk}/retry/").status_code == 404


def test_confirm_page_refuses_who_may_only_look(client, django_user_model, user, pending):
    from django.contrib.auth.models import Group

    readonly = django_user_model.objects.create_user("rita", password="rita-secret-pw")
    readonly.groups.set([Group.objects.get(name="Read-only staff")])
    client.force_login(readonly)
    assert client.get(f"/tasks/{pending.pk}/cancel/").status_code == 403


def test_confirm_pages_need_a_login(client, pending):
    response = client.get(f"/tasks/{pending.pk}/cancel/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- the buttons: GET forms that htmx posts after the page's dialog ------------


def test_table_buttons_lead_to_the_confirmation_pages(alice, pending, failed):
    body = alice.get("/tasks/").content.decode()
    assert "hx-confirm" not in body
    for task, action in ((pending, "cancel"), (failed, "retry")):
        url = f"/tasks/{task.pk}/{action}/"
        form = re.search(rf'<form method="get" action="{url}" hx-post="{url}"[^>]*>', body)
        assert form, action
        verb = action.capitalize()
        assert f'data-confirm="{verb} {task.name} ({str(task.pk)[:8]})' in form.group(0)
    assert 'id="confirm-dialog"' in body and "js/confirm.js" in body


def test_task_page_buttons_lead_to_the_confirmation_pages(alice, running, failed):
    body = alice.get(f"/tasks/{running.pk}/").content.decode()
    assert "hx-confirm" not in body
    assert f'<form method="get" action="/tasks/{running.pk}/cancel/"' in body
    assert 'data-confirm-note="It stops at its next progress report."' in body
    body = alice.get(f"/tasks/{failed.pk}/").content.decode()
    assert f'<form method="get" action="/tasks/{failed.pk}/retry/"' in body


def test_tokens_revoke_asks_in_the_dialog_not_a_prompt(alice, user):
    token, _ = token_create(user=user, name="CI")
    body = alice.get("/tokens/").content.decode()
    assert "hx-confirm" not in body
    assert f'<form method="get" action="/tokens/{token.pk}/revoke/"' in body
    assert 'data-confirm="Revoke “CI”' in body
