"""Writes: launch, retry, cancel, and the tracking writes behind the Celery signals."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery import current_app
from celery.utils.serialization import UnpickleableExceptionWrapper
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from tasks import maintenance, permissions, registry, states
from tasks.models import (
    CANCELLED,
    COMPLETED,
    FAILED,
    IN_FLIGHT,
    PENDING,
    RUNNING,
    TERMINAL,
    AuditLog,
    BulkAction,
    Task,
)
from tasks.progress import report_progress, request_cancel

logger = logging.getLogger(__name__)

# Set on messages sent by task_launch so that the publish signal skips the
# upsert: the row already exists.
TRACKED_HEADER = "taskboard_tracked"


class LaunchError(Exception):
    """A launch was refused; nothing was created."""


class LaunchInvalid(LaunchError):
    """The parameters did not validate; ``form`` carries the errors."""

    def __init__(self, form):
        super().__init__("The parameters are not valid.")
        self.form = form


class LaunchUnavailable(LaunchError):
    """The broker could not be reached; nothing was launched."""


class RateLimited(LaunchError):
    """The user launched more tasks in the last minute than the limit allows."""


class ActionNotAllowed(Exception):
    """The action does not apply to the task in its current state."""


class AlreadyRetried(ActionNotAllowed):
    """The task has a retry the caller did not know of; ``retry`` is the newest one."""

    def __init__(self, retry: Task):
        super().__init__("This task was already retried; nothing was launched again.")
        self.retry = retry


def _json_params(cleaned: dict[str, Any]) -> dict[str, Any]:
    """Return form data as plain JSON types (dates become ISO strings)."""
    return json.loads(json.dumps(cleaned, cls=DjangoJSONEncoder))


def _send(task: Task) -> None:
    current_app.send_task(
        task.name,
        args=task.args,
        kwargs=task.kwargs,
        task_id=str(task.pk),
        queue=task.queue or None,
        headers={TRACKED_HEADER: True},
    )


def _create_and_send(**fields: Any) -> Task:
    """Create the row and send its message when the transaction commits."""
    task = Task.objects.create(status=PENDING, **fields)

    def send() -> None:
        try:
            _send(task)
        except Exception as exc:
            # No orphan row: a launch that could not be queued did not happen.
            logger.warning("could not queue %s: %s", task.pk, exc)
            Task.objects.filter(pk=task.pk, status=PENDING).delete()
            raise LaunchUnavailable(
                "The task queue is unreachable right now; nothing was launched. "
                "Try again in a moment."
            ) from exc

    transaction.on_commit(send)
    return task


def role_groups_install(*, add_users_to_launchers: bool = False) -> list:
    """Create the suggested role groups (permissions.GROUPS) or give them their permissions.

    Idempotent: a group that exists gets the permissions it lacks; permissions an
    admin added are kept. With ``add_users_to_launchers`` every existing user joins
    Launchers, as a site opening launching to all its users chooses to.
    """
    from django.contrib.auth.models import Group, Permission

    groups = []
    with transaction.atomic():
        for name, codenames in permissions.GROUPS.items():
            group, _ = Group.objects.get_or_create(name=name)
            group.permissions.add(
                *Permission.objects.filter(content_type__app_label="tasks", codename__in=codenames)
            )
            groups.append(group)
        if add_users_to_launchers:
            launchers = next(g for g in groups if g.name == permissions.LAUNCHERS)
            launchers.user_set.add(*get_user_model().objects.all())
    return groups


def user_join_default_group(user) -> None:
    """Put ``user`` in TASKBOARD_DEFAULT_GROUP, a site's opt-in; unset (a host's default): nothing.

    A suggested group (permissions.GROUPS) missing is created with its permissions.
    """
    from django.contrib.auth.models import Group, Permission

    # getattr: a host that adds Taskboard does not set it, and its users' groups are its own.
    name = getattr(settings, "TASKBOARD_DEFAULT_GROUP", None)
    if not name:
        return
    group, created = Group.objects.get_or_create(name=name)
    if created and name in permissions.GROUPS:
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="tasks", codename__in=permissions.GROUPS[name]
            )
        )
    user.groups.add(group)


def on_user_saved(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """Put a newly created user in the site's default group, if it names one (post_save)."""
    if created and not raw:
        user_join_default_group(instance)


