"""Live task logs in the result backend: the one place that knows their keys and format.

A running task's lines live beside its result, as a list per task (Redis) or an
append-only file per task (the embedded file backend), with a TTL on Redis. Workers
append (taskboard/worker/logcapture.py); the detail page reads from an offset; the
stored copy is written when the task ends (docs/architecture.md, "Task logs").

Only a task's first LOG_MAX_LINES lines are kept and the others are counted, so an
offset names the same line from the first poll to the stored log.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from celery import current_app
from celery.backends.filesystem import FilesystemBackend
from celery.backends.redis import RedisBackend

from taskboard.conf import app_settings

LOG_SUFFIX = "-log"
COUNT_SUFFIX = "-log-count"
LEVELS = ("debug", "info", "warning", "error", "critical")


class LogUnavailable(Exception):
    """The result backend's live logs could not be read."""


@dataclass(frozen=True)
class LogLine:
    """One logged record: when, at which level, what (multi-line for a traceback)."""

    at: datetime
    level: str
    message: str

    @property
    def kind(self) -> str:
        """Return the level as one of LEVELS, for its colour (the text says the level too)."""
        level = self.level.lower()
        return level if level in LEVELS else "info"


@dataclass(frozen=True)
class LogChunk:
    """The lines of a task's log from ``offset``, and how many it keeps and dropped in all."""

    lines: list[LogLine] = field(default_factory=list)
    offset: int = 0
    kept: int = 0
    dropped: int = 0

    @property
    def next_offset(self) -> int:
        return self.offset + len(self.lines)

    @property
    def at_end(self) -> bool:
        return self.next_offset >= self.kept


def encode(at: float, level: str, message: str) -> bytes:
    """Return one line as it is stored: a JSON array, which keeps newlines inside it."""
    return json.dumps([round(at, 3), level, message], ensure_ascii=False).encode()


def decode(raw: bytes | str | list) -> LogLine | None:
    """Return a stored line, or None for something this version did not write."""
    try:
        at, level, message = json.loads(raw) if isinstance(raw, bytes | str) else raw
        return LogLine(datetime.fromtimestamp(float(at), tz=UTC), str(level), str(message))
    except (TypeError, ValueError):
        return None


def decode_all(raws: Iterable) -> list[LogLine]:
    """Return the readable lines of ``raws``."""
    return [line for line in map(decode, raws) if line is not None]


@dataclass
class Batch:
    """What a worker sends for one task: the lines kept, and how many were logged in all."""

    lines: list[bytes] = field(default_factory=list)
    logged: int = 0


class RedisLogs:
    """A list of lines and a counter of lines logged per task, with a TTL."""

    def __init__(self, backend: RedisBackend):
        self.backend = backend

    def keys(self, task_id: str) -> tuple[bytes, bytes]:
        """Return the keys of the task's lines and of its count of lines logged."""
        get = self.backend.get_key_for_task
        return get(task_id, key=LOG_SUFFIX), get(task_id, key=COUNT_SUFFIX)

    def write(self, batches: dict[str, Batch], read_back: Iterable[str] = ()) -> dict:
        """Append ``batches`` and read the whole logs of ``read_back``, in one round trip."""
        cap, ttl = app_settings.LOG_MAX_LINES, app_settings.LOG_TTL
        pipe = self.backend.client.pipeline(transaction=False)
        for task_id, batch in batches.items():
            lines_key, count_key = self.keys(task_id)
            if batch.lines:
                pipe.rpush(lines_key, *batch.lines)
                # Several processes may write one task (its retries): the list never
                # holds more than the first ``cap`` lines, whoever wrote them.
                pipe.ltrim(lines_key, 0, cap - 1)
                pipe.expire(lines_key, ttl)
            pipe.incrby(count_key, batch.logged)
            pipe.expire(count_key, ttl)
        wanted = list(read_back)
        for task_id in wanted:
            lines_key, count_key = self.keys(task_id)
            pipe.lrange(lines_key, 0, cap - 1)
            pipe.get(count_key)
        replies = pipe.execute()
        return self._chunks(wanted, replies[len(replies) - 2 * len(wanted) :])

    def read(self, task_ids: Iterable[str], offset: int = 0, limit: int | None = None) -> dict:
        """Return each task's lines from ``offset`` (at most ``limit``), in one round trip."""
        wanted = list(task_ids)
        stop = -1 if limit is None else offset + limit - 1
        pipe = self.backend.client.pipeline(transaction=False)
        for task_id in wanted:
            lines_key, count_key = self.keys(task_id)
            pipe.lrange(lines_key, offset, stop)
            pipe.llen(lines_key)
            pipe.get(count_key)
        replies = pipe.execute()
        chunks = {}
        for index, task_id in enumerate(wanted):
            raws, kept, logged = replies[3 * index : 3 * index + 3]
            chunks[task_id] = _chunk(raws, offset, kept, logged)
        return chunks

    @staticmethod
    def _chunks(wanted: list[str], replies: list) -> dict:
        chunks = {}
        for index, task_id in enumerate(wanted):
            raws, logged = replies[2 * index : 2 * index + 2]
            chunks[task_id] = _chunk(raws, 0, len(raws), logged)
        return chunks


