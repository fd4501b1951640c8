"""The reconciler: converge rows left pending or running with the result backend."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery.utils.serialization import UnpickleableExceptionWrapper
from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from taskboard import states
from taskboard.conf import app_settings
from taskboard.live import live_metas
from taskboard.models import CANCELLED, COMPLETED, FAILED, PENDING, RUNNING, Task, pending_before
from taskboard.worker import interest, logcapture

logger = logging.getLogger(__name__)


def reconcile(*, now=None, batch: int = 500) -> dict[str, int]:
    """Converge rows left pending or running too long with the result backend.

    Rows the backend knows as finished get that terminal state; rows nobody
    knows any more are marked failed with reason "lost".
    """
    now = now or timezone.now()
    running_cutoff = now - timedelta(
        seconds=settings.CELERY_TASK_TIME_LIMIT + app_settings.STALE_MARGIN
    )
    pending_cutoff = now - timedelta(seconds=app_settings.PENDING_STALE_AFTER)
    # A workflow's later steps are recorded pending when it is launched and sent only
    # when the steps before them end: while a node of their workflow runs, or ended
    # lately (its follower may be waiting in the queue), they are not lost.
    workflow_runs = Exists(
        Task.objects.filter(root_id=OuterRef("root_id"))
        .filter(Q(status=RUNNING) | Q(finished_at__gte=pending_cutoff))
        .order_by()
    )
    stale = list(
        Task.objects.filter(
            Q(status=RUNNING, started_at__lt=running_cutoff)
            | Q(status=RUNNING, started_at__isnull=True, created_at__lt=running_cutoff)
            # Scheduled rows were never sent: they are never stale.
            | pending_before(pending_cutoff)
        )
        .exclude(Q(status=PENDING, root_id__isnull=False) & workflow_runs)
        .order_by()
        .values_list("id", "status")[:batch]
    )
    counts = {COMPLETED: 0, FAILED: 0, CANCELLED: 0, "lost": 0, "skipped": 0}
    if not stale:
        return counts
    metas = live_metas(task_id for task_id, _ in stale)
    converged = []
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
        if outcome and outcome != "skipped":
            converged.append(task_id)
        if outcome in (COMPLETED, FAILED, "lost"):
            interest.finished([task_id], COMPLETED if outcome == COMPLETED else FAILED)
    _store_logs(converged)
    return counts


def _store_logs(task_ids: list) -> None:
    """Store the live logs of rows converged here: their worker died before it could."""
    if not task_ids:
        return
    try:
        logcapture.store_from_backend(task_ids)
    except Exception:
        # The rows are converged; a log the backend cannot give now is not worth failing for.
        logger.exception("reconcile: logs of %d converged rows not stored", len(task_ids))


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


def _exc_message(value: Any) -> str:
    """Return an exception message as the backend stored it (a list of args, or a string)."""
    if isinstance(value, list | tuple):
        return " ".join(str(part) for part in value)
    return "" if value is None else str(value)