def task_launch(
    *,
    user,
    name: str,
    params: dict[str, Any],
    retry_of: Task | None = None,
    check_rate: bool = True,
    bulk: BulkAction | None = None,
) -> Task:
    """Validate ``params`` with the task's form, create the row and send it on commit.

    ``bulk`` is the bulk action launching it (a bulk retry): the row is marked with it,
    and neither counted nor refused by the launch rate limit.
    """
    entry = registry.get(name)
    if not entry.allowed_for(user):
        raise PermissionDenied("You may not launch this task.")
    form = entry.form_class(data=params)
    if not form.is_valid():
        raise LaunchInvalid(form)
    fields = {
        "name": entry.name,
        "owner": user if user.is_authenticated else None,
        "kwargs": _json_params(form.cleaned_data),
        "retry_of": retry_of,
        "bulk": bulk,
    }
    limit = settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE
    if not (check_rate and bulk is None and limit and user.is_authenticated):
        # No transaction of its own: outside one, the INSERT commits by itself (one
        # round trip instead of BEGIN, INSERT, COMMIT) and the send follows it at once;
        # inside the caller's transaction, the send waits for the caller's commit.
        return _create_and_send(**fields)
    # Counted and admitted in one transaction holding the user's row lock: concurrent
    # launches by one user (from any number of web processes) queue here, so each
    # counts the rows the others committed and exactly ``limit`` get in.
    with transaction.atomic():
        _check_rate(user, limit)
        return _create_and_send(**fields)


def _check_rate(user, limit: int) -> None:
    """Refuse a launch beyond ``limit`` in the last minute by ``user``; call in a transaction.

    Counted from the rows themselves (an index range on owner, created_at), so every
    web process shares the count without a cache. The lock on the user's row makes
    count-then-insert atomic on PostgreSQL; SQLite ignores FOR UPDATE, but its
    transactions (BEGIN IMMEDIATE, web/settings.py) already run one writer at a time.
    """
    locked = get_user_model().objects.select_for_update().filter(pk=user.pk)
    list(locked.values_list("pk", flat=True))
    since = timezone.now() - timedelta(minutes=1)
    # Rows a bulk action created are not launches of this user's (Task.bulk).
    recent = Task.objects.filter(owner=user, created_at__gte=since, bulk__isnull=True)
    if recent[:limit].count() >= limit:
        raise RateLimited(
            f"You have launched or retried {limit} tasks in the last minute (the most "
            "one person may); wait a moment and try again."
        )


