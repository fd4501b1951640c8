"""Whether anyone could care that a task finished: the tracking writes' cheap check.

Each process keeps what is subscribed to (the bells on in-flight tasks, the task
names with a failure subscription or route, whether a route takes any task's
failures) and reloads it at most every TASKBOARD_NOTIFY_REFRESH_SECONDS, in two
small queries. Between reloads a finished task costs a set lookup and no query, so
a worker with no subscriptions pays nothing per task. A subscription is seen by
the workers within that many seconds (docs/operations.md, "Notifications").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from celery import current_app
from django.db import transaction

from taskboard.conf import app_settings
from taskboard.models import FAILED, NotifyRoute, Subscription
from taskboard.status import IN_FLIGHT

logger = logging.getLogger(__name__)

NOTIFY_TASK = "taskboard.notify"
# Bells read per reload: a bound, so that a runaway number cannot slow a reload down.
MAX_BELLS = 20000


class Interest:
    """A process's copy of what is subscribed to, reloaded every few seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded_at: float | None = None
        self.tasks: frozenset[str] = frozenset()
        self.names: frozenset[str] = frozenset()
        self.any_name = False

    def forget(self) -> None:
        """Reload at the next question (tests, and after a change in this process)."""
        self._loaded_at = None

    def prime(
        self,
        *,
        tasks: Iterable[str] = (),
        names: Iterable[str] = (),
        any_name: bool = False,
    ) -> None:
        """Set the snapshot as if just loaded (tests measure the steady state with it)."""
        self.tasks, self.names = frozenset(map(str, tasks)), frozenset(names)
        self.any_name = any_name
        self._loaded_at = time.monotonic()

    def _fresh(self) -> None:
        now = time.monotonic()
        loaded = self._loaded_at
        if loaded is not None and now - loaded < float(app_settings.NOTIFY_REFRESH_SECONDS):
            return
        # A refresh may run inside a tracking write's transaction: its own atomic block
        # (a savepoint there) keeps a failed query from aborting that write, and a
        # failed refresh is not tried again before the next interval.
        with self._lock, transaction.atomic():
            self._loaded_at = now
            bells = Subscription.objects.filter(task__status__in=IN_FLIGHT).values_list(
                "task_id", flat=True
            )[:MAX_BELLS]
            self.tasks = frozenset(str(task_id) for task_id in bells)
            # No ORDER BY in either part: SQLite refuses one inside a UNION.
            names = set(
                Subscription.objects.filter(task__isnull=True)
                .order_by()
                .values_list("task_name", flat=True)
                .union(
                    NotifyRoute.objects.filter(enabled=True)
                    .order_by()
                    .values_list("task_name", flat=True)
                )
            )
            self.any_name = "" in names
            self.names = frozenset(names - {""})

    def wants(self, task_id, status: str, name: str | None = None) -> bool:
        """Return whether the finish of ``task_id`` (named ``name``, if known) may notify."""
        return bool(self.matching([task_id], status, name))

    def matching(self, task_ids: Iterable, status: str, name: str | None = None) -> list[str]:
        """Return those of ``task_ids`` (finished in ``status``) whose finish may notify."""
        self._fresh()
        if status == FAILED and (
            self.any_name or (bool(self.names) if name is None else name in self.names)
        ):
            # A failure of a followed name (or, from a writer that does not know the
            # name, the reconciler, of any name while one is followed): the task decides.
            return [str(task_id) for task_id in task_ids]
        if not self.tasks:
            return []
        return [str(task_id) for task_id in task_ids if str(task_id) in self.tasks]


interest = Interest()


def finished(task_ids: Iterable, status: str, name: str | None = None) -> None:
    """Enqueue a notification for each of ``task_ids`` someone could care about.

    Never raises: it runs inside the tracking writes, and a notification must never
    cost a row its state.
    """
    try:
        wanted = interest.matching(task_ids, status, name)
    except Exception:
        logger.exception("notify: could not tell who follows %s tasks", status)
        return
    for task_id in wanted:
        # After the commit: the notify task must read the finished row.
        transaction.on_commit(lambda task_id=task_id: _enqueue(task_id))


def _enqueue(task_id: str) -> None:
    try:
        current_app.send_task(NOTIFY_TASK, args=[task_id])
    except Exception:
        # A notification is never worth losing the tracking write's caller over.
        logger.exception("notify: could not enqueue the notification of %s", task_id)
