"""Retention: beat purges old finished tasks in batches, never pinned ones, and audits it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import current_app
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from taskboard import maintenance, services
from taskboard.models import AuditLog, Task
from taskboard.services import retention as retention_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def keep(settings):
    settings.TASKBOARD_KEEP_COMPLETED_DAYS = 30
    settings.TASKBOARD_KEEP_FAILED_DAYS = 90
    return settings


def aged(status: str, days: int, **fields) -> Task:
    return Task.objects.create(
        name="demo.quick",
        status=status,
        created_at=timezone.now() - timedelta(days=days),
        **fields,
    )


def alive(*tasks: Task) -> set:
    return set(Task.objects.filter(pk__in=[t.pk for t in tasks]).values_list("pk", flat=True))


# --- what goes and what stays ---------------------------------------------------------------------


def test_retention_deletes_completed_older_than_their_days(keep):
    old, recent = aged("completed", 31), aged("completed", 29)
    services.retention_purge()
    assert alive(old, recent) == {recent.pk}


def test_retention_keeps_failed_longer(keep):
    month, quarter = aged("failed", 31), aged("failed", 91)
    services.retention_purge()
    assert alive(month, quarter) == {month.pk}


def test_retention_treats_cancelled_like_completed(keep):
    old = aged("cancelled", 31)
    services.retention_purge()
    assert alive(old) == set()


def test_retention_never_deletes_in_flight_tasks(keep):
    tasks = aged("pending", 400), aged("running", 400)
    services.retention_purge()
    assert alive(*tasks) == {t.pk for t in tasks}


def test_retention_never_deletes_pinned_tasks(keep):
    pinned = aged("completed", 400, pinned=True)
    services.retention_purge()
    assert alive(pinned) == {pinned.pk}


def test_retention_zero_days_keeps_forever(keep):
    keep.TASKBOARD_KEEP_COMPLETED_DAYS = 0
    old_done, old_failed = aged("completed", 4000), aged("failed", 91)
    services.retention_purge()
    assert alive(old_done, old_failed) == {old_done.pk}


def test_retention_counts_what_it_deleted(keep):
    aged("completed", 40), aged("cancelled", 40), aged("failed", 100), aged("failed", 10)
    assert services.retention_purge() == {
        "completed": 1,
        "cancelled": 1,
        "failed": 1,
        "deleted": 3,
    }


def test_retention_keeps_the_retries_of_deleted_tasks(keep):
    old = aged("failed", 100)
    retry = aged("completed", 1, retry_of=old)
    services.retention_purge()
    retry.refresh_from_db()
    assert retry.retry_of is None


# --- batches --------------------------------------------------------------------------------------


def test_retention_deletes_in_batches(keep, monkeypatch):
    monkeypatch.setattr(maintenance, "PURGE_BATCH", 2)
    for _ in range(5):
        aged("completed", 40)
    with CaptureQueriesContext(connection) as queries:
        services.retention_purge()
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    task_deletes = [sql for sql in deletes if 'FROM "taskboard_task"' in sql]
    assert len(task_deletes) == 3
    assert not Task.objects.exists()


def test_purge_batches_never_take_a_row_pinned_meanwhile(keep):
    old = aged("completed", 40)
    batches = maintenance.purge_batches(Task.objects.filter(pk=old.pk))
    # Pinned between the SELECT of a batch and its DELETE.
    Task.objects.filter(pk=old.pk).update(pinned=True)
    assert list(batches) == []
    assert alive(old) == {old.pk}


# --- audit ----------------------------------------------------------------------------------------


def test_retention_writes_one_audit_entry_by_the_system(keep):
    tasks = aged("completed", 40), aged("failed", 100)
    services.retention_purge()
    entry = AuditLog.objects.get()
    assert (entry.actor, entry.action, entry.count) == (None, "purge", 2)
    assert sorted(entry.task_ids) == sorted(str(t.pk) for t in tasks)
    assert "retention" in entry.note


def test_retention_with_nothing_to_delete_writes_nothing(keep):
    aged("completed", 1)
    services.retention_purge()
    assert not AuditLog.objects.exists()


def test_retention_audit_lists_at_most_the_cap_of_ids(keep, monkeypatch):
    monkeypatch.setattr(retention_service, "AUDIT_MAX_IDS", 2)
    for _ in range(3):
        aged("completed", 40)
    services.retention_purge()
    entry = AuditLog.objects.get()
    assert entry.count == 3
    assert len(entry.task_ids) == 2
    assert "first 2 ids listed" in entry.note


def test_staff_purge_keeps_pinned_and_names_its_launcher(staff_user):
    job = Task.objects.create(name="taskboard.purge", status="running", owner=staff_user)
    old, pinned = aged("completed", 100), aged("completed", 100, pinned=True)
    assert services.purge_older_than(days=90, job_id=job.pk) == {
        "deleted": 1,
        "older_than_days": 90,
    }
    assert alive(old, pinned, job) == {pinned.pk, job.pk}
    entry = AuditLog.objects.get()
    assert (entry.actor, entry.action, entry.task_ids) == (staff_user, "purge", [str(old.pk)])


# --- schedule and settings ------------------------------------------------------------------------


def test_retention_runs_in_beat():
    schedule = django_settings.CELERY_BEAT_SCHEDULE["taskboard-retention"]
    assert schedule["task"] == "taskboard.retention"
    assert "taskboard.retention" in current_app.tasks


def test_retention_defaults_keep_completed_30_and_failed_90_days():
    # The test environment sets neither variable: these are the shipped defaults.
    assert django_settings.TASKBOARD_KEEP_COMPLETED_DAYS == 30
    assert django_settings.TASKBOARD_KEEP_FAILED_DAYS == 90


# --- pin over HTTP --------------------------------------------------------------------------------


def test_pin_over_http_keeps_the_task_from_retention(client, user, keep):
    task = aged("completed", 400, owner=user)
    client.force_login(user)
    response = client.post(f"/tasks/{task.pk}/pin/", {"pinned": "1"})
    assert response.status_code == 303
    assert response["Location"] == f"/tasks/{task.pk}/"
    services.retention_purge()
    task.refresh_from_db()
    assert task.pinned


def test_unpin_over_http_lets_retention_delete_it(client, user, keep):
    task = aged("completed", 400, owner=user, pinned=True)
    client.force_login(user)
    client.post(f"/tasks/{task.pk}/pin/", {"pinned": "0"})
    services.retention_purge()
    assert alive(task) == set()


def test_pin_is_post_only(client, user):
    task = aged("completed", 1, owner=user)
    client.force_login(user)
    assert client.get(f"/tasks/{task.pk}/pin/").status_code == 405


def test_detail_shows_pin_state(client, user):
    task = aged("completed", 1, owner=user, pinned=True)
    client.force_login(user)
    body = client.get(f"/tasks/{task.pk}/").content.decode()
    assert 'class="pinned-mark"' in body
    assert 'aria-pressed="true"' in body
