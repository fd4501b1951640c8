"""The audit log, and pinning (an audited action of its own)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from taskboard import permissions
from taskboard.models import AuditLog, Task


def audit_record(
    *, actor, action: str, task_ids, note: str = "", count: int | None = None
) -> AuditLog:
    """Write one audit entry: who (None: the system), did what, to which task ids."""
    ids = [str(task_id) for task_id in task_ids]
    return AuditLog.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        task_ids=ids,
        count=len(ids) if count is None else count,
        note=note,
    )


def task_pin(*, user, task: Task, pinned: bool = True) -> bool:
    """Pin ``task`` (the retention purge keeps it) or unpin it; return whether it changed."""
    if not permissions.can_act(user, task):
        raise PermissionDenied("You may not pin this task.")
    changed = Task.objects.filter(pk=task.pk, pinned=not pinned).update(pinned=pinned)
    task.pinned = pinned
    if changed:
        action = AuditLog.PIN if pinned else AuditLog.UNPIN
        audit_record(actor=user, action=action, task_ids=[task.pk])
    return bool(changed)