class FileLogs:
    """An append-only file per task beside the file backend's results; one read per poll."""

    def __init__(self, backend: FilesystemBackend):
        self.backend = backend

    def _path(self, task_id: str) -> bytes:
        return os.path.join(self.backend.path, self.backend.get_key_for_task(task_id, LOG_SUFFIX))

    def write(self, batches: dict[str, Batch], read_back: Iterable[str] = ()) -> dict:
        """Append ``batches`` (a line counting the dropped ones after them); read ``read_back``."""
        for task_id, batch in batches.items():
            records = list(batch.lines)
            if batch.logged > len(batch.lines):
                records.append(json.dumps({"dropped": batch.logged - len(batch.lines)}).encode())
            if records:
                # One write of whole lines in append mode: writers of one task never
                # interleave inside a line.
                with open(self._path(task_id), "ab") as handle:
                    handle.write(b"\n".join(records) + b"\n")
        return self.read(read_back)

    def read(self, task_ids: Iterable[str], offset: int = 0, limit: int | None = None) -> dict:
        """Return each task's lines from ``offset`` (at most ``limit``): one file read each."""
        chunks = {}
        for task_id in task_ids:
            try:
                with open(self._path(task_id), "rb") as handle:
                    records = handle.read().splitlines()
            except FileNotFoundError:
                records = []
            lines, dropped = [], 0
            for record in records:
                if record.startswith(b"{"):
                    dropped += _dropped_of(record)
                else:
                    lines.append(record)
            cap = app_settings.LOG_MAX_LINES
            kept = min(len(lines), cap)
            dropped += len(lines) - kept
            stop = kept if limit is None else min(kept, offset + limit)
            chunks[task_id] = _chunk(lines[offset:stop], offset, kept, kept + dropped)
        return chunks


def _dropped_of(record: bytes) -> int:
    try:
        return int(json.loads(record).get("dropped", 0))
    except (TypeError, ValueError, AttributeError):
        return 0


def _chunk(raws: list, offset: int, kept: int, logged) -> LogChunk:
    logged = int(logged or 0)
    return LogChunk(decode_all(raws), offset, int(kept), max(0, logged - int(kept)))


def store_for(backend=None) -> RedisLogs | FileLogs | None:
    """Return where the result backend keeps live logs, or None when it cannot keep them."""
    backend = backend if backend is not None else current_app.backend
    if isinstance(backend, RedisBackend):
        return RedisLogs(backend)
    if isinstance(backend, FilesystemBackend):
        return FileLogs(backend)
    return None


def read_live(task_id, offset: int = 0, limit: int | None = None) -> LogChunk | None:
    """Return the live log of ``task_id`` from ``offset``; None when the backend keeps none."""
    store = store_for()
    if store is None:
        return None
    try:
        return store.read([str(task_id)], offset, limit)[str(task_id)]
    except Exception as exc:  # any transport error: the page says "log unavailable"
        raise LogUnavailable(str(exc)) from exc


def read_live_many(task_ids: Iterable) -> dict[str, LogChunk]:
    """Return the whole live logs of ``task_ids`` in one round trip (Redis)."""
    store = store_for()
    ids = [str(task_id) for task_id in task_ids]
    if store is None or not ids:
        return {}
    try:
        return store.read(ids)
    except Exception as exc:
        raise LogUnavailable(str(exc)) from exc


def as_text(lines: Iterable[LogLine], dropped: int = 0) -> str:
    """Return a log as plain text, one record a line, for the download."""
    out = [f"{line.at.isoformat()} {line.level:<8} {line.message}\n" for line in lines]
    if dropped:
        out.append(f"[{dropped} line{'s' if dropped != 1 else ''} dropped: over the log's cap]\n")
    return "".join(out)
