"""Tracking writes: what the Celery signal handlers (taskboard/worker/signals.py) record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from taskboard import states
from taskboard.models import CANCELLED, COMPLETED, FAILED, PENDING, RUNNING, TERMINAL, Task
from taskboard.worker import interest
from taskboard.worker.reconcile import failure_fields

# Set on messages sent by task_launch so that the publish signal skips the
# upsert: the row already exists.
TRACKED_HEADER = "taskboard_tracked"


# The links of a row to its workflow (docs/architecture.md, "Workflows").
LINKS = ("root_id", "parent_id", "group_id", "chord_id")


def workflow_links(*, task_id, root_id=None, parent_id=None, group_id=None, chord=None) -> dict:
    """Return a task's links to its workflow from what Celery says of it; {} for a lone task.

    ``chord`` is the callback signature a chord's header member carries. A task that
    is its own root and has no other link is no workflow's: nothing is recorded.
    """
    chord_id = None
    if isinstance(chord, dict):
        chord_id = (chord.get("options") or {}).get("task_id")
    links = {
        "root_id": root_id if root_id and str(root_id) != str(task_id) else None,
        "parent_id": parent_id or None,
        "group_id": group_id or None,
        "chord_id": chord_id or None,
    }
    if not any(links.values()):
        return {}
    links["root_id"] = links["root_id"] or task_id
    return {name: str(value) for name, value in links.items() if value}


def _mark_root(task_id, links: dict) -> None:
    """Mark the root of a node just recorded as a workflow's root, if it is not yet."""
    root = links.get("root_id")
    if root and str(root) != str(task_id):
        Task.objects.filter(pk=root, root_id__isnull=True).update(root_id=root)


def track_published(
    *, task_id, name: str, args, kwargs, queue: str = "", links: dict | None = None
) -> None:
    """Create a pending row for a task sent from code outside task_launch."""
    links = links or {}
    Task.objects.bulk_create(
        [
            Task(
                id=task_id,
                name=name[:100],
                status=PENDING,
                args=_jsonable(args, []),
                kwargs=_jsonable(kwargs, {}),
                queue=queue[:200],
                **links,
            )
        ],
        ignore_conflicts=True,
    )
    _mark_root(task_id, links)


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
    links: dict | None = None,
) -> None:
    """Mark the row running on ``worker``; create it if nothing recorded the send.

    ``links`` (workflow_links) fill the row's workflow links that nobody recorded
    yet; links recorded at launch or publish are kept (a retry sent from the web
    is its own root to Celery, yet stays in its workflow).
    """
    now = timezone.now()
    links = links or {}
    fields = _start_fields(worker=worker, retries=retries, started_at=started_at or now)
    kept = {
        name: Coalesce(models.F(name), models.Value(value, output_field=models.UUIDField()))
        for name, value in links.items()
    }
    if states.transition(task_id, RUNNING, **fields, **kept):
        return  # its root was marked when the row was recorded
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
                **links,
            )
        ],
        ignore_conflicts=True,
    )
    _mark_root(task_id, links)
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
    """A task's "completed" write, made at once or later in a batch (worker/batching.py)."""

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
    if _finish(done.task_id, COMPLETED, done.start, **done.fields):
        interest.finished([task_id], COMPLETED)


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
            if str(c.task_id) not in moved and _finish_unmoved(
                c.task_id, COMPLETED, c.start, c.fields
            ):
                moved.add(str(c.task_id))
        # In memory (no query): a bell on one of these tasks is the only interest.
        interest.finished(moved, COMPLETED)


def track_failed(
    *,
    task_id,
    exception: BaseException,
    traceback: str,
    start: dict | None = None,
    name: str | None = None,
) -> None:
    """Mark the row failed with the exception (and its held-back ``start``, if any).

    ``name`` (the task's, when the caller knows it) spares the notification check a guess.
    """
    if _finish(task_id, FAILED, start, **failure_fields(exception, traceback)):
        interest.finished([task_id], FAILED, name)


def track_revoked(*, task_id, reason: str) -> bool:
    """Mark the row cancelled: revoked, expired, or stopped at its user's request.

    The one write of a running task's cancellation (taskboard/worker/progress.py calls it
    too); return whether the row moved.
    """
    return states.transition(task_id, CANCELLED, error_message=reason)


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
