"""Retention: the scheduled purge by status and age, and the staff purge task's."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from taskboard import maintenance
from taskboard.conf import app_settings
from taskboard.models import CANCELLED, COMPLETED, FAILED, TERMINAL, AuditLog, Task
from taskboard.services.audit import audit_record
from taskboard.worker.progress import report_progress

# A purge can delete millions of rows: its audit entry lists the first ids only.
AUDIT_MAX_IDS = 10_000


def retention_purge(*, now=None) -> dict[str, int]:
    """Delete finished tasks older than their retention, in batches, never pinned ones.

    Completed and cancelled tasks are kept TASKBOARD_KEEP_COMPLETED_DAYS, failed
    ones TASKBOARD_KEEP_FAILED_DAYS (0: forever), counted from their creation
    (the indexed column). Writes one audit entry when anything went.
    """
    now = now or timezone.now()
    rules = (
        ((COMPLETED, CANCELLED), app_settings.KEEP_COMPLETED_DAYS),
        ((FAILED,), app_settings.KEEP_FAILED_DAYS),
    )
    counts = {COMPLETED: 0, CANCELLED: 0, FAILED: 0}
    listed: list[str] = []
    for statuses, days in rules:
        if days <= 0:
            continue
        old = Task.objects.filter(
            status__in=statuses, created_at__lt=now - timedelta(days=days), pinned=False
        )
        for batch in maintenance.purge_batches(old):
            for status, n in batch.counts.items():
                counts[status] += n
            listed.extend(str(pk) for pk in batch.ids[: AUDIT_MAX_IDS - len(listed)])
    total = sum(counts.values())
    if total:
        audit_record(
            actor=None,
            action=AuditLog.PURGE,
            task_ids=listed,
            count=total,
            note=f"retention: {counts[COMPLETED]} completed, {counts[CANCELLED]} cancelled "
            f"(kept {app_settings.KEEP_COMPLETED_DAYS} days), {counts[FAILED]} failed "
            f"(kept {app_settings.KEEP_FAILED_DAYS} days)"
            + (f"; first {AUDIT_MAX_IDS} ids listed" if total > len(listed) else ""),
        )
    return {**counts, "deleted": total}


def purge_older_than(*, days: int, job_id=None) -> dict:
    """Delete every finished, unpinned task older than ``days`` (the staff purge task); audit it.

    ``job_id`` is the purge's own row: kept, and its owner is the actor.
    """
    job = Task.objects.select_related("owner").filter(pk=job_id).first() if job_id else None
    old = Task.objects.filter(
        status__in=TERMINAL, created_at__lt=timezone.now() - timedelta(days=days), pinned=False
    )
    if job_id:
        old = old.exclude(pk=job_id)
    total = old.count()
    deleted = 0
    listed: list[str] = []
    for batch in maintenance.purge_batches(old):
        deleted += len(batch.ids)
        listed.extend(str(pk) for pk in batch.ids[: AUDIT_MAX_IDS - len(listed)])
        report_progress(deleted, total, f"deleted {deleted} of {total}")
    if deleted:
        audit_record(
            actor=job.owner if job else None,
            action=AuditLog.PURGE,
            task_ids=listed,
            count=deleted,
            note=f"purge of finished tasks older than {days} days"
            + (f"; first {AUDIT_MAX_IDS} ids listed" if deleted > len(listed) else ""),
        )
    return {"deleted": deleted, "older_than_days": days}
