"""Prometheus metrics, computed at scrape time from a few aggregate queries.

What each family costs on a large history (docs/operations.md, "Metrics"):

- ``taskboard_tasks{status}``: one GROUP BY status over the whole table, an
  index-only scan of the (status, created_at, id) index.
- ``taskboard_tasks_recent{name,status}``: GROUP BY name, status over the tasks
  created in the last 24 hours, a range of the created_at index; the whole table
  is never grouped by name.
- ``taskboard_task_run_seconds{name}``: a histogram of the run time of the tasks
  that finished (completed or failed) in the last hour, counted per bucket in
  one query; the scan is bounded to tasks created in the last 25 hours (so a task
  that waited longer than a day in the queue is left out).
- ``taskboard_tasks_stale_pending``: pending longer than TASKBOARD_PENDING_WARN_AFTER.
- ``taskboard_queue_depth{queue}`` and ``taskboard_broker_up``: read from the
  broker like /ops/, bounded by TASKBOARD_OPS_TIMEOUT.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone
from prometheus_client.core import (
    CollectorRegistry,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from taskboard import ops, selectors
from taskboard.conf import app_settings
from taskboard.models import COMPLETED, FAILED, Status, Task

RECENT = timedelta(hours=24)
RUN_WINDOW = timedelta(hours=1)
# Upper bounds in seconds; +Inf is added.
BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
RUN_TIME = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())


def recent_counts(now=None) -> dict[tuple[str, str], int]:
    """Return the number of tasks per (name, status) created in the last 24 hours."""
    now = now or timezone.now()
    rows = (
        Task.objects.filter(created_at__gte=now - RECENT)
        .order_by()
        .values_list("name", "status")
        .annotate(n=Count("pk"))
    )
    return {(name, status): n for name, status, n in rows}


def run_time_histogram(now=None) -> dict[str, tuple[list[int], int, float]]:
    """Return, per task name, cumulative bucket counts, total count and sum of run seconds.

    Over the tasks that finished in the last hour, in one grouped query.
    """
    now = now or timezone.now()
    buckets = {
        f"le_{i}": Count("pk", filter=Q(run__lte=timedelta(seconds=bound)))
        for i, bound in enumerate(BUCKETS)
    }
    rows = (
        Task.objects.filter(
            status__in=(COMPLETED, FAILED),
            created_at__gte=now - RUN_WINDOW - RECENT,
            finished_at__gte=now - RUN_WINDOW,
            started_at__isnull=False,
        )
        .alias(run=RUN_TIME)
        .order_by()
        .values("name")
        .annotate(total=Count("pk"), seconds=Sum("run"), **buckets)
    )
    result = {}
    for row in rows:
        counts = [row[f"le_{i}"] for i in range(len(BUCKETS))]
        seconds = row["seconds"].total_seconds() if row["seconds"] else 0.0
        result[row["name"]] = (counts, row["total"], seconds)
    return result


class TaskboardCollector:
    """Collect Taskboard's metrics from the database and the broker at each scrape."""

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family, read now."""
        now = timezone.now()

        tasks = GaugeMetricFamily(
            "taskboard_tasks", "Tasks in the database by status.", labels=["status"]
        )
        for status, n in selectors.task_status_counts(Task.objects.all()).items():
            tasks.add_metric([status], n)
        yield tasks

        recent = GaugeMetricFamily(
            "taskboard_tasks_recent",
            "Tasks created in the last 24 hours by name and status.",
            labels=["name", "status"],
        )
        counts = recent_counts(now)
        names = sorted({name for name, _ in counts})
        for name in names:
            for status in Status.values:
                recent.add_metric([name, status], counts.get((name, status), 0))
        yield recent

        histogram = HistogramMetricFamily(
            "taskboard_task_run_seconds",
            "Run time of the tasks that finished in the last hour.",
            labels=["name"],
        )
        for name, (cumulative, total, seconds) in sorted(run_time_histogram(now).items()):
            buckets = [(_bound(b), c) for b, c in zip(BUCKETS, cumulative, strict=True)]
            histogram.add_metric([name], buckets + [("+Inf", total)], sum_value=seconds)
        yield histogram

        stale = selectors.stale_pending(
            user=None, older_than=app_settings.PENDING_WARN_AFTER, sample=0
        )
        yield GaugeMetricFamily(
            "taskboard_tasks_stale_pending",
            "Tasks pending for longer than TASKBOARD_PENDING_WARN_AFTER seconds.",
            value=stale.count,
        )

        depths = ops.queue_depths_or_none()
        yield GaugeMetricFamily(
            "taskboard_broker_up",
            "Whether the broker answered this scrape.",
            value=int(depths is not None),
        )
        depth = GaugeMetricFamily(
            "taskboard_queue_depth", "Messages waiting in each queue.", labels=["queue"]
        )
        for queue in depths or ():
            if queue.depth is not None:
                depth.add_metric([queue.name], queue.depth)
        yield depth


def _bound(value: float) -> str:
    return str(value)


def registry() -> CollectorRegistry:
    """Return a registry holding only Taskboard's collector, without process metrics."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(TaskboardCollector())
    return reg
