"""The task state machine: the one place that writes a Task's status.

States only move forward: scheduled -> pending -> running -> completed | failed |
cancelled, and pending may jump straight to a terminal state (a task revoked before
it ran, or whose start we never saw). A scheduled row (a launch held back until its
time, never sent) moves to pending when it is sent, or to cancelled; nothing moves
back to scheduled. Every write is a conditional UPDATE whose WHERE
clause names the states it may move from, so two racing writers cannot regress a
row: the weaker one matches nothing. Every write bumps ``version``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import F
from django.utils import timezone

from taskboard.conf import app_settings
from taskboard.models import (
    CANCELLED,
    COMPLETED,
    FAILED,
    PENDING,
    RUNNING,
    SCHEDULED,
    TERMINAL,
    Task,
)

# Which states each state may be entered from. running -> running is allowed so
# that a retrying or redelivered task can record its new attempt.
ALLOWED_SOURCES: dict[str, tuple[str, ...]] = {
    SCHEDULED: (),
    PENDING: (SCHEDULED,),
    RUNNING: (PENDING, RUNNING),
    COMPLETED: (PENDING, RUNNING),
    FAILED: (PENDING, RUNNING),
    # A scheduled row was never sent: cancelling it needs no revoke.
    CANCELLED: (SCHEDULED, PENDING, RUNNING),
}


# What a NUL character in a task's output is stored as.
NUL_REPLACEMENT = "\ufffd"
# A JSON \u0000 escape, not preceded by an escaped backslash (an even run of them).
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def can_transition(source: str, target: str) -> bool:
    """Return whether a row in ``source`` may move to ``target``."""
    return source in ALLOWED_SOURCES.get(target, ())


def transition(
    task_id, target: str, *, only_from: tuple[str, ...] | None = None, **fields: Any
) -> bool:
    """Move a row to ``target`` if its current state allows it; return whether it moved.

    ``only_from`` narrows the states the row may move from (never widens them).
    """
    sources = ALLOWED_SOURCES[target]
    if only_from is not None:
        sources = tuple(s for s in sources if s in only_from)
    if not sources:
        raise ValueError(f"nothing may move into {target!r} from {only_from or 'anywhere'}")
    now = timezone.now()
    if target in TERMINAL:
        fields.setdefault("finished_at", now)
    updated = Task.objects.filter(pk=task_id, status__in=sources).update(
        status=target, version=F("version") + 1, **fields
    )
    return updated == 1


# Rows per UPDATE of transition_many (PostgreSQL takes at most 65,535 parameters).
MANY_CHUNK = 500


def transition_many(target: str, rows: Iterable[tuple[Any, dict[str, Any]]]) -> set[str]:
    """Move each ``(task_id, fields)`` row to ``target`` as ``transition`` does; return those moved.

    The same rule for many rows in one statement: each row moves only from the states
    ``target`` allows, with its own fields, its version bumped. One UPDATE joined to a
    VALUES list per set of field names (PostgreSQL; one ``transition`` per row
    elsewhere). The ids must be distinct.
    """
    sources = ALLOWED_SOURCES[target]
    now = timezone.now()
    groups: dict[tuple[str, ...], list[tuple[Any, dict[str, Any]]]] = {}
    for task_id, fields in rows:
        if target in TERMINAL:
            fields = {"finished_at": now, **fields}
        groups.setdefault(tuple(sorted(fields)), []).append((task_id, fields))
    moved: set[str] = set()
    for names, group in groups.items():
        if connection.vendor != "postgresql":
            moved.update(
                str(task_id) for task_id, fields in group if transition(task_id, target, **fields)
            )
            continue
        for start in range(0, len(group), MANY_CHUNK):
            moved.update(
                _update_from_values(target, sources, names, group[start : start + MANY_CHUNK])
            )
    return moved


def _update_from_values(
    target: str, sources: tuple[str, ...], names: tuple[str, ...], group: list
) -> list[str]:
    """Run one ``UPDATE … FROM (VALUES …)`` for rows that all carry the fields ``names``."""
    meta, quote = Task._meta, connection.ops.quote_name
    columns = [meta.pk, *(meta.get_field(name) for name in names)]
    row = "(" + ", ".join(f"%s::{field.db_type(connection)}" for field in columns) + ")"
    params: list[Any] = [target]
    for task_id, fields in group:
        params.append(meta.pk.get_db_prep_save(task_id, connection))
        params.extend(
            meta.get_field(name).get_db_prep_save(fields[name], connection) for name in names
        )
    params.extend(sources)
    pk, status, version = quote(meta.pk.column), quote("status"), quote("version")
    sets = "".join(f", {quote(field.column)} = v.{quote(field.column)}" for field in columns[1:])
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {status} = %s, {version} = t.{version} + 1{sets}"
        f" FROM (VALUES {', '.join([row] * len(group))})"
        f" AS v({', '.join(quote(field.column) for field in columns)})"
        f" WHERE t.{pk} = v.{pk} AND t.{status} IN ({', '.join(['%s'] * len(sources))})"
        f" RETURNING t.{pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [str(task_id) for (task_id,) in cursor.fetchall()]


def touch(task_id, **fields: Any) -> bool:
    """Update fields of a row that is still in flight, without changing its state."""
    updated = Task.objects.filter(pk=task_id, status__in=(PENDING, RUNNING)).update(
        version=F("version") + 1, **fields
    )
    return updated == 1


def cap_text(text: str, limit: int | None = None) -> str:
    """Return ``text`` cut to ``limit`` bytes of UTF-8, marked when cut."""
    limit = limit or app_settings.TRACEBACK_MAX_BYTES
    # PostgreSQL text refuses NUL: the write would fail and the row never finish.
    text = (text or "").replace("\x00", NUL_REPLACEMENT)
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    kept = data[:limit].decode("utf-8", errors="ignore")
    return f"{kept}\n… [truncated: {len(data) - len(kept.encode())} more bytes]"


def cap_result(value: Any) -> tuple[Any, bool]:
    """Return a JSON-safe result no larger than the configured cap, and whether it was cut."""
    try:
        encoded = json.dumps(value, default=repr)
    except (TypeError, ValueError):
        encoded = json.dumps(repr(value))
    # jsonb refuses \u0000 anywhere in a document (strings and keys alike).
    encoded = _JSON_NUL.sub(lambda m: m.group(1) + "\\ufffd", encoded)
    limit = app_settings.RESULT_MAX_BYTES
    if len(encoded.encode("utf-8")) <= limit:
        return json.loads(encoded), False
    return {"truncated": True, "preview": cap_text(encoded, limit)}, True
