"""Tracking writes of a worker process, merged and batched: fewer commits per task.

Every tracking write is a commit, and each commit waits for PostgreSQL's WAL flush,
which on a small disk costs more than a no-op task itself. So the worker:

- holds a task's start for a moment (TASKBOARD_RUNNING_WRITE_DELAY, ``HeldStarts``):
  a task that ends before then hands its start to its end (one UPDATE that also sets
  started_at, worker and attempts); a task still running by then has its start
  written by a thread of the pool process, as before;
- queues a task's "completed" write (TASKBOARD_TRACKING_BATCH_INTERVAL,
  ``BatchedWrites``): a thread of the pool process writes everything queued in one
  transaction, mostly one UPDATE, once the oldest has waited that long.

Nothing is dropped, only merged or delayed. While a write waits, the live badge
already says Running or Completed (the result backend's state). What waits in a pool
process that is SIGKILLed is converged by the reconciler from the result backend.
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


class BatchedWrites:
    """Writes queued by the tasks of this process, written together by a thread.

    ``put`` is called by a task's thread as it ends; the thread hands everything
    queued to ``write`` (one call, one transaction) once the oldest has waited
    ``interval`` seconds, or at once when ``size`` are queued. ``flush`` does the same
    in the caller's thread: before another write of a queued row, and at shutdown.
    Batches are written one at a time, in the order they were queued.
    """

    def __init__(self, interval: float, write: Callable[[list], Any], size: int = 200):
        self.interval = interval
        self.size = size
        self._write = write
        self._reset()
        # A prefork child inherits the parent's queue but not its thread: start afresh.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._flushing = threading.Lock()
        self._queued: dict[str, Any] = {}
        self._writing: set[str] = set()
        self._oldest = 0.0
        self._thread: threading.Thread | None = None

    def put(self, key: str, item: Any) -> None:
        """Queue ``item``, the write of row ``key``, to be written with the next batch."""
        key = str(key)
        if self.queued(key):
            self.flush()  # one row's writes stay in order: its earlier one goes first
        with self._cond:
            if not self._queued:
                self._oldest = time.monotonic()
            self._queued[key] = item
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="taskboard-batched-writes", daemon=True
                )
                self._thread.start()
            # The thread waits for a first item, then for its due time: only an
            # empty queue's first item, or a full queue, needs to wake it.
            if len(self._queued) in (1, self.size):
                self._cond.notify()

    def queued(self, key: str) -> bool:
        """Return whether a write of row ``key`` is queued or being written."""
        with self._cond:
            return str(key) in self._queued or str(key) in self._writing

    def pending(self) -> int:
        """Return how many writes are queued or being written."""
        with self._cond:
            return len(self._queued) + len(self._writing)

    def flush(self, key: str | None = None) -> None:
        """Write what is queued now, in this thread; with ``key``, only if that row waits.

        Returns once the batch is written, and once a batch being written by another
        thread is, so that the caller's next write comes after them.
        """
        if key is not None and not self.queued(key):
            return
        with self._flushing:
            with self._cond:
                batch = list(self._queued.values())
                self._writing.update(self._queued)
                self._queued.clear()
            try:
                if batch:
                    self._write(batch)
            except Exception:
                logger.exception("could not write a batch of %d tracking writes", len(batch))
            finally:
                with self._cond:
                    self._writing.clear()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if not self._queued:
                        self._cond.wait()
                        continue
                    wait = self._oldest + self.interval - time.monotonic()
                    if wait <= 0 or len(self._queued) >= self.size:
                        break
                    self._cond.wait(wait)
            self.flush()
