"""Progress and cooperative cancellation for code running inside a Celery task."""

from __future__ import annotations

from celery import current_task
from celery.exceptions import Ignore

PROGRESS = "PROGRESS"


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
    """Return whether the user asked the running ``task`` to stop."""
    backend = task.backend
    if not hasattr(backend, "get_key_for_task"):
        return False
    return bool(backend.get(cancel_key(backend, task.request.id)))


def report_progress(current: int, total: int, message: str = "", *, task=None) -> None:
    """Store PROGRESS meta for the running task in the result backend only.

    Also the point where a task notices that its user cancelled it: it stops
    there with TaskCancelled, and the row becomes Cancelled.
    """
    task = task or current_task
    if task is None or not task.request.id or task.request.called_directly:
        return
    if cancel_requested(task):
        from tasks.services import task_mark_cancelled

        task_mark_cancelled(task_id=task.request.id, reason="Cancelled by user while running")
        task.backend.mark_as_revoked(task.request.id, reason="cancelled", request=task.request)
        raise TaskCancelled()
    task.update_state(
        state=PROGRESS,
        meta={"current": int(current), "total": int(total), "message": str(message)[:200]},
    )
