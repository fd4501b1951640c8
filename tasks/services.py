"""Writes: launch, retry, cancel, and the tracking writes behind the Celery signals."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from tasks import registry, states
from tasks.models import CANCELLED, COMPLETED, FAILED, PENDING, RUNNING, TERMINAL, Task
from tasks.progress import request_cancel

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


def task_launch(*, user, name: str, params: dict[str, Any], retry_of: Task | None = None) -> Task:
    """Validate ``params`` with the task's form, create the row and send it on commit."""
    entry = registry.get(name)
    if not entry.allowed_for(user):
        raise PermissionDenied("You may not launch this task.")
    form = entry.form_class(data=params)
    if not form.is_valid():
        raise LaunchInvalid(form)
    _check_rate(user)
    with transaction.atomic():
        task = _create_and_send(
            name=entry.name,
            owner=user if user.is_authenticated else None,
            kwargs=_json_params(form.cleaned_data),
            retry_of=retry_of,
        )
    return task


def _check_rate(user) -> None:
    """Refuse a launch beyond TASKBOARD_LAUNCH_RATE_PER_MINUTE for this user (0: no limit).

    Counted from the rows themselves (an index range on owner, created_at), so
    every web process shares the count without a cache.
    """
    limit = settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE
    if not limit or not user.is_authenticated:
        return
    since = timezone.now() - timedelta(minutes=1)
    if Task.objects.filter(owner=user, created_at__gte=since).count() >= limit:
        raise RateLimited(
            f"You have launched {limit} tasks in the last minute; wait a moment and try again."
        )


def task_retry(*, user, task: Task, params: dict[str, Any] | None = None) -> Task:
    """Launch a new run of ``task`` linked to it, with its arguments or edited ``params``."""
    if task.status not in TERMINAL:
        raise ActionNotAllowed("Only a finished task can be retried.")
    try:
        registry.get(task.name)
    except registry.UnknownTask:
        if params is not None:
            raise ActionNotAllowed(
                "This task has no form; it can only be retried as it was."
            ) from None
        # Sent from code outside the registry: run it again exactly as it was.
        with transaction.atomic():
            return _create_and_send(
                name=task.name,
                owner=task.owner,
                args=task.args,
                kwargs=task.kwargs,
                queue=task.queue,
                retry_of=task,
            )
    return task_launch(
        user=user,
        name=task.name,
        params=task.kwargs if params is None else params,
        retry_of=task,
    )


def task_cancel(*, task: Task) -> bool:
    """Cancel ``task``: revoke it if pending, ask it to stop if running.

    Never terminates a running process; a running task stops at its next
    progress report. Returns whether the row is now Cancelled.
    """
    if task.status in TERMINAL:
        raise ActionNotAllowed("This task has already finished.")
    try:
        current_app.control.revoke(str(task.pk))
    except Exception as exc:  # the broker is down: the row is still cancelled below
        logger.warning("could not broadcast revoke of %s: %s", task.pk, exc)
    if states.transition(
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


def task_mark_cancelled(*, task_id, reason: str) -> bool:
    """Record that a running task stopped because it was cancelled."""
    return states.transition(task_id, CANCELLED, error_message=reason)


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
    *, task_id, name: str, args, kwargs, worker: str, retries: int, queue: str = ""
) -> None:
    """Mark the row running on ``worker``; create it if nothing recorded the send."""
    now = timezone.now()
    fields = {"worker": worker[:255], "attempts": retries + 1, "started_at": now}
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
                created_at=now,
                **fields,
            )
        ],
        ignore_conflicts=True,
    )
    del created  # the row may also exist already, terminal: nothing to do then


def task_finished(*, task_id) -> bool:
    """Return whether the row of ``task_id`` is in a terminal state."""
    return Task.objects.filter(pk=task_id, status__in=TERMINAL).exists()


def track_succeeded(*, task_id, result: Any) -> None:
    value, truncated = states.cap_result(result)
    states.transition(
        task_id, COMPLETED, result=value, result_truncated=truncated, error_message=""
    )


