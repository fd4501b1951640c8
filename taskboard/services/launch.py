"""Launch (now or later), retry and cancel a task, under the per-user launch rate limit."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from taskboard import forms, permissions, registry, states, workflows
from taskboard.conf import app_settings
from taskboard.live import LiveStatusUnavailable, live_metas
from taskboard.models import (
    CANCELLED,
    NOT_A_STEP,
    PENDING,
    SCHEDULED,
    TERMINAL,
    AuditLog,
    BulkAction,
    Schedule,
    Task,
)
from taskboard.services.audit import audit_record
from taskboard.status import IN_FLIGHT
from taskboard.worker.progress import request_cancel
from taskboard.worker.tracking import LINKS, TRACKED_HEADER

logger = logging.getLogger(__name__)


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


class RunAtInvalid(LaunchError):
    """A launch was to be held back until a time in the past or too far ahead."""


class ActionNotAllowed(Exception):
    """The action does not apply to the task in its current state."""


class AlreadyRetried(ActionNotAllowed):
    """The task has a retry the caller did not know of; ``retry`` is the newest one."""

    def __init__(self, retry: Task):
        super().__init__("This task was already retried; nothing was launched again.")
        self.retry = retry


def json_params(cleaned: dict[str, Any]) -> dict[str, Any]:
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


def create_and_send(**fields: Any) -> Task:
    """Create the row and send its message when the transaction commits."""
    task = Task.objects.create(status=PENDING, **fields)
    _send_on_commit(lambda: _send(task), Task.objects.filter(pk=task.pk), what=task.pk)
    return task


def _send_on_commit(send, rows, *, what) -> None:
    """Send when the transaction commits; if the broker refuses, delete the pending ``rows``.

    No orphan row: a launch that could not be queued did not happen.
    """

    def send_or_undo() -> None:
        try:
            send()
        except Exception as exc:
            logger.warning("could not queue %s: %s", what, exc)
            rows.filter(status=PENDING).delete()
            raise LaunchUnavailable(
                "The task queue is unreachable right now; nothing was launched. "
                "Try again in a moment."
            ) from exc

    transaction.on_commit(send_or_undo)


def create_workflow(*, build, params: dict[str, Any], **fields: Any) -> Task:
    """Record every node of the canvas ``build(**params)`` returns, then send it on commit.

    The ids are fixed up front (workflows.freeze_workflow), so the whole tree is on
    the dashboard, pending, before any step runs. Return the root's row.
    """
    sig = build(**params)
    if not workflows.is_canvas(sig):
        raise ImproperlyConfigured(f"{build.__name__} must return a Celery signature (a canvas).")
    root_id = workflows.freeze_workflow(sig)
    now = timezone.now()
    rows = [
        Task(
            id=_uuid(node.task_id),
            name=node.name[:100],
            status=PENDING,
            args=states.cap_result(node.args)[0],
            kwargs=states.cap_result(node.kwargs)[0],
            queue=node.queue[:200],
            root_id=_uuid(root_id),
            parent_id=_uuid(node.parent_id),
            group_id=_uuid(node.group_id),
            chord_id=_uuid(node.chord_id),
            # The canvas's order, which the tree reads back by created_at.
            created_at=now + timedelta(microseconds=index),
            **fields,
        )
        for index, node in enumerate(workflows.canvas_nodes(sig))
    ]
    with transaction.atomic():
        Task.objects.bulk_create(rows)
    _send_on_commit(
        lambda: sig.apply_async(headers={TRACKED_HEADER: True}),
        Task.objects.filter(root_id=root_id),
        what=f"workflow {root_id}",
    )
    return rows[0]


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _create(entry: registry.Launchable, fields: dict[str, Any]) -> Task:
    """Create the launch's row (a workflow's rows) and send it on commit, or hold it back."""
    if fields.get("run_at") is not None:
        # Only a row: send_due sends it when due (docs/architecture.md, "Launch later").
        return Task.objects.create(status=SCHEDULED, **fields)
    fields.pop("run_at", None)
    if entry.is_workflow:
        # Each node has its own name and arguments; the rows share the rest.
        shared = {key: value for key, value in fields.items() if key not in ("name", "kwargs")}
        return create_workflow(build=entry.task, params=fields["kwargs"], **shared)
    return create_and_send(**fields)


def clean_params(*, user, entry: registry.Launchable, params) -> dict[str, Any]:
    """Return ``params`` validated by ``entry``'s form for ``user``, as plain JSON types.

    Raise PermissionDenied if ``user`` may not launch it, LaunchInvalid (with the form's
    errors) if the parameters do not validate: what a launch and a schedule both check.
    """
    if not entry.allowed_for(user):
        raise PermissionDenied("You may not launch this task.")
    form = entry.form_class(data=params)
    if not form.is_valid():
        raise LaunchInvalid(form)
    return json_params(form.cleaned_data)


def task_launch(
    *,
    user,
    name: str,
    params: dict[str, Any],
    retry_of: Task | None = None,
    check_rate: bool = True,
    bulk: BulkAction | None = None,
    schedule: Schedule | None = None,
    links: dict[str, Any] | None = None,
    run_at: datetime | None = None,
) -> Task:
    """Validate ``params`` with the task's form, create the row and send it on commit.

    With ``run_at`` the row is created Scheduled and not sent: ``send_due`` sends it
    when it is due. It counts as a launch for the rate limit.

    ``bulk`` is the bulk action launching it (a bulk retry): the row is marked with it,
    and neither counted nor refused by the launch rate limit. ``schedule`` is the
    schedule that started it (taskboard/services/schedules.py), linked from the row.
    ``links`` place the row in a workflow (a retried step's, see ``retry_links``).
    """
    entry = registry.get(name)
    if run_at is not None:
        if entry.is_workflow:
            raise ActionNotAllowed("A workflow cannot be launched later; launch it now.")
        if error := forms.run_at_error(run_at):
            raise RunAtInvalid(error)
    fields = {
        "run_at": run_at,
        "name": entry.name,
        "owner": user if user.is_authenticated else None,
        "kwargs": clean_params(user=user, entry=entry, params=params),
        "retry_of": retry_of,
        "bulk": bulk,
        "schedule": schedule,
        **(links or {}),
    }
    limit = app_settings.LAUNCH_RATE_PER_MINUTE
    if not (check_rate and bulk is None and limit and user.is_authenticated):
        # No transaction of its own: outside one, the INSERT commits by itself (one
        # round trip instead of BEGIN, INSERT, COMMIT) and the send follows it at once;
        # inside the caller's transaction, the send waits for the caller's commit.
        return _create(entry, fields)
    # Counted and admitted in one transaction holding the user's row lock: concurrent
    # launches by one user (from any number of web processes) queue here, so each
    # counts the rows the others committed and exactly ``limit`` get in.
    with transaction.atomic():
        _check_rate(user, limit)
        return _create(entry, fields)


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
    # Rows a bulk action created are not launches of this user's (Task.bulk), nor
    # are the steps of a workflow beside its root; a retry of a step is one.
    recent = Task.objects.filter(owner=user, created_at__gte=since, bulk__isnull=True).filter(
        NOT_A_STEP | Q(retry_of__isnull=False)
    )
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
                links=retry_links(task),
            )
        else:
            # Sent from code outside the registry: run it again exactly as it was.
            new = create_and_send(
                name=task.name,
                owner=task.owner,
                args=task.args,
                kwargs=task.kwargs,
                queue=task.queue,
                retry_of=task,
                bulk=bulk,
                **retry_links(task),
            )
    if audit:
        changed = " with changed arguments" if params is not None else ""
        audit_record(
            actor=user, action=AuditLog.RETRY, task_ids=[task.pk], note=f"new run {new.pk}{changed}"
        )
    return new


def retry_links(task: Task) -> dict[str, Any]:
    """Return the workflow links of a retry of ``task``: its place, beside the run it retries."""
    links = {name: getattr(task, name) for name in LINKS if getattr(task, name)}
    if links:
        # A retried root stays its workflow's root; the retry is one of its nodes.
        links["root_id"] = task.workflow_root_id
    return links


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
    if task.status == SCHEDULED and _cancel_scheduled(task):
        # Never sent: there is nothing to revoke.
        if audit:
            audit_record(
                actor=user, action=AuditLog.CANCEL, task_ids=[task.pk], note="cancelled before due"
            )
        return True
    revoke_sent([task.pk])
    cancelled = cancel_revoked(task)
    if audit:
        note = "cancelled before it started" if cancelled else "asked to stop while running"
        audit_record(actor=user, action=AuditLog.CANCEL, task_ids=[task.pk], note=note)
    return cancelled


def revoke_sent(task_ids: list) -> None:
    """Broadcast one revoke for ``task_ids``; a broker that is down is only logged."""
    ids = [str(task_id) for task_id in task_ids]
    try:
        current_app.control.revoke(ids[0] if len(ids) == 1 else ids)
    except Exception as exc:  # the broker is down: the rows are still cancelled
        logger.warning("could not broadcast revoke of %d tasks: %s", len(task_ids), exc)


def _cancel_scheduled(task: Task) -> bool:
    """Cancel ``task`` if it is still Scheduled (not sent yet); return whether it was."""
    return states.transition(
        task.pk, CANCELLED, only_from=(SCHEDULED,), error_message="Cancelled before it was due"
    )


def cancel_revoked(task: Task) -> bool:
    """Mark a revoked ``task`` cancelled if still scheduled or pending, else flag it to stop."""
    # Nothing moves back to scheduled: a row read in another state needs no UPDATE here.
    if task.status == SCHEDULED and _cancel_scheduled(task):
        return True
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
    "completed" write for another (taskboard/worker/batching.py).
    """
    try:
        meta = live_metas([task_id]).get(str(task_id)) or {}
    except LiveStatusUnavailable:
        return False
    return meta.get("status") in ("STARTED", "PROGRESS", "RETRY", "SUCCESS", "FAILURE")


def workflow_cancel(*, user, task: Task) -> tuple[int, int]:
    """Cancel every pending and running node of ``task``'s workflow, as ``task_cancel`` does.

    One revoke broadcast for them all; pending nodes become Cancelled at once, running
    ones are asked to stop at their next progress report. Return how many of each.
    """
    root = task.workflow_root_id
    nodes = [
        node
        for node in Task.objects.filter(Q(pk=root) | Q(root_id=root), status__in=IN_FLIGHT)
        if permissions.can_act(user, node)
    ]
    if not nodes:
        raise ActionNotAllowed("Nothing in this workflow is pending or running any more.")
    revoke_sent([node.pk for node in nodes])
    cancelled = sum(1 for node in nodes if cancel_revoked(node))
    stopping = len(nodes) - cancelled
    audit_record(
        actor=user,
        action=AuditLog.CANCEL,
        task_ids=[node.pk for node in nodes],
        note=f"workflow {root}: {cancelled} cancelled before they started,"
        f" {stopping} asked to stop",
    )
    return cancelled, stopping


# Why "send now" does not apply: the row was sent (by beat, by another click) or cancelled.
NOT_SCHEDULED = "This task is no longer scheduled; it was sent or cancelled."


def send_due(*, now: datetime | None = None, batch: int | None = None) -> dict[str, int]:
    """Send the Scheduled rows due by ``now``, oldest first, at most ``batch`` of them.

    Run by beat every few seconds (``taskboard.send_due``). Return how many were sent
    and how many are still waiting (a send refused by the broker: tried again next run).
    """
    now = now or timezone.now()
    batch = batch or app_settings.SEND_DUE_BATCH
    sent = 0
    with transaction.atomic():
        # SKIP LOCKED: two senders at once (two beats, a "send now") each take rows the
        # other has not locked, so no row is sent twice and neither waits for the other.
        due = list(
            Task.objects.select_for_update(skip_locked=True)
            .filter(status=SCHEDULED, run_at__lte=now)
            .order_by("run_at")[:batch]
        )
        for task in due:
            try:
                _send_locked(task, now)
            except LaunchUnavailable:
                # The broker is down: the rest would fail the same way; they stay due.
                break
            sent += 1
    return {"sent": sent, "waiting": len(due) - sent}


def _send_locked(task: Task, now: datetime) -> None:
    """Move a locked Scheduled row to Pending and send it; on a refused send it stays Scheduled.

    States only move forward, so a send that fails cannot be undone by a transition
    back: the transition and the send share a savepoint instead, and a send the broker
    refuses rolls the transition back. The row is locked by the caller until its
    transaction commits, so the worker's own writes (running, completed) wait for the
    commit and then find it Pending. A database that fails after the send and before
    the commit leaves the row Scheduled and sends it again: at least once, as every
    Celery delivery.
    """
    try:
        with transaction.atomic():
            # run_at becomes when it was really sent (sooner by "send now", later when
            # beat was down): the reconciler measures a pending row's age from it, and
            # a row sent late must not read as lost while it waits in the queue.
            states.transition(task.pk, PENDING, only_from=(SCHEDULED,), run_at=now)
            _send(task)
    except Exception as exc:
        logger.warning("could not send scheduled task %s: %s", task.pk, exc)
        raise LaunchUnavailable(
            "The task queue is unreachable right now; it was not sent. Try again in a moment."
        ) from exc


def task_send_now(*, user, task: Task) -> None:
    """Send a Scheduled ``task`` now instead of when it is due."""
    if not permissions.can_act(user, task):
        raise PermissionDenied("You may not send this task.")
    with transaction.atomic():
        locked = (
            Task.objects.select_for_update(skip_locked=True)
            .filter(pk=task.pk, status=SCHEDULED)
            .first()
        )
        if locked is None:
            # Sent by beat (or being sent right now), or cancelled meanwhile.
            raise ActionNotAllowed(NOT_SCHEDULED)
        _send_locked(locked, timezone.now())
    audit_record(actor=user, action=AuditLog.SEND_NOW, task_ids=[task.pk], note="sent before due")
