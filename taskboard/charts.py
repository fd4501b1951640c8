"""Chart figures: throughput, failure rate, and wait and run time percentiles per task name.

Every figure is a SQL aggregate over a range of the created_at indexes: a task that
finished in the window was created at most the task time limit plus the pending
staleness (after which the reconciler fails it) before the window began, so that
bound lets the finished_at filter ride an index that already exists. PostgreSQL
computes the percentiles itself (percentile_cont); SQLite, the embedded mode, has no
ordered-set aggregates, so there they are computed in Python over a bounded window.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
)
from django.db.models.functions import Trunc
from django.utils import timezone

from taskboard.conf import app_settings
from taskboard.models import COMPLETED, FAILED, Task
from taskboard.selectors import visible_tasks

# range -> (length of the window, bucket kind for Trunc, bucket length)
RANGES: dict[str, tuple[timedelta, str, timedelta]] = {
    "hour": (timedelta(hours=1), "minute", timedelta(minutes=1)),
    "day": (timedelta(days=1), "hour", timedelta(hours=1)),
    "week": (timedelta(days=7), "hour", timedelta(hours=1)),
}
DEFAULT_RANGE = "hour"
MAX_NAMES = 20
# The SQLite fallback reads at most this many rows for its percentiles.
PYTHON_WINDOW = 20_000


def parse_range(raw: str | None) -> str:
    """Return a known range name; anything else gives the default."""
    return raw if raw in RANGES else DEFAULT_RANGE


def lookback() -> timedelta:
    """Return how long before finishing a task may have been created (see module doc)."""
    return timedelta(
        seconds=settings.CELERY_TASK_TIME_LIMIT
        + app_settings.PENDING_STALE_AFTER
        + app_settings.STALE_MARGIN
    )


@dataclass(frozen=True)
class Bucket:
    start: datetime
    completed: int = 0
    failed: int = 0

    @property
    def finished(self) -> int:
        return self.completed + self.failed

    @property
    def failure_rate(self) -> float | None:
        """Return the share of finished tasks that failed, 0..1, or None without any."""
        return self.failed / self.finished if self.finished else None


@dataclass(frozen=True)
class NameTimes:
    """Wait and run time percentiles (seconds) of one task name over the window."""

    name: str
    finished: int
    failed: int
    wait_p50: float | None
    wait_p95: float | None
    run_p50: float | None
    run_p95: float | None

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.finished if self.finished else None


def _finished_in(user, since: datetime, now: datetime) -> QuerySet[Task]:
    return visible_tasks(user).filter(
        status__in=(COMPLETED, FAILED),
        created_at__gte=since - lookback(),
        finished_at__gte=since,
        finished_at__lte=now,
    )


def throughput(*, user, range_name: str, now: datetime | None = None) -> list[Bucket]:
    """Return completed and failed counts per bucket over the range, zeros included."""
    now = now or timezone.now()
    span, kind, step = RANGES[range_name]
    since = now - span
    tz = timezone.get_current_timezone()
    rows = (
        _finished_in(user, since, now)
        .order_by()
        .annotate(bucket=Trunc("finished_at", kind, tzinfo=tz))
        .values("bucket")
        .annotate(
            completed=Count("pk", filter=Q(status=COMPLETED)),
            failed=Count("pk", filter=Q(status=FAILED)),
        )
    )
    counts = {row["bucket"]: (row["completed"], row["failed"]) for row in rows}
    start = _truncate(timezone.localtime(since, tz), kind)
    buckets = []
    moment = start
    while moment <= now:
        completed, failed = counts.get(moment, (0, 0))
        buckets.append(Bucket(start=moment, completed=completed, failed=failed))
        moment += step
    return buckets


def _truncate(moment: datetime, kind: str) -> datetime:
    moment = moment.replace(second=0, microsecond=0)
    return moment.replace(minute=0) if kind == "hour" else moment


class PercentileCont(Aggregate):
    """PostgreSQL's percentile_cont(p) WITHIN GROUP (ORDER BY expression)."""

    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, percentile: float, **extra):
        super().__init__(expression, percentile=float(percentile), **extra)


class EpochSeconds(Func):
    """The seconds of an interval, as a float (PostgreSQL)."""

    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()


def _seconds(end: str, start: str) -> EpochSeconds:
    return EpochSeconds(ExpressionWrapper(F(end) - F(start), output_field=DurationField()))


def name_times(*, user, range_name: str, now: datetime | None = None) -> list[NameTimes]:
    """Return wait and run time p50/p95 per task name for tasks finished in the range."""
    now = now or timezone.now()
    since = now - RANGES[range_name][0]
    queryset = _finished_in(user, since, now).filter(started_at__isnull=False)
    if connection.vendor == "postgresql":
        return _name_times_sql(queryset)
    return _name_times_python(queryset)


def _name_times_sql(queryset: QuerySet[Task]) -> list[NameTimes]:
    wait, run = _seconds("started_at", "created_at"), _seconds("finished_at", "started_at")
    rows = (
        queryset.order_by()
        .values("name")
        .annotate(
            finished=Count("pk"),
            failed=Count("pk", filter=Q(status=FAILED)),
            wait_p50=PercentileCont(wait, 0.5),
            wait_p95=PercentileCont(wait, 0.95),
            run_p50=PercentileCont(run, 0.5),
            run_p95=PercentileCont(run, 0.95),
        )
        .order_by("-finished", "name")[:MAX_NAMES]
    )
    return [NameTimes(**row) for row in rows]


def _name_times_python(queryset: QuerySet[Task]) -> list[NameTimes]:
    rows = queryset.order_by("-created_at").values_list(
        "name", "status", "created_at", "started_at", "finished_at"
    )[:PYTHON_WINDOW]
    waits: dict[str, list[float]] = defaultdict(list)
    runs: dict[str, list[float]] = defaultdict(list)
    failed: dict[str, int] = defaultdict(int)
    for name, status, created, started, finished in rows:
        waits[name].append((started - created).total_seconds())
        runs[name].append((finished - started).total_seconds())
        failed[name] += status == FAILED
    result = [
        NameTimes(
            name=name,
            finished=len(runs[name]),
            failed=failed[name],
            wait_p50=percentile_cont(waits[name], 0.5),
            wait_p95=percentile_cont(waits[name], 0.95),
            run_p50=percentile_cont(runs[name], 0.5),
            run_p95=percentile_cont(runs[name], 0.95),
        )
        for name in runs
    ]
    result.sort(key=lambda t: (-t.finished, t.name))
    return result[:MAX_NAMES]


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """Return the ``fraction`` percentile with linear interpolation, as PostgreSQL does."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
