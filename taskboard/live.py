"""Live state: the id -> result-backend lookup and the state -> badge mapping.

The table, the poll fragment and the detail page all go through ``badges_for``
so that one rule decides what a row shows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from celery import current_app, states

from taskboard.models import Task
from taskboard.status import TERMINAL, UNKNOWN, Status

logger = logging.getLogger(__name__)

CELERY_TO_STATUS = {
    states.PENDING: Status.PENDING,
    states.RECEIVED: Status.PENDING,
    states.STARTED: Status.RUNNING,
    "PROGRESS": Status.RUNNING,
    states.RETRY: Status.RUNNING,
    states.SUCCESS: Status.COMPLETED,
    states.FAILURE: Status.FAILED,
    states.REVOKED: Status.CANCELLED,
}


class LiveStatusUnavailable(Exception):
    """The result backend could not be read."""


@dataclass(frozen=True)
class Badge:
    status: str
    detail: str = ""
    current: int | None = None
    total: int | None = None
    message: str = ""

    @property
    def label(self) -> str:
        return Status.label_of(self.status)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def percent(self) -> int | None:
        if self.current is None or not self.total:
            return None
        return max(0, min(100, round(100 * self.current / self.total)))

    @property
    def key(self) -> str:
        """Return a short fingerprint of what the badge shows, for change detection."""
        pct = self.percent
        return f"{self.status[0]}{self.detail[:1]}{'' if pct is None else pct}"


def badge(status: str | None, meta: dict | None, attempts: int = 0) -> Badge:
    """Merge a row's stored status with its live result-backend meta into a badge.

    A terminal stored state always wins, and so does Scheduled: such a row was not
    sent yet, so the result backend knows nothing of it. Otherwise the stronger of
    the two states is shown. With neither, the task is Unknown, never a false Pending.
    """
    live_state = (meta or {}).get("status")
    live_status = CELERY_TO_STATUS.get(live_state) if live_state else None
    if status in TERMINAL or status == Status.SCHEDULED:
        return Badge(status)
    if status is None and live_status is None:
        return Badge(UNKNOWN)
    # A weaker signal never wins: the live state must be at least as far along.
    if live_status is None or live_status.rank < Status.rank_of(status):
        return Badge(status)
    if live_state == states.RECEIVED:
        return Badge(Status.PENDING, detail="queued")
    if live_state == states.RETRY:
        # ``attempts`` counts the attempts that started; the next one has not, so
        # the badge names the one that failed, never one still to come.
        return Badge(Status.RUNNING, detail=f"retrying, attempt {max(attempts, 1)} failed")
    if live_state == "PROGRESS":
        info = meta.get("result") or {}
        try:
            current, total = int(info.get("current", 0)), int(info.get("total", 0))
        except (TypeError, ValueError, AttributeError):
            return Badge(Status.RUNNING)
        return Badge(
            Status.RUNNING, current=current, total=total, message=str(info.get("message", ""))[:200]
        )
    return Badge(live_status)


def live_metas(task_ids: Iterable) -> dict[str, dict | None]:
    """Return the result-backend meta of each id, read in one round trip where possible.

    On Redis this is one MGET of the result keys; on backends without MGET (the
    embedded file backend) it is one read per id.
    """
    ids = [str(task_id) for task_id in task_ids]
    if not ids:
        return {}
    backend = current_app.backend
    keys = [backend.get_key_for_task(task_id) for task_id in ids]
    try:
        values = list(backend.mget(keys))
    except Exception as exc:  # any transport error: the caller shows "unavailable"
        raise LiveStatusUnavailable(str(exc)) from exc
    metas: dict[str, dict | None] = {}
    for task_id, value in zip(ids, values, strict=True):
        metas[task_id] = _decoded(backend, task_id, value)
    return metas


def _decoded(backend, task_id: str, value) -> dict | None:
    """Return one stored result decoded; an unreadable one reads as unknown, logged."""
    if not value:
        return None
    try:
        return backend.decode_result(value)
    except Exception:
        # Garbage under one key (another writer, a version skew) must not hide the
        # live state of every other row read with it.
        logger.warning("unreadable result of task %s in the result backend", task_id, exc_info=True)
        return None


def badges_for(tasks: Iterable[Task]) -> tuple[dict[str, Badge], bool]:
    """Return each task's badge, live where it is in flight, and whether live state was read.

    Only rows that were sent and are not terminal are looked up in the result backend.
    """
    tasks = list(tasks)
    in_flight = [
        task for task in tasks if task.status not in TERMINAL and task.status != Status.SCHEDULED
    ]
    available = True
    try:
        metas = live_metas(task.pk for task in in_flight)
    except LiveStatusUnavailable:
        metas, available = {}, False
    return (
        {str(t.pk): badge(t.status, metas.get(str(t.pk)), t.attempts) for t in tasks},
        available,
    )
