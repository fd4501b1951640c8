"""Held-back "running" writes: a short task writes its start and its end in one UPDATE.

Every tracking write is a commit, and each commit waits for PostgreSQL's WAL flush,
which on a small disk costs more than a no-op task itself. So the worker holds a
task's start for a moment (TASKBOARD_RUNNING_WRITE_DELAY): a task that ends before
then hands its start to its end (one UPDATE that also sets started_at, worker and
attempts); a task still running by then has its start written by a thread of the
pool process, as before. Nothing is dropped, only merged. While the start is held,
the live badge already says Running (the result backend's STARTED state).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


class HeldStarts:
    """Starts of tasks in this process, each written at its due time unless taken first.

    ``hold`` is called by the task's thread at prerun, ``take`` by the same task's
    end; a single daemon thread writes the starts that fall due. A start is written
    exactly once: by the thread, or by whoever took it.
    """

    def __init__(self, delay: float, write: Callable[..., Any]):
        self.delay = delay
        self._write = write
        self._reset()
        # A prefork child inherits the parent's state but not its thread: start afresh.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._held: dict[str, tuple[float, dict]] = {}
        self._writing: dict[str, threading.Event] = {}
        self._thread: threading.Thread | None = None
        # Whether the thread waits with nothing held: only then does a hold wake it.
        # Otherwise it already sleeps until a due time no later than the new one (the
        # delay is constant), so a task's start costs it no wake-up.
        self._idle = False

    def hold(self, task_id: str, start: dict) -> None:
        """Keep ``start`` (track_started's keywords) to write after the delay."""
        with self._cond:
            self._held[str(task_id)] = (time.monotonic() + self.delay, start)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="taskboard-held-starts", daemon=True
                )
                self._thread.start()
            elif self._idle:
                self._cond.notify()

    def take(self, task_id: str) -> dict | None:
        """Return the held start of ``task_id`` for the caller to write, or None.

        None: nothing was held, or the thread wrote it (waited for if in flight, so
        that the caller's next write comes after it).
        """
        with self._cond:
            held = self._held.pop(str(task_id), None)
            writing = self._writing.get(str(task_id))
        if held is not None:
            return held[1]
        if writing is not None:
            writing.wait()
        return None

    def pending(self) -> int:
        """Return how many starts are held and not yet written."""
        with self._cond:
            return len(self._held) + len(self._writing)

    def _next_due(self) -> tuple[str, dict]:
        """Wait for the earliest held start to fall due, mark it in flight, return it."""
        with self._cond:
            while True:
                if not self._held:
                    self._idle = True
                    self._cond.wait()
                    self._idle = False
                    continue
                task_id, (due, start) = min(self._held.items(), key=lambda item: item[1][0])
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                del self._held[task_id]
                self._writing[task_id] = threading.Event()
                return task_id, start

    def _run(self) -> None:
        while True:
            task_id, start = self._next_due()
            try:
                self._write(start)
            except Exception:
                logger.exception("could not write the start of %s", task_id)
            finally:
                with self._cond:
                    done = self._writing.pop(task_id)
                done.set()