def task_retry(
    *,
    user,
    task: Task,
    params: dict[str, Any] | None = None,
    audit: bool = True,
    check_rate: bool = True,
    known_retries: int | None = None,
    bulk: BulkAction | None = None,
) -> Task:
    """Launch a new run of ``task`` linked to it, with its arguments or edited ``params``.

    ``known_retries`` is how many retries of ``task`` the caller saw; if it has more by
    now (a double submit, a second tab, an earlier bulk action), nothing is launched
    and AlreadyRetried names the newest. A ``bulk`` action retries each task at most
    once (a resumed run, a second confirmation), and marks the new row with itself.
    """
    if not permissions.can_retry(user, task):
        raise PermissionDenied("You may not retry this task.")
    if task.status not in TERMINAL:
        raise ActionNotAllowed("Only a finished task can be retried.")
    try:
        registry.get(task.name)
    except registry.UnknownTask:
        if params is not None:
            raise ActionNotAllowed(
                "This task has no form; it can only be retried as it was."
            ) from None
        registered = False
    else:
        registered = True
    with transaction.atomic():
        # Retries of one task queue on its row's lock, so the check below sees every
        # retry committed before this one (SQLite: one writer at a time anyway).
        list(Task.objects.select_for_update().filter(pk=task.pk).values_list("pk", flat=True))
        _refuse_known_retry(task, known_retries=known_retries, bulk=bulk)
        if registered:
            new = task_launch(
                user=user,
                name=task.name,
                params=task.kwargs if params is None else params,
                retry_of=task,
                check_rate=check_rate,
                bulk=bulk,
            )
        else:
            # Sent from code outside the registry: run it again exactly as it was.
            new = _create_and_send(
                name=task.name,
                owner=task.owner,
                args=task.args,
                kwargs=task.kwargs,
                queue=task.queue,
                retry_of=task,
                bulk=bulk,
            )
    if audit:
        changed = " with changed arguments" if params is not None else ""
        audit_record(
            actor=user, action=AuditLog.RETRY, task_ids=[task.pk], note=f"new run {new.pk}{changed}"
        )
    return new


def _refuse_known_retry(task: Task, *, known_retries: int | None, bulk: BulkAction | None) -> None:
    """Raise AlreadyRetried if ``task`` has more retries than known, or else one by ``bulk``."""
    retries = Task.objects.filter(retry_of=task).order_by("-created_at", "-id")
    if known_retries is not None:
        seen = list(retries[: known_retries + 1])
        newest = seen[0] if len(seen) > known_retries else None
    elif bulk is not None:
        newest = retries.filter(bulk=bulk).first()
    else:
        return
    if newest is not None:
        raise AlreadyRetried(newest)


def task_cancel(*, task: Task, user=None, audit: bool = True) -> bool:
    """Cancel ``task``: revoke it if pending, ask it to stop if running.

    Never terminates a running process; a running task stops at its next
    progress report. Returns whether the row is now Cancelled. ``user`` None
    is the system (no permission check, no actor in the audit log).
    """
    if user is not None and not permissions.can_act(user, task):
        raise PermissionDenied("You may not cancel this task.")
    if task.status in TERMINAL:
        raise ActionNotAllowed("This task has already finished.")
    _revoke([task.pk])
    cancelled = _cancel_revoked(task)
    if audit:
        note = "cancelled before it started" if cancelled else "asked to stop while running"
        audit_record(actor=user, action=AuditLog.CANCEL, task_ids=[task.pk], note=note)
    return cancelled


def _revoke(task_ids: list) -> None:
    """Broadcast one revoke for ``task_ids``; a broker that is down is only logged."""
    ids = [str(task_id) for task_id in task_ids]
    try:
        current_app.control.revoke(ids[0] if len(ids) == 1 else ids)
    except Exception as exc:  # the broker is down: the rows are still cancelled
        logger.warning("could not broadcast revoke of %d tasks: %s", len(task_ids), exc)


def _cancel_revoked(task: Task) -> bool:
    """Mark a revoked ``task`` cancelled if still pending, else flag it to stop."""
    if not _started_in_backend(task.pk) and states.transition(
        task.pk, CANCELLED, only_from=(PENDING,), error_message="Cancelled before it started"
    ):
        return True
    # It started meanwhile (or was already running): stop it cooperatively.
    try:
        request_cancel(current_app, task.pk)
    except Exception as exc:
        logger.warning("could not flag %s for cancellation: %s", task.pk, exc)
        raise ActionNotAllowed("The result backend is unreachable; try again.") from exc
    states.touch(task.pk, cancel_requested=True)
    return False


