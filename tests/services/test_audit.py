"""The audit log: every single and bulk action is written, shown on the task and to staff."""

from __future__ import annotations

import pytest
from django.test import Client

from taskboard import selectors, services
from taskboard.models import AuditLog, BulkAction, Task

# No broker in these tests: revoke broadcasts are recorded (tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("revokes")]

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def sam(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def failed(owner, **fields) -> Task:
    return Task.objects.create(name="demo.fail", status="failed", owner=owner, **fields)


# --- written by every action -------------------------------------------------------------


def test_single_retry_is_audited_with_the_new_run(alice, user):
    task = failed(user)
    alice.post(f"/tasks/{task.pk}/retry/")
    entry = AuditLog.objects.get()
    new = Task.objects.get(retry_of=task)
    assert (entry.actor, entry.action, entry.task_ids, entry.count) == (
        user,
        "retry",
        [str(task.pk)],
        1,
    )
    assert str(new.pk) in entry.note


def test_retry_with_changes_is_audited(alice, user):
    task = failed(user, kwargs={"message": "a"})
    alice.post(f"/launch/demo.fail/?retry_of={task.pk}", {"message": "b"})
    entry = AuditLog.objects.get()
    assert entry.action == "retry"
    assert "changed arguments" in entry.note


def test_single_cancel_is_audited(alice, user):
    task = Task.objects.create(name="demo.long", status="pending", owner=user)
    alice.post(f"/tasks/{task.pk}/cancel/")
    entry = AuditLog.objects.get()
    assert (entry.actor, entry.action, entry.task_ids) == (user, "cancel", [str(task.pk)])


def test_refused_cancel_writes_nothing(alice, user):
    task = failed(user)
    assert alice.post(f"/tasks/{task.pk}/cancel/").status_code == 409
    assert not AuditLog.objects.exists()


def test_staff_cancel_of_anothers_task_names_the_staff_member(sam, staff_user, user):
    task = Task.objects.create(name="demo.long", status="pending", owner=user)
    sam.post(f"/tasks/{task.pk}/cancel/")
    assert AuditLog.objects.get().actor == staff_user


def test_pin_and_unpin_are_audited(alice, user):
    task = failed(user)
    alice.post(f"/tasks/{task.pk}/pin/", {"pinned": "1"})
    alice.post(f"/tasks/{task.pk}/pin/", {"pinned": "0"})
    assert list(AuditLog.objects.order_by("id").values_list("action", flat=True)) == [
        "pin",
        "unpin",
    ]


def test_pinning_a_pinned_task_writes_nothing_more(alice, user):
    task = failed(user, pinned=True)
    alice.post(f"/tasks/{task.pk}/pin/", {"pinned": "1"})
    assert not AuditLog.objects.exists()


def test_bulk_action_is_one_entry_with_the_exact_ids(alice, user):
    tasks = [failed(user) for _ in range(3)]
    alice.post("/tasks/bulk/", {"action": "retry", "ids": [t.pk for t in tasks]})
    alice.post(f"/tasks/bulk/{BulkAction.objects.get().pk}/")
    entry = AuditLog.objects.get()
    assert entry.action == "bulk_retry"
    assert sorted(entry.task_ids) == sorted(str(t.pk) for t in tasks)
    assert entry.count == 3


def test_bulk_entry_lists_only_the_ids_acted_on(alice, user):
    kept, gone = failed(user), failed(user)
    alice.post("/tasks/bulk/", {"action": "delete", "ids": [kept.pk, gone.pk]})
    Task.objects.filter(pk=kept.pk).update(pinned=True)
    alice.post(f"/tasks/bulk/{BulkAction.objects.get().pk}/")
    assert AuditLog.objects.get().task_ids == [str(gone.pk)]


def test_audit_entry_survives_its_actor(user, django_user_model):
    task = failed(user)
    services.task_pin(user=user, task=task)
    user.delete()
    entry = AuditLog.objects.get()
    assert entry.actor is None
    assert entry.task_ids == [str(task.pk)]


# --- the task's activity -------------------------------------------------------------------


def test_detail_shows_the_tasks_activity(alice, user):
    task = failed(user)
    alice.post(f"/tasks/{task.pk}/pin/")
    body = alice.get(f"/tasks/{task.pk}/").content.decode()
    assert 'id="h-activity"' in body
    assert "alice" in body
    assert '<span class="audit-action audit-pin">pin</span>' in body


def test_detail_activity_names_the_other_tasks_of_a_bulk_entry(alice, user):
    task, other = failed(user), failed(user)
    AuditLog.objects.create(
        actor=user, action="bulk_retry", task_ids=[str(task.pk), str(other.pk)], count=2
    )
    body = alice.get(f"/tasks/{task.pk}/").content.decode()
    assert "bulk retry" in body
    assert "(with 1 other task)" in body


def test_detail_activity_is_empty_for_an_untouched_task(alice, user):
    body = alice.get(f"/tasks/{failed(user).pk}/").content.decode()
    assert "No one has retried, cancelled or pinned this task." in body


def test_task_activity_finds_only_entries_naming_the_task(user):
    task, other = failed(user), failed(user)
    mine = AuditLog.objects.create(actor=user, action="pin", task_ids=[str(task.pk)], count=1)
    AuditLog.objects.create(actor=user, action="pin", task_ids=[str(other.pk)], count=1)
    assert selectors.task_activity(task=task) == [mine]


def test_detail_activity_escapes_the_note(alice, user):
    task = failed(user)
    AuditLog.objects.create(
        actor=user, action="pin", task_ids=[str(task.pk)], count=1, note="<script>x()</script>"
    )
    body = alice.get(f"/tasks/{task.pk}/").content.decode()
    assert "<script>x()</script>" not in body
    assert "&lt;script&gt;" in body


def test_pin_from_htmx_answers_the_detail_fragment(alice, user):
    task = failed(user)
    response = alice.post(f"/tasks/{task.pk}/pin/", **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="task-detail"')
    assert "Unpin" in body


# --- the /audit/ page ----------------------------------------------------------------------


def test_audit_page_lists_entries_newest_first(sam, user):
    task = failed(user)
    services.task_pin(user=user, task=task)
    services.task_pin(user=user, task=task, pinned=False)
    pin, unpin = AuditLog.objects.order_by("id")
    body = sam.get("/audit/").content.decode()
    assert body.index(f'id="audit-{unpin.pk}"') < body.index(f'id="audit-{pin.pk}"')
    assert f'href="/tasks/{task.pk}/"' in body


def test_audit_page_filters_by_action(sam, user):
    task = failed(user)
    services.task_pin(user=user, task=task)
    services.task_pin(user=user, task=task, pinned=False)
    body = sam.get("/audit/?action=unpin").content.decode()
    assert 'class="audit-action audit-unpin"' in body
    assert 'class="audit-action audit-pin"' not in body


def test_audit_page_ignores_an_unknown_action(sam):
    assert sam.get("/audit/?action=%00nope").status_code == 200


def test_audit_page_shows_system_for_the_purge(sam, user):
    AuditLog.objects.create(actor=None, action="purge", task_ids=[], count=12, note="retention")
    body = sam.get("/audit/").content.decode()
    assert "system" in body
    assert "12" in body


def test_audit_link_in_the_nav_for_staff_only(sam, alice):
    assert 'href="/audit/"' in sam.get("/tasks/").content.decode()
    assert 'href="/audit/"' not in alice.get("/tasks/").content.decode()