def track_failed(*, task_id, exception: BaseException, traceback: str) -> None:
    error_type = type(exception).__name__
    message = str(exception)
    if error_type == "WorkerLostError":
        message = f"worker lost: {message}"
    states.transition(
        task_id,
        FAILED,
        error_type=error_type[:200],
        error_message=states.cap_text(message),
        traceback=states.cap_text(traceback or ""),
    )


def track_revoked(*, task_id, reason: str) -> None:
    states.transition(task_id, CANCELLED, error_message=reason)


def track_retrying(*, task_id, reason: str) -> None:
    states.transition(
        task_id,
        RUNNING,
        attempts=F("attempts") + 1,
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
    counts = {COMPLETED: 0, FAILED: 0, CANCELLED: 0, "lost": 0}
    if not stale:
        return counts
    metas = live_metas(task_id for task_id, _ in stale)
    for task_id, _status in stale:
        meta = metas.get(str(task_id)) or {}
        if apply_backend_meta(task_id, meta):
            counts[_terminal_for(meta)] += 1
        elif states.transition(
            task_id,
            FAILED,
            error_type="Lost",
            error_message="lost: no worker or result backend knows this task any more",
        ):
            counts["lost"] += 1
    return counts


def _terminal_for(meta: dict) -> str:
    return {"SUCCESS": COMPLETED, "FAILURE": FAILED, "REVOKED": CANCELLED}[meta["status"]]


def apply_backend_meta(task_id, meta: dict) -> bool:
    """Write a terminal state read from the result backend; return whether one applied."""
    status = meta.get("status")
    if status == "SUCCESS":
        value, truncated = states.cap_result(meta.get("result"))
        return states.transition(task_id, COMPLETED, result=value, result_truncated=truncated)
    if status == "FAILURE":
        result = meta.get("result") or {}
        return states.transition(
            task_id,
            FAILED,
            error_type=str(result.get("exc_type", "Error"))[:200],
            error_message=states.cap_text(_exc_message(result.get("exc_message"))),
            traceback=states.cap_text(meta.get("traceback") or ""),
        )
    if status == "REVOKED":
        return states.transition(task_id, CANCELLED, error_message="Revoked")
    return False


def _exc_message(value: Any) -> str:
    """Return an exception message as the backend stored it (a list of args, or a string)."""
    if isinstance(value, list | tuple):
        return " ".join(str(part) for part in value)
    return "" if value is None else str(value)


# --- actions on a set of tasks (failure groups) ------------------------------

DELETE_BATCH = 500


def tasks_retry_many(*, user, ids) -> dict[str, int]:
    """Retry each of ``ids`` that ``user`` may see and that has finished, one task_retry each.

    Acts on exactly these ids (the set frozen when the user confirmed); stops early
    when the broker is down or the launch rate limit is reached, and says how many
    were retried, skipped and left.
    """
    ids = list(ids)
    tasks = {t.pk: t for t in Task.objects.visible_to(user).filter(pk__in=ids)}
    outcome = {"retried": 0, "skipped": 0, "left": 0}
    for position, task_id in enumerate(ids):
        task = tasks.get(task_id)
        if task is None:
            outcome["skipped"] += 1
            continue
        try:
            task_retry(user=user, task=task)
        except (ActionNotAllowed, LaunchInvalid, PermissionDenied):
            outcome["skipped"] += 1
            continue
        except (LaunchUnavailable, RateLimited):
            outcome["left"] = len(ids) - position
            break
        outcome["retried"] += 1
    return outcome


def tasks_delete(*, user, ids) -> int:
    """Delete the finished tasks among ``ids`` that ``user`` may see, in batches; count them."""
    ids = list(ids)
    deleted = 0
    for start in range(0, len(ids), DELETE_BATCH):
        batch = ids[start : start + DELETE_BATCH]
        # Rows in flight are never deleted: their worker would write to nothing.
        count, _ = Task.objects.visible_to(user).filter(pk__in=batch, status__in=TERMINAL).delete()
        deleted += count
    return deleted