def _started_in_backend(task_id) -> bool:
    """Return whether the result backend says the task ran, though its row may be pending.

    A worker holds a task's "running" write back for a moment, and queues its
    "completed" write for another (tasks/tracking.py).
    """
    from tasks.live import LiveStatusUnavailable, live_metas

    try:
        meta = live_metas([task_id]).get(str(task_id)) or {}
    except LiveStatusUnavailable:
        return False
    return meta.get("status") in ("STARTED", "PROGRESS", "RETRY", "SUCCESS", "FAILURE")


def task_mark_cancelled(*, task_id, reason: str) -> bool:
    """Record that a running task stopped because it was cancelled."""
    return states.transition(task_id, CANCELLED, error_message=reason)


# --- audit log, pinning, bulk actions, retention ----------------------------

# The background task that runs large bulk actions (tasks/tasks.py).
BULK_TASK = "taskboard.bulk_action"
# Rows per batch of a bulk action, and per audit entry it writes; sets up to this
# size (the inline maximum by default) are one entry.
BULK_BATCH = 500
# A purge can delete millions of rows: its audit entry lists the first ids only.
AUDIT_MAX_IDS = 10_000
BULK_VERBS = {
    BulkAction.RETRY: "retried",
    BulkAction.CANCEL: "cancelled",
    BulkAction.DELETE: "deleted",
}


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
    cap = settings.TASKBOARD_BULK_MAX
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
    if bulk.count <= settings.TASKBOARD_BULK_INLINE_MAX:
        bulk_run(bulk_id=bulk.pk)
        bulk.refresh_from_db()
        return bulk
    try:
        with transaction.atomic():
            job = _create_and_send(
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
        _revoke(list(tasks))
    for position, task_id in enumerate(batch):
        task = tasks.get(task_id)
        if task is None:
            continue
        try:
            if action == BulkAction.CANCEL:
                _cancel_revoked(task)
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


def retention_purge(*, now=None) -> dict[str, int]:
    """Delete finished tasks older than their retention, in batches, never pinned ones.

    Completed and cancelled tasks are kept TASKBOARD_KEEP_COMPLETED_DAYS, failed
    ones TASKBOARD_KEEP_FAILED_DAYS (0: forever), counted from their creation
    (the indexed column). Writes one audit entry when anything went.
    """
    now = now or timezone.now()
    rules = (
        ((COMPLETED, CANCELLED), settings.TASKBOARD_KEEP_COMPLETED_DAYS),
        ((FAILED,), settings.TASKBOARD_KEEP_FAILED_DAYS),
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
            f"(kept {settings.TASKBOARD_KEEP_COMPLETED_DAYS} days), {counts[FAILED]} failed "
            f"(kept {settings.TASKBOARD_KEEP_FAILED_DAYS} days)"
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


# --- tracking writes, called by the Celery signal handlers ------------------


def track_published(*, task_id, name: str, args, kwargs, queue: str = "") -> None:
    """Create a pending row for a task sent from code outside task_launch."""
    Task.objects.bulk_create(
        [
            Task(
                id=task_id,
                name=name[:100],
                status=PENDING,
                args=_jsonable(args, []),
                kwargs=_jsonable(kwargs, {}),
                queue=queue[:200],
            )
        ],
        ignore_conflicts=True,
    )


def track_started(
    *,
    task_id,
    name: str,
    args,
    kwargs,
    worker: str,
    retries: int,
    queue: str = "",
    started_at=None,
) -> None:
    """Mark the row running on ``worker``; create it if nothing recorded the send."""
    now = timezone.now()
    fields = _start_fields(worker=worker, retries=retries, started_at=started_at or now)
    if states.transition(task_id, RUNNING, **fields):
        return
    created = Task.objects.bulk_create(
        [
            Task(
                id=task_id,
                name=name[:100],
                status=RUNNING,
                args=_jsonable(args, []),
                kwargs=_jsonable(kwargs, {}),
                queue=queue[:200],
                created_at=fields["started_at"],
                **fields,
            )
        ],
        ignore_conflicts=True,
    )
    del created  # the row may also exist already, terminal: nothing to do then


def _start_fields(*, worker: str, retries: int, started_at) -> dict[str, Any]:
    return {"worker": worker[:255], "attempts": retries + 1, "started_at": started_at}


def _merged_start(start: dict | None) -> dict[str, Any]:
    """Return the fields a held-back ``start`` adds to its task's next UPDATE."""
    if start is None:
        return {}
    return _start_fields(
        worker=start["worker"], retries=start["retries"], started_at=start["started_at"]
    )


def _finish(task_id, target: str, start: dict | None, **fields: Any) -> bool:
    """Move the row to terminal ``target``, with its held-back start in the same UPDATE.

    ``start`` is track_started's keywords, or None when the start is already written.
    A row that did not move (none recorded yet, or already finished) gets the two
    writes one after the other, as if the start had not been held.
    """
    if states.transition(task_id, target, **_merged_start(start), **fields):
        return True
    return _finish_unmoved(task_id, target, start, fields)


def _finish_unmoved(task_id, target: str, start: dict | None, fields: dict[str, Any]) -> bool:
    if start is None:
        return False
    track_started(**start)
    return states.transition(task_id, target, **fields)


def task_finished(*, task_id) -> bool:
    """Return whether the row of ``task_id`` is in a terminal state."""
    return Task.objects.filter(pk=task_id, status__in=TERMINAL).exists()


@dataclass(frozen=True)
class Completion:
    """A task's "completed" write, made at once or later in a batch (tasks/tracking.py)."""

    task_id: Any
    fields: dict[str, Any]
    start: dict | None = None


def completion(*, task_id, result: Any, start: dict | None = None) -> Completion:
    """Return the write that marks ``task_id`` completed now with ``result``."""
    value, truncated = states.cap_result(result)
    fields = {
        "result": value,
        "result_truncated": truncated,
        "error_message": "",
        "finished_at": timezone.now(),
    }
    return Completion(task_id, fields, start)


def track_succeeded(*, task_id, result: Any, start: dict | None = None) -> None:
    """Mark the row completed with ``result`` (and its held-back ``start``, if any)."""
    done = completion(task_id=task_id, result=result, start=start)
    _finish(done.task_id, COMPLETED, done.start, **done.fields)


def track_succeeded_many(*, completions: list[Completion]) -> None:
    """Write ``completions`` (of distinct tasks) in one transaction, mostly in one UPDATE.

    Each row moves as ``track_succeeded`` would move it; rows that did not move and
    hold a start (none recorded yet) get the start and the end one after the other.
    """
    with transaction.atomic():
        moved = states.transition_many(
            COMPLETED, [(c.task_id, {**_merged_start(c.start), **c.fields}) for c in completions]
        )
        for c in completions:
            if str(c.task_id) not in moved:
                _finish_unmoved(c.task_id, COMPLETED, c.start, c.fields)


def track_failed(
    *, task_id, exception: BaseException, traceback: str, start: dict | None = None
) -> None:
    """Mark the row failed with the exception (and its held-back ``start``, if any)."""
    _finish(task_id, FAILED, start, **failure_fields(exception, traceback))


def failure_fields(exception: Any, traceback: str | None = "") -> dict[str, str]:
    """Return the error columns of a failure, however it reached us.

    A worker hands over the exception (or Celery's UnpickleableExceptionWrapper
    for one that does not survive pickling, such as ``ApiError(503, "busy")``);
    the result backend gives back an instance of the class, or of a class Celery
    made up when this process cannot import it; older or foreign writers leave a
    dict or a plain string. The class name recorded is always the real one.
    """
    if isinstance(exception, UnpickleableExceptionWrapper):
        error_type = exception.exc_cls_name
        message = exception.text or _exc_message(exception.exc_args)
    elif isinstance(exception, BaseException):
        error_type, message = type(exception).__name__, str(exception)
    elif isinstance(exception, dict):
        error_type = str(exception.get("exc_type") or "Error")
        message = _exc_message(exception.get("exc_message"))
    else:
        error_type, message = "Error", _exc_message(exception)
    if error_type == "WorkerLostError":
        message = f"worker lost: {message}"
    return {
        "error_type": error_type[:200],
        "error_message": states.cap_text(message),
        "traceback": states.cap_text(traceback or ""),
    }


def track_revoked(*, task_id, reason: str) -> None:
    states.transition(task_id, CANCELLED, error_message=reason)


def track_retrying(*, task_id, reason: str) -> None:
    states.transition(
        task_id,
        RUNNING,
        # No attempt count here: the next attempt's task_prerun records it
        # (request.retries + 1) when it really starts.
        error_message=states.cap_text(f"Retrying: {reason}"),
    )


def _jsonable(value: Any, empty: Any) -> Any:
    if value is None:
        return empty
    value, _ = states.cap_result(list(value) if isinstance(value, tuple) else value)
    return value


# --- reconciliation ---------------------------------------------------------


def reconcile(*, now=None, batch: int = 500) -> dict[str, int]:
    """Converge rows left pending or running too long with the result backend.

    Rows the backend knows as finished get that terminal state; rows nobody
    knows any more are marked failed with reason "lost".
    """
    from tasks.live import live_metas

    now = now or timezone.now()
    running_cutoff = now - timedelta(
        seconds=settings.CELERY_TASK_TIME_LIMIT + settings.TASKBOARD_STALE_MARGIN
    )
    pending_cutoff = now - timedelta(seconds=settings.TASKBOARD_PENDING_STALE_AFTER)
    stale = list(
        Task.objects.filter(
            Q(status=RUNNING, started_at__lt=running_cutoff)
            | Q(status=RUNNING, started_at__isnull=True, created_at__lt=running_cutoff)
            | Q(status=PENDING, created_at__lt=pending_cutoff)
        )
        .order_by()
        .values_list("id", "status")[:batch]
    )
    counts = {COMPLETED: 0, FAILED: 0, CANCELLED: 0, "lost": 0, "skipped": 0}
    if not stale:
        return counts
    metas = live_metas(task_id for task_id, _ in stale)
    for task_id, _status in stale:
        meta = metas.get(str(task_id)) or {}
        try:
            outcome = _converge(task_id, meta)
        except Exception:
            # One row must never stop the others: it is tried again next run.
            logger.exception("reconcile: could not converge %s, skipped", task_id)
            outcome = "skipped"
        if outcome:
            counts[outcome] += 1
    return counts


def _converge(task_id, meta: dict) -> str | None:
    """Write the state the backend knows for a stale row, or mark it lost."""
    if apply_backend_meta(task_id, meta):
        return _terminal_for(meta)
    if states.transition(
        task_id,
        FAILED,
        error_type="Lost",
        error_message="lost: no worker or result backend knows this task any more",
    ):
        return "lost"
    return None


def _terminal_for(meta: dict) -> str:
    return {"SUCCESS": COMPLETED, "FAILURE": FAILED, "REVOKED": CANCELLED}[meta["status"]]


def apply_backend_meta(task_id, meta: dict) -> bool:
    """Write a terminal state read from the result backend; return whether one applied."""
    status = meta.get("status")
    if status == "SUCCESS":
        value, truncated = states.cap_result(meta.get("result"))
        return states.transition(task_id, COMPLETED, result=value, result_truncated=truncated)
    if status == "FAILURE":
        return states.transition(
            task_id, FAILED, **failure_fields(meta.get("result"), meta.get("traceback"))
        )
    if status == "REVOKED":
        return states.transition(task_id, CANCELLED, error_message="Revoked")
    return False


def _exc_message(value: Any) -> str:
    """Return an exception message as the backend stored it (a list of args, or a string)."""
    if isinstance(value, list | tuple):
        return " ".join(str(part) for part in value)
    return "" if value is None else str(value)
