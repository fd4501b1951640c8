"""Progress and cooperative cancellation for code running inside a Celery task."""

from __future__ import annotations

import logging

from celery import current_task
from celery.exceptions import Ignore
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from taskboard.worker.tracking import track_revoked

logger = logging.getLogger(__name__)

PROGRESS = "PROGRESS"
# What a result backend raises when it cannot be reached (Redis restarting, a full
# disk under the file backend). Progress and the cancel flag are advisory: losing
# one of them must never fail the work itself.
BACKEND_UNREACHABLE = (RedisError, OperationalError, OSError)


class TaskCancelled(Ignore):
    """Raised inside a task whose user asked it to stop."""


def cancel_key(backend, task_id):
    """Return the result-backend key that flags ``task_id`` for cancellation."""
    return backend.get_key_for_task(str(task_id), key="-cancel")


def request_cancel(app, task_id) -> None:
    """Flag ``task_id`` for cooperative cancellation in the result backend."""
    backend = app.backend
    if not hasattr(backend, "get_key_for_task"):
        raise NotImplementedError("this result backend cannot carry a cancel flag")
    key = cancel_key(backend, task_id)
    backend.set(key, b"1")
    backend.expire(key, 24 * 3600)


def cancel_requested(task) -> bool:
    """Return whether the user asked the running ``task`` to stop.

    An unreachable backend reads as "not cancelled": the next check asks again.
    """
    backend = task.backend
    if not hasattr(backend, "get_key_for_task"):
        return False
    try:
        return bool(backend.get(cancel_key(backend, task.request.id)))
    except BACKEND_UNREACHABLE as exc:
        logger.warning("cancel flag of %s unreadable, going on: %s", task.request.id, exc)
        return False


def report_progress(current: int, total: int, message: str = "", *, task=None) -> None:
    """Store PROGRESS meta for the running task in the result backend only.

    Also the point where a task notices that its user cancelled it: it stops
    there with TaskCancelled, and the row becomes Cancelled.
    """
    # current_task is a proxy: unwrap it, outside a task it stands for None.
    task = task if task is not None else current_task._get_current_object()
    if task is None or not task.request.id or task.request.called_directly:
        return
    if cancel_requested(task):
        track_revoked(task_id=task.request.id, reason="Cancelled by user while running")
        task.backend.mark_as_revoked(task.request.id, reason="cancelled", request=task.request)
        raise TaskCancelled()
    try:
        task.update_state(
            state=PROGRESS,
            meta={"current": int(current), "total": int(total), "message": str(message)[:200]},
        )
    except BACKEND_UNREACHABLE as exc:
        # Skipped, not queued: the next report carries newer figures anyway.
        logger.warning("progress of %s not stored, going on: %s", task.request.id, exc)
