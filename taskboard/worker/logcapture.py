"""Capture what a running task logs, per task id, and send it to the result backend.

A logging handler on Celery's task logger (the parent of every ``get_task_logger``
logger) and on the logger of redirected stdout keeps each line of the task that
is running in this thread, with its time and level. Lines are gathered and sent
in one pipeline every LOG_FLUSH_INTERVAL seconds, or once LOG_FLUSH_LINES wait, never
one round trip per line; when the task ends its log is read back in the same round
trip and stored with its row (docs/architecture.md, "Task logs").
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

from celery import current_task
from django.db import IntegrityError, transaction
from django.utils import timezone

from taskboard.conf import app_settings
from taskboard.models import TaskLog
from taskboard.tasklog import Batch, LogChunk, encode, read_live_many, store_for

logger = logging.getLogger(__name__)

# "celery.task" is the parent Celery gives every get_task_logger logger (and so the
# loggers under those); "celery.redirected" carries print() under worker_redirect_stdouts.
CAPTURED_LOGGERS = ("celery.task", "celery.redirected")


@dataclass
class _Run:
    """What this process holds of one running task: its count so far and its unsent lines."""

    kept: int = 0
    size: int = 0
    batch: Batch = field(default_factory=Batch)


class TaskLogHandler(logging.Handler):
    """Keep the records of the current task, capped, and send them in batches."""

    def __init__(self, level: int | str = logging.INFO):
        super().__init__(level)
        self.setFormatter(logging.Formatter("%(message)s"))
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # A forked pool process starts with free locks, nothing unsent and its own
        # flushing thread (threads do not survive a fork).
        self.runs: dict[str, _Run] = {}
        self.waiting = 0
        self.buffer_lock = threading.Lock()
        self.send_lock = threading.Lock()
        self.flusher_pid: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Keep ``record`` if a task is running in this thread (the first lines, to the caps)."""
        if not current_task:
            return
        request = current_task.request
        task_id = request.id
        if not task_id or request.called_directly:
            return
        try:
            message = self.format(record)[: app_settings.LOG_LINE_MAX_CHARS]
            line = encode(record.created, record.levelname, message)
        except Exception:
            self.handleError(record)
            return
        max_lines, max_bytes = app_settings.LOG_MAX_LINES, app_settings.LOG_MAX_BYTES
        with self.buffer_lock:
            run = self.runs.setdefault(task_id, _Run())
            run.batch.logged += 1
            if run.kept < max_lines and run.size + len(line) <= max_bytes:
                run.batch.lines.append(line)
                run.kept += 1
                run.size += len(line)
            self.waiting += 1
            full = self.waiting >= app_settings.LOG_FLUSH_LINES
        self._ensure_flusher()
        if full:
            self.flush()

    def flush(self) -> None:
        """Send every task's unsent lines in one round trip."""
        with self.send_lock:
            with self.buffer_lock:
                batches = self._take()
            if batches:
                self._send(batches)

    def finish(self, task_id: str) -> LogChunk | None:
        """Send the task's last lines and return its whole live log; None if it logged nothing."""
        with self.send_lock:
            with self.buffer_lock:
                run = self.runs.pop(str(task_id), None)
            if run is None:
                return None
            batches = {str(task_id): run.batch} if run.batch.logged else {}
            return self._send(batches, read_back=[str(task_id)]).get(str(task_id))

    def _take(self) -> dict[str, Batch]:
        batches = {}
        for task_id, run in self.runs.items():
            if run.batch.logged:
                batches[task_id], run.batch = run.batch, Batch()
        self.waiting = 0
        return batches

    def _send(self, batches: dict[str, Batch], read_back: list[str] | None = None) -> dict:
        store = store_for()
        if store is None:
            return {}
        try:
            return store.write(batches, read_back or ())
        except Exception as exc:
            # A live log is advisory: losing a batch must never fail the task.
            logger.warning("task log lines not sent, dropped: %s", exc)
            return {}

    def _ensure_flusher(self) -> None:
        pid = os.getpid()
        if self.flusher_pid == pid:
            return
        self.flusher_pid = pid
        threading.Thread(target=self._flush_every, name="taskboard-log-flush", daemon=True).start()

    def _flush_every(self) -> None:
        while True:
            time.sleep(app_settings.LOG_FLUSH_INTERVAL)
            if self.waiting:
                try:
                    self.flush()
                except Exception:
                    logger.exception("task log flush failed")


handler: TaskLogHandler | None = None


def install() -> TaskLogHandler | None:
    """Attach the capturing handler to the task loggers once, unless LOG_CAPTURE is off."""
    global handler
    if not app_settings.LOG_CAPTURE or store_for() is None:
        return None
    if handler is None:
        handler = TaskLogHandler(app_settings.LOG_LEVEL)
    for name in CAPTURED_LOGGERS:
        captured = logging.getLogger(name)
        if handler not in captured.handlers:
            captured.addHandler(handler)
    return handler


def finish(task_id) -> LogChunk | None:
    """Send the ended task's last lines and return its live log (None: nothing logged here)."""
    return handler.finish(str(task_id)) if handler is not None and task_id else None


def _stored(task_id, chunk: LogChunk) -> TaskLog:
    return TaskLog(
        task_id=task_id,
        entries=[[line.at.timestamp(), line.level, line.message] for line in chunk.lines],
        dropped=chunk.dropped,
        text="\n".join(line.message for line in chunk.lines),
        stored_at=timezone.now(),
    )


def _store(logs: list[TaskLog]) -> None:
    """Write ``logs`` in one INSERT, each replacing a log stored before (IntegrityError)."""
    TaskLog.objects.bulk_create(
        logs,
        update_conflicts=True,
        unique_fields=["task"],
        update_fields=["entries", "dropped", "text", "stored_at"],
    )


def store_log(*, task_id, chunk: LogChunk) -> bool:
    """Store the log of an ended task with its row (one write); False if the row is missing."""
    try:
        _store([_stored(task_id, chunk)])
    except IntegrityError:
        return False  # no row (yet) for this task
    return True


def store_from_backend(task_ids) -> int:
    """Store what reached the result backend of tasks whose worker cannot (killed, lost).

    One INSERT for them all; only when one of their rows is gone (purged meanwhile)
    one each, so that the others are kept.
    """
    chunks = {
        task_id: chunk
        for task_id, chunk in read_live_many(task_ids).items()
        if chunk.kept or chunk.dropped
    }
    try:
        with transaction.atomic():
            _store([_stored(task_id, chunk) for task_id, chunk in chunks.items()])
    except IntegrityError:
        return sum(store_log(task_id=task_id, chunk=chunk) for task_id, chunk in chunks.items())
    return len(chunks)
