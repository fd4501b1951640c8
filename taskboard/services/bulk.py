"""Bulk actions: freeze a selection, confirm it, run it in batches, audit each batch."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from taskboard import permissions
from taskboard.conf import app_settings
from taskboard.models import IN_FLIGHT, TERMINAL, BulkAction, Task
from taskboard.services.audit import audit_record
from taskboard.services.launch import (
    ActionNotAllowed,
    AlreadyRetried,
    LaunchInvalid,
    LaunchUnavailable,
    cancel_revoked,
    create_and_send,
    revoke_sent,
    task_retry,
)
from taskboard.worker.progress import report_progress

# The background task that runs large bulk actions (taskboard/tasks.py).
BULK_TASK = "taskboard.bulk_action"
# Rows per batch of a bulk action, and per audit entry it writes; sets up to this
# size (the inline maximum by default) are one entry.
BULK_BATCH = 500
BULK_VERBS = {
    BulkAction.RETRY: "retried",
    BulkAction.CANCEL: "cancelled",
    BulkAction.DELETE: "deleted",
}


def bulk_applicable(queryset: QuerySet[Task], action: str) -> QuerySet[Task]:
    """Narrow ``queryset`` to the tasks ``action`` applies to.

    Retry and delete take finished tasks, cancel takes tasks in flight; delete
    leaves pinned tasks (and in-flight ones, whose worker would write them back).
    """
    if action == BulkAction.CANCEL:
        return queryset.filter(status__in=IN_FLIGHT)
    queryset = queryset.filter(status__in=TERMINAL)
    if action == BulkAction.DELETE:
        queryset = queryset.filter(pinned=False)
    return queryset


def bulk_prepare(
    *,
    user,
    action: str,
    queryset: QuerySet[Task],
    selected: int | None = None,
    description: str = "",
) -> BulkAction:
    """Freeze the ids of ``queryset`` that ``user`` may act on and ``action`` applies to.

    A retry leaves out the tasks that already have a retry (an earlier "Retry all"
    retried them): their ids are kept aside, and only bulk_include_retried, the
    user's explicit choice on the confirmation page, adds them.

    The ids are read once, here, and shown for confirmation; the confirmed action
    touches exactly these, so tasks created or changed afterwards stay out of it.
    ``selected`` is how many tasks the user picked; None ("all matching" a filter)
    counts ``queryset`` with a LIMIT of the cap + 1, never over the whole history.
    A selection over TASKBOARD_BULK_MAX is refused whole: nothing is frozen.
    """
    if action not in BULK_VERBS:
        raise ActionNotAllowed(f"Unknown bulk action {action[:40]!r}.")
    cap = app_settings.BULK_MAX
    if selected is None:
        selected = queryset.order_by()[: cap + 1].count()
    if selected > cap:
        raise ActionNotAllowed(
            f"That selection holds more than {cap:,} tasks, the most one bulk action takes. "
            "Nothing was done: narrow the filter (a time range, a task name) and act on "
            "the tasks in parts."
        )
    frozen = bulk_applicable(permissions.actionable_filter(queryset, user), action)
    frozen = frozen.order_by("-created_at", "-id")
    retried: list[str] = []
    if action == BulkAction.RETRY:
        has_retry = Exists(Task.objects.filter(retry_of=OuterRef("pk")))
        retried = [str(pk) for pk in frozen.filter(has_retry).values_list("pk", flat=True)[:cap]]
        frozen = frozen.filter(~has_retry)
    # The frozen ids are a subset of the selection, so at most ``cap``.
    ids = list(frozen.values_list("pk", flat=True)[:cap])
    if not ids and not retried:
        raise ActionNotAllowed(f"None of the selected tasks can be {BULK_VERBS[action]}.")
    outcome: dict[str, Any] = {"selected": selected}
    if retried:
        outcome["retried_ids"] = retried
    return BulkAction.objects.create(
        actor=user,
        action=action,
        task_ids=[str(pk) for pk in ids],
        count=len(ids),
        description=description,
        outcome=outcome,
    )


def bulk_include_retried(*, user, bulk: BulkAction) -> BulkAction:
    """Freeze ``bulk``'s selection again with the already retried tasks it left out.

    A new bulk action, so that a confirmation page still open on the old one
    confirms only what it shows.
    """
    if bulk.actor_id != user.pk:
        raise PermissionDenied("This is someone else's selection.")
    retried = bulk.outcome.get("retried_ids") or []
    if bulk.confirmed_at is not None or not retried:
        raise ActionNotAllowed("This selection has no already retried tasks to add.")
    ids = list(bulk.task_ids) + list(retried)
    return BulkAction.objects.create(
        actor=user,
        action=bulk.action,
        task_ids=ids,
        count=len(ids),
        description=bulk.description,
        outcome={"selected": bulk.outcome.get("selected", len(ids)), "include_retried": True},
    )


def bulk_confirm(*, user, bulk: BulkAction) -> BulkAction:
    """Run a frozen bulk action once: in the request when small, else as a background task."""
    if bulk.actor_id != user.pk:
        raise PermissionDenied("This is someone else's selection.")
    now = timezone.now()
    # Conditional: a double submit (or a second tab) cannot run it twice.
    if not BulkAction.objects.filter(pk=bulk.pk, confirmed_at__isnull=True).update(
        confirmed_at=now
    ):
        raise ActionNotAllowed("This bulk action was already confirmed.")
    bulk.confirmed_at = now
    if bulk.count <= app_settings.BULK_INLINE_MAX:
        bulk_run(bulk_id=bulk.pk)
        bulk.refresh_from_db()
        return bulk
    try:
        with transaction.atomic():
            job = create_and_send(
                name=BULK_TASK, owner=user, kwargs={"bulk_id": str(bulk.pk)}, bulk=bulk
            )
            BulkAction.objects.filter(pk=bulk.pk).update(job=job)
    except LaunchUnavailable:
        # Nothing ran: the selection can be confirmed again once the broker is back.
        BulkAction.objects.filter(pk=bulk.pk).update(confirmed_at=None)
        raise
    bulk.job = job
    return bulk


def bulk_run(*, bulk_id) -> dict[str, int]:
    """Apply a confirmed bulk action to its frozen ids, batch by batch, and audit each batch.

    Permissions are checked again for every batch (the actor may have lost
    them since confirming). A run stopped midway (a worker died) resumes after
    the last finished batch; a finished one does nothing.
    """
    bulk = BulkAction.objects.select_related("actor").get(pk=bulk_id)
    if bulk.confirmed_at is None:
        raise ActionNotAllowed("This bulk action was not confirmed.")
    outcome = {"selected": bulk.count, "done": 0, "acted": 0, "skipped": 0, "left": 0}
    outcome.update(bulk.outcome)
    if bulk.finished_at is not None:
        return outcome
    actor = bulk.actor
    ids = bulk.task_ids
    while outcome["done"] < len(ids):
        batch = ids[outcome["done"] : outcome["done"] + BULK_BATCH]
        acted, processed, stopped, retried = _bulk_batch(bulk, actor, batch)
        outcome["already_retried"] = outcome.get("already_retried", 0) + retried
        if acted:
            audit_record(
                actor=actor,
                action=f"bulk_{bulk.action}",
                task_ids=acted,
                note=f"{BULK_VERBS[bulk.action]} {len(acted)} of {bulk.count} confirmed "
                f"({bulk.description or 'selection'}; bulk action {bulk.pk})",
            )
        outcome["acted"] += len(acted)
        outcome["skipped"] += processed - len(acted) - retried
        outcome["done"] += processed
        if stopped:
            outcome["left"] = len(ids) - outcome["done"]
            outcome["stopped"] = stopped
            break
        BulkAction.objects.filter(pk=bulk.pk).update(outcome=outcome)
        report_progress(outcome["done"], len(ids), f"{outcome['done']} of {len(ids)}")
    BulkAction.objects.filter(pk=bulk.pk).update(outcome=outcome, finished_at=timezone.now())
    return outcome


def _bulk_batch(bulk: BulkAction, actor, batch: list[str]):
    """Apply ``bulk``'s action to one batch.

    Return (ids acted on, ids processed, why it stopped, how many were already retried).
    """
    action = bulk.action
    found = bulk_applicable(
        permissions.actionable_filter(Task.objects.filter(pk__in=batch), actor), action
    )
    if action == BulkAction.DELETE:
        ids = list(found.values_list("pk", flat=True))
        # The same conditions again in the DELETE: a row pinned meanwhile stays.
        bulk_applicable(Task.objects.filter(pk__in=ids), action).delete()
        return [str(pk) for pk in ids], len(batch), "", 0
    tasks = {str(task.pk): task for task in found.select_related("owner")}
    acted: list[str] = []
    retried = 0
    # Each task once: not one an earlier action retried, unless the user chose to
    # include those; and never twice by this action (a resumed or repeated run).
    known_retries = None if bulk.outcome.get("include_retried") else 0
    if action == BulkAction.CANCEL and tasks:
        revoke_sent(list(tasks))
    for position, task_id in enumerate(batch):
        task = tasks.get(task_id)
        if task is None:
            continue
        try:
            if action == BulkAction.CANCEL:
                cancel_revoked(task)
            else:
                # Not under the actor's launch rate limit: a bulk retry is bounded by
                # TASKBOARD_BULK_MAX and by once per task, and its rows are not counted.
                task_retry(
                    user=actor,
                    task=task,
                    audit=False,
                    check_rate=False,
                    known_retries=known_retries,
                    bulk=bulk,
                )
        except AlreadyRetried:
            retried += 1
            continue
        except (ActionNotAllowed, LaunchInvalid, PermissionDenied):
            continue
        except LaunchUnavailable as exc:
            return acted, position, str(exc), retried
        acted.append(task_id)
    return acted, len(batch), "", retried
