"""Domain functions behind the maintenance tasks: CSV export, purge in batches."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from taskboard.conf import app_settings
from taskboard.models import Task
from taskboard.worker.progress import report_progress

PURGE_BATCH = 1000
EXPORT_COLUMNS = (
    "id",
    "name",
    "status",
    "owner",
    "created_at",
    "started_at",
    "finished_at",
    "attempts",
    "worker",
    "arguments",
    "result",
    "duration_seconds",
    "error_type",
    "error_message",
)


def export_path(task_id) -> str:
    # On disk by the export task's id (the download view finds it from the id alone);
    # the name users see is in its result (export_filename).
    return str(app_settings.EXPORT_DIR / f"{task_id}.csv")


def export_filename(*, status: str = "", name: str = "", day=None) -> str:
    """Return the download name of an export: what it holds and the day it was made."""
    day = day or timezone.localdate()
    parts = ["tasks", status]
    if name:
        # A task name may hold anything; the file name keeps letters, digits, . _ -
        parts.append(re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")[:60])
    parts.append(day.isoformat())
    return "-".join(part for part in parts if part) + ".csv"


def export_csv(*, task_id, status: str = "", name: str = "", days: int = 30) -> dict:
    """Write the tasks the launcher may see, filtered, to var/exports/<task_id>.csv."""
    me = Task.objects.select_related("owner").filter(pk=task_id).first()
    owner = me.owner if me else None
    rows = Task.objects.select_related("owner").filter(
        created_at__gte=timezone.now() - timedelta(days=days)
    )
    # What the launcher may see (taskboard/permissions.py): all for view_all_tasks, else own.
    rows = rows.visible_to(owner) if owner else rows.none()
    if status:
        rows = rows.filter(status=status)
    if name:
        rows = rows.filter(name=name)
    total = rows.count()
    app_settings.EXPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = export_path(task_id)
    written = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_COLUMNS)
        for task in rows.iterator(chunk_size=2000):
            run = task.run_duration
            writer.writerow(
                [
                    task.pk,
                    _csv_safe(task.name),
                    task.status,
                    _csv_safe(task.owner.get_username() if task.owner else ""),
                    _iso(task.created_at),
                    _iso(task.started_at),
                    _iso(task.finished_at),
                    task.attempts,
                    _csv_safe(task.worker),
                    _csv_safe(_json(_arguments(task))),
                    _csv_safe("" if task.result is None else _json(task.result)),
                    "" if run is None else round(run.total_seconds(), 3),
                    _csv_safe(task.error_type),
                    _csv_safe(task.error_message),
                ]
            )
            written += 1
            if written % 2000 == 0:
                report_progress(written, total, f"{written} of {total} rows")
    return {"file": export_filename(status=status, name=name), "rows": written}


def _iso(value) -> str:
    return value.isoformat() if value else ""


def _arguments(task: Task):
    # As the detail page shows them: the keyword arguments, unless there are positional ones.
    return {"args": task.args, "kwargs": task.kwargs} if task.args else task.kwargs


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


# A cell starting with one of these is a formula (or becomes one) in spreadsheets
# (OWASP "CSV injection"): a leading quote makes it text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(text: str) -> str:
    return f"'{text}" if text.startswith(_FORMULA_START) else text


@dataclass(frozen=True)
class PurgedBatch:
    """One batch a purge deleted: the ids, and how many of each status."""

    ids: list
    counts: dict[str, int]


def purge_batches(queryset: QuerySet[Task]) -> Iterator[PurgedBatch]:
    """Delete the rows of ``queryset`` PURGE_BATCH at a time (never one huge DELETE).

    Pinned rows are never deleted, even if ``queryset`` would include them.
    """
    queryset = queryset.filter(pinned=False).order_by()
    while True:
        rows = list(queryset.values_list("pk", "status")[:PURGE_BATCH])
        if not rows:
            return
        ids = [pk for pk, _ in rows]
        # Pinned again in the DELETE: a row pinned since the SELECT stays. Rows
        # that link to these as retry_of keep their own record (SET NULL).
        Task.objects.filter(pk__in=ids, pinned=False).delete()
        counts: dict[str, int] = {}
        for _, status in rows:
            counts[status] = counts.get(status, 0) + 1
        yield PurgedBatch(ids=ids, counts=counts)
