"""Reads: every query the pages, the poll and the API make goes through here."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import (
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from taskboard import permissions
from taskboard.models import (
    CANCELLED,
    COMPLETED,
    FAILED,
    TERMINAL,
    ApiToken,
    AuditLog,
    BulkAction,
    NotifyRoute,
    Schedule,
    Status,
    Subscription,
    Task,
    TaskLog,
    Webhook,
    WebhookAttempt,
    pending_before,
)
from taskboard.tasklog import LogChunk, LogUnavailable, decode_all, read_live
from taskboard.timing import Timing, describe_timing


def completed_tasks() -> QuerySet[Task]:
    """Return the completed tasks."""
    return Task.objects.completed()


def failed_tasks() -> QuerySet[Task]:
    """Return the failed tasks."""
    return Task.objects.failed()


def running_tasks() -> QuerySet[Task]:
    """Return the running tasks."""
    return Task.objects.running()


def pending_tasks() -> QuerySet[Task]:
    """Return the pending tasks."""
    return Task.objects.pending()


def visible_tasks(user) -> QuerySet[Task]:
    """Return the tasks ``user`` may see."""
    return Task.objects.visible_to(user)


def task_get(*, user, task_id) -> Task:
    """Return the task ``user`` may see with this id, or raise Http404."""
    return get_object_or_404(visible_tasks(user).select_related("owner", "retry_of"), pk=task_id)


# How long after its end a task's page still asks for log lines while its stored log
# is not written yet: the worker sends its last lines right after the end is recorded.
LOG_SETTLE = timedelta(seconds=10)


@dataclass(frozen=True)
class TaskLogView:
    """A task's log from an offset, where it came from, and whether more may come."""

    chunk: LogChunk
    live: bool = True
    finished: bool = False


def task_log(*, task: Task, offset: int = 0, limit: int | None = None) -> TaskLogView:
    """Return the log of ``task`` from ``offset``: its stored copy once ended, else the live one.

    A running task costs one result-backend round trip and no query; an ended one
    one query (its stored log), or the live log while its worker has not stored it.
    """
    if task.is_terminal:
        stored = TaskLog.objects.filter(task=task).values_list("entries", "dropped").first()
        if stored is not None:
            entries, dropped = stored
            stop = len(entries) if limit is None else offset + limit
            chunk = LogChunk(decode_all(entries[offset:stop]), offset, len(entries), dropped)
            return TaskLogView(chunk, finished=chunk.at_end)
    try:
        chunk = read_live(task.pk, offset, limit) or LogChunk(offset=offset)
    except LogUnavailable:
        # Not finished: the page says the live log is unavailable and asks again, never
        # that an ended task logged nothing when its lines could not be read.
        return TaskLogView(LogChunk(offset=offset), live=False)
    settled = task.is_terminal and (
        task.finished_at is None or timezone.now() - task.finished_at > LOG_SETTLE
    )
    return TaskLogView(chunk, finished=settled and chunk.at_end)


RUN_TIME = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())


@dataclass(frozen=True)
class LaunchStats:
    """How a launchable task fared recently, for the catalog."""

    runs: int = 0
    finished: int = 0
    succeeded: int = 0
    cancelled: int = 0
    last_run: datetime | None = None
    avg_run: timedelta | None = None

    @property
    def success_rate(self) -> int | None:
        """Return the percentage of finished runs that completed, or None without any."""
        if not self.finished:
            return None
        return round(100 * self.succeeded / self.finished)


def launch_stats(*, user, names: Iterable[str], days: int = 30) -> dict[str, LaunchStats]:
    """Return runs, success rate, average run time and last run per task name, in one query.

    Bounded to the last ``days`` so the catalog never scans the whole history.
    """
    since = timezone.now() - timedelta(days=days)
    rows = (
        visible_tasks(user)
        .filter(name__in=list(names), created_at__gte=since)
        .order_by()
        .values("name")
        .annotate(
            runs=Count("pk"),
            # Cancelled runs neither succeeded nor failed: left out of the rate.
            finished=Count("pk", filter=Q(status__in=(COMPLETED, FAILED))),
            succeeded=Count("pk", filter=Q(status=COMPLETED)),
            cancelled=Count("pk", filter=Q(status=CANCELLED)),
            last_run=Max("created_at"),
            avg_run=Avg(RUN_TIME, filter=Q(status=COMPLETED, started_at__isnull=False)),
        )
    )
    return {
        row["name"]: LaunchStats(
            runs=row["runs"],
            finished=row["finished"],
            succeeded=row["succeeded"],
            cancelled=row["cancelled"],
            last_run=row["last_run"],
            avg_run=row["avg_run"],
        )
        for row in rows
    }


def average_run_times(*, user, names: Iterable[str], runs: int = 100) -> dict[str, timedelta]:
    """Return the average run time of each name's latest ``runs`` completed runs, in one query.

    The rolling average behind the running rows' ETA: per name, an index range on
    (name, created_at) that stops after ``runs`` rows, whatever the history's size.
    """
    parts, params = [], []
    for name in dict.fromkeys(names):
        latest = (
            visible_tasks(user)
            .filter(name=name, status=COMPLETED, started_at__isnull=False)
            .order_by("-created_at")
            .annotate(run=RUN_TIME)
            .values("run")[:runs]
        )
        sql, sub_params = latest.query.sql_with_params()
        parts.append(f"SELECT %s, (SELECT AVG(latest.run) FROM ({sql}) AS latest)")
        params += [name, *sub_params]
    if not parts:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    return {name: _as_duration(avg) for name, avg in rows if avg is not None}


def _as_duration(value) -> timedelta:
    # PostgreSQL returns an interval; SQLite averages the microseconds Django stores.
    return value if isinstance(value, timedelta) else timedelta(microseconds=float(value))


def retry_chain(*, user, task: Task, limit: int = 20) -> tuple[list[Task], list[Task]]:
    """Return the earlier runs ``task`` retries (oldest first) and its direct retries."""
    visible = visible_tasks(user).only("id", "name", "status", "created_at", "retry_of_id")
    earlier: list[Task] = []
    parent_id = task.retry_of_id
    # Chains are short (a person clicks Retry); the cap guards against a cycle.
    while parent_id and len(earlier) < limit:
        parent = visible.filter(pk=parent_id).first()
        if parent is None:
            break
        earlier.append(parent)
        parent_id = parent.retry_of_id
    earlier.reverse()
    retries = list(visible.filter(retry_of=task).order_by("created_at", "id")[:limit])
    return earlier, retries


def retry_count(*, task: Task) -> int:
    """Return how many retries ``task`` has, whoever launched them (see task_retry)."""
    return Task.objects.filter(retry_of=task).count()


# Tab counts stop at this many: an exact count of a status over a million-row
# history is a scan of the whole status; "1,000+" is an index range of 1,001 rows.
COUNT_CAP = 1000


def task_status_counts(queryset: QuerySet[Task], cap: int = COUNT_CAP) -> dict[str, int]:
    """Return how many tasks of ``queryset`` are in each status ("" for all), up to ``cap + 1``.

    One query: a UNION ALL of one bounded count per status, each an index range
    that stops after ``cap + 1`` rows. A value above ``cap`` means "more than cap".
    The filtered query is compiled once and narrowed to each status around it: the
    database folds that subquery in, so each count keeps its own index range.
    """
    sql, sub_params = queryset.order_by().values("pk", "status").query.sql_with_params()
    parts, params = [], []
    for status in ("", *Status.values):
        where = " WHERE visible.status = %s" if status else ""
        parts.append(
            f"SELECT %s, (SELECT COUNT(*) FROM (SELECT 1 FROM ({sql}) AS visible{where}"
            f" LIMIT {int(cap) + 1}) AS bounded)"
        )
        params += [status, *sub_params, *([status] if status else [])]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        return dict(cursor.fetchall())


# What a table row shows (templates/taskboard/partials/task_row.html), and nothing else.
ROW_FIELDS = (
    "id",
    "name",
    "status",
    "owner_id",
    "args",
    "kwargs",
    "attempts",
    "error_type",
    "error_message",
    "cancel_requested",
    "created_at",
    "started_at",
    "finished_at",
    "version",
    # A workflow's root shows the workflow's counts; a step links to its root.
    "root_id",
)
_STATUS, _ATTEMPTS, _VERSION, _ROOT = (
    ROW_FIELDS.index(f) for f in ("status", "attempts", "version", "root_id")
)


class PollRow(NamedTuple):
    """A polled row as read from the database: enough for its token, and for a Task.

    Most polled rows have not changed, and never become model instances: building
    fifty of them (and their owners) was most of an unchanged poll's cost.
    """

    pk: uuid.UUID
    status: str
    attempts: int
    version: int
    values: tuple

    @property
    def is_workflow_root(self) -> bool:
        return self.values[_ROOT] == self.pk

    def task(self) -> Task:
        """Return the row as a Task with the fields of ROW_FIELDS (and its owner's name)."""
        task = Task.from_db(DEFAULT_DB_ALIAS, ROW_FIELDS, self.values[: len(ROW_FIELDS)])
        if len(self.values) > len(ROW_FIELDS) and task.owner_id is not None:
            User = get_user_model()
            task.owner = User.from_db(
                DEFAULT_DB_ALIAS, ["id", User.USERNAME_FIELD], (task.owner_id, self.values[-1])
            )
        return task


def poll_rows(*, user, ids: Iterable) -> list[PollRow]:
    """Return the rows among ``ids`` that ``user`` may see, in one query (see docs/architecture.md).

    The owner's name is read only for users who see the owner column.
    """
    ids = list(ids)
    if not ids:
        return []
    fields = [*ROW_FIELDS, *_owner_name(user)]
    return [
        PollRow(values[0], values[_STATUS], values[_ATTEMPTS], values[_VERSION], values)
        for values in visible_tasks(user).filter(pk__in=ids).values_list(*fields)
    ]


# What a workflow tree's node shows (partials/workflow_tree.html), and its links.
TREE_FIELDS = (
    "id",
    "name",
    "status",
    "attempts",
    "version",
    "run",
    "parent_id",
    "group_id",
    "chord_id",
    "retry_of_id",
    "owner_id",
)
# A tree stops here: past it, the page says it shows the first ones only.
TREE_MAX = 5000


class TreeRow(NamedTuple):
    """One node of a workflow as read for its tree: no model instance, no owner."""

    pk: uuid.UUID
    name: str
    status: str
    attempts: int
    version: int
    # How long it ran, once finished: one interval instead of two timestamps (a
    # poll of a large tree reads it for every finished node).
    run: timedelta | None
    parent_id: uuid.UUID | None
    group_id: uuid.UUID | None
    chord_id: uuid.UUID | None
    retry_of_id: uuid.UUID | None
    owner_id: int | None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


def workflow_rows(*, user, root_id, limit: int = TREE_MAX) -> list[TreeRow]:
    """Return the nodes of the workflow rooted at ``root_id`` that ``user`` may see, in one query.

    The root and every row naming it as root, oldest first, on the (root_id,
    created_at) index; at most ``limit`` of them.
    """
    rows = (
        visible_tasks(user)
        .filter(Q(pk=root_id) | Q(root_id=root_id))
        .order_by("created_at", "id")
        .annotate(run=RUN_TIME)
        .values_list(*TREE_FIELDS)
    )
    return [TreeRow(*values) for values in rows[:limit]]


def workflow_counts(*, user, root_ids: Iterable) -> dict[str, dict[str, int]]:
    """Return how many nodes of each workflow in ``root_ids`` are in each status, in one query."""
    root_ids = list(root_ids)
    if not root_ids:
        return {}
    rows = (
        visible_tasks(user)
        .filter(root_id__in=root_ids)
        .order_by()
        .values_list("root_id", "status")
        .annotate(count=Count("pk"))
    )
    counts: dict[str, dict[str, int]] = {}
    for root_id, status, count in rows:
        counts.setdefault(str(root_id), {})[status] = count
    return counts


def table_tasks(user) -> QuerySet[Task]:
    """Return the tasks ``user`` may see, reading only what a table row shows.

    Neither the result nor the traceback (the largest columns) leave the database,
    and the owner's name is joined only for users who see the owner column.
    """
    owner_name = _owner_name(user)
    tasks = visible_tasks(user).select_related("owner") if owner_name else visible_tasks(user)
    return tasks.only(*ROW_FIELDS, *owner_name)


def _owner_name(user) -> tuple[str, ...]:
    """Return the owner's name field to read along a row, for those who see the owner column."""
    if not permissions.can_view_all(user):
        return ()
    return (f"owner__{get_user_model().USERNAME_FIELD}",)


def task_activity(*, task: Task, limit: int = 20) -> list[AuditLog]:
    """Return the latest audit entries that name ``task``, newest first."""
    entries = AuditLog.objects.select_related("actor")
    task_id = str(task.pk)
    if connection.vendor == "postgresql":
        # JSONB containment, on the GIN index of migration 0002.
        entries = entries.filter(task_ids__contains=[task_id])
    else:
        # SQLite has no JSON containment; a UUID cannot match anything else by accident.
        entries = entries.filter(task_ids__icontains=task_id)
    return list(entries.order_by("-created_at", "-id")[:limit])


def audit_entries(*, user, action: str = "") -> QuerySet[AuditLog]:
    """Return the audit log ``user`` may read (everything for staff, else nothing), newest first."""
    if not permissions.can_view_audit(user):
        return AuditLog.objects.none()
    entries = AuditLog.objects.select_related("actor").order_by("-created_at", "-id")
    if action:
        entries = entries.filter(action=action)
    return entries


def selected_tasks(*, user, ids: Iterable) -> QuerySet[Task]:
    """Return the tasks among ``ids`` that ``user`` may see, as a bulk selection to freeze."""
    return visible_tasks(user).filter(pk__in=list(ids))


def bulk_get(*, user, bulk_id) -> BulkAction:
    """Return ``user``'s own bulk action with this id, or raise Http404."""
    return get_object_or_404(BulkAction.objects.select_related("job"), pk=bulk_id, actor=user)


def bulk_preview(*, user, bulk: BulkAction, limit: int = 20) -> list[Task]:
    """Return the first ``limit`` frozen tasks of ``bulk`` still present, in the frozen order."""
    ids = bulk.task_ids[:limit]
    found = {str(t.pk): t for t in visible_tasks(user).filter(pk__in=ids).select_related("owner")}
    return [found[task_id] for task_id in ids if task_id in found]


@dataclass(frozen=True)
class StalePending:
    """Pending tasks older than the warning threshold: how many, and the oldest few."""

    count: int
    capped: bool
    oldest: list[Task]


def stale_pending(*, user, older_than: int, cap: int = 10_000, sample: int = 5) -> StalePending:
    """Return the tasks ``user`` may see (all for None) pending over ``older_than`` seconds.

    The count stops at ``cap`` so that a flooded queue cannot make it a full scan.
    """
    since = timezone.now() - timedelta(seconds=older_than)
    tasks = Task.objects.all() if user is None else visible_tasks(user)
    stale = tasks.filter(pending_before(since))
    count = stale.order_by()[: cap + 1].count()
    oldest = []
    if sample:
        oldest = list(stale.order_by("created_at", "id").only("id", "name", "created_at")[:sample])
    return StalePending(count=min(count, cap), capped=count > cap, oldest=oldest)


def existing_task_ids(*, user, ids: Iterable) -> set[str]:
    """Return which of ``ids`` are tasks ``user`` may see, in one query."""
    valid = []
    for task_id in ids:
        try:
            valid.append(uuid.UUID(str(task_id)))
        except ValueError:
            continue
    if not valid:
        return set()
    found = visible_tasks(user).filter(pk__in=valid).values_list("pk", flat=True)
    return {str(pk) for pk in found}


class BadCursor(ValueError):
    """A page cursor that this application did not give out."""


def encode_cursor(task: Task) -> str:
    """Return the opaque cursor of the page that continues after ``task``."""
    raw = json.dumps([task.created_at.isoformat(), str(task.pk)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Return the (created_at, id) a cursor points after; raise BadCursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, task_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        when = parse_datetime(created)
        if when is None or when.tzinfo is None:
            raise ValueError(created)
        return when, uuid.UUID(task_id)
    except (ValueError, TypeError, binascii.Error, UnicodeError, OverflowError):
        raise BadCursor("not a cursor this page gave out") from None


def tasks_page(
    queryset: QuerySet[Task], *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Task]:
    """Return up to ``limit + 1`` tasks of ``queryset`` after a (created_at, id) keyset.

    Newest first, on the (created_at, id) index: no COUNT and no OFFSET, so a page
    deep in a large history costs what the first one does. The extra row tells
    the caller whether another page follows.
    """
    queryset = queryset.order_by("-created_at", "-id")
    if after is not None:
        created, pk = after
        queryset = queryset.filter(created_at__lte=created).exclude(created_at=created, pk__gte=pk)
    return list(queryset[: limit + 1])


def api_tokens(*, user) -> QuerySet[ApiToken]:
    """Return ``user``'s own API tokens, newest first."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def api_token_get(*, user, token_id) -> ApiToken:
    """Return one of ``user``'s own tokens; anyone else's is a 404, as if it did not exist."""
    return get_object_or_404(api_tokens(user=user), pk=token_id)


# --- schedules ----------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleRow:
    """A schedule as /schedules/ shows it: when in words, next run, last run."""

    schedule: Schedule
    when: str
    next_run: datetime | None
    last_run: Task | None


def visible_schedules(user) -> QuerySet[Schedule]:
    """Return the schedules ``user`` may see (owner rules as for tasks; staff see all)."""
    return Schedule.objects.visible_to(user).select_related(
        "owner", "periodic_task__crontab", "periodic_task__interval"
    )


def schedule_get(*, user, schedule_id) -> Schedule:
    """Return the schedule ``user`` may see with this id, or raise Http404."""
    return get_object_or_404(visible_schedules(user), pk=schedule_id)


def schedule_when(schedule: Schedule) -> str:
    """Return when ``schedule`` runs, in words."""
    return describe_timing(Timing.of(schedule.periodic_task))


def next_run_at(schedule: Schedule) -> datetime | None:
    """Return when beat will next send ``schedule`` (None: disabled)."""
    periodic = schedule.periodic_task
    if not periodic.enabled:
        return None
    now = timezone.now()
    remaining = periodic.schedule.remaining_estimate(periodic.last_run_at or now)
    # The schedule reads its own clock a moment after ``now``: round that away, so
    # that 02:00 does not show as 01:59.
    moment = now + max(remaining, timedelta(0)) + timedelta(milliseconds=500)
    return moment.replace(microsecond=0)


def schedule_rows(schedules: Iterable[Schedule]) -> list[ScheduleRow]:
    """Return the rows of /schedules/ for ``schedules``, each with its newest run."""
    schedules = list(schedules)
    # The newest run of each schedule in one query (task_schedule_idx).
    newest = Task.objects.filter(schedule=OuterRef("pk")).order_by("-created_at", "-id")
    latest = dict(
        Schedule.objects.filter(pk__in=[s.pk for s in schedules])
        .annotate(last_id=Subquery(newest.values("pk")[:1]))
        .values_list("pk", "last_id")
    )
    runs = Task.objects.in_bulk([pk for pk in latest.values() if pk is not None])
    return [
        ScheduleRow(
            schedule=s,
            when=schedule_when(s),
            next_run=next_run_at(s),
            last_run=runs.get(latest.get(s.pk)),
        )
        for s in schedules
    ]


@dataclass(frozen=True)
class ScheduleStats:
    """How a schedule's recent runs fared: success rate and run times, oldest first."""

    runs: int
    finished: int
    succeeded: int
    durations: list[float]

    @property
    def success_rate(self) -> int | None:
        """Return the percentage of the finished runs that completed (None: none finished)."""
        if not self.finished:
            return None
        return round(100 * self.succeeded / self.finished)

    @property
    def longest(self) -> float:
        return max(self.durations, default=0.0)


def schedule_runs(*, user, schedule: Schedule) -> QuerySet[Task]:
    """Return the runs of ``schedule`` that ``user`` may see, newest first, as table rows."""
    return table_tasks(user).filter(schedule=schedule).order_by("-created_at", "-id")


def schedule_stats(*, user, schedule: Schedule, last: int = 20) -> ScheduleStats:
    """Return the success rate and run times of the last ``last`` runs of ``schedule``."""
    recent = list(
        schedule_runs(user=user, schedule=schedule).values_list(
            "status", "started_at", "finished_at"
        )[:last]
    )
    ended = [row for row in recent if row[0] in (COMPLETED, FAILED, CANCELLED)]
    durations = [
        (finished - started).total_seconds()
        for status, started, finished in reversed(recent)
        if status == COMPLETED and started and finished
    ]
    return ScheduleStats(
        runs=len(recent),
        finished=len(ended),
        succeeded=sum(1 for row in ended if row[0] == COMPLETED),
        durations=durations,
    )


# --- notifications ----------------------------------------------------------------


def subscriptions(*, user) -> QuerySet[Subscription]:
    """Return ``user``'s own subscriptions (bells first, then task names), newest first."""
    return (
        Subscription.objects.filter(user=user)
        .select_related("task")
        .order_by("task_id", "-created_at", "-id")
    )


def subscription_get(*, user, subscription_id) -> Subscription:
    """Return one of ``user``'s subscriptions; anyone else's is a 404."""
    return get_object_or_404(Subscription.objects.filter(user=user), pk=subscription_id)


def subscribed_task_ids(*, user, task_ids: Iterable) -> set[str]:
    """Return which of ``task_ids`` ``user`` rang the bell of, in one query."""
    ids = Subscription.objects.filter(user=user, task_id__in=list(task_ids)).values_list(
        "task_id", flat=True
    )
    return {str(task_id) for task_id in ids}


def notify_routes() -> QuerySet[NotifyRoute]:
    """Return every failure route with its webhook (staff pages only)."""
    return NotifyRoute.objects.select_related("webhook").order_by("task_name", "id")


def notify_route_get(*, route_id) -> NotifyRoute:
    return get_object_or_404(notify_routes(), pk=route_id)


def webhook_list() -> QuerySet[Webhook]:
    """Return every webhook, by name (staff pages only)."""
    return Webhook.objects.order_by("name", "id")


def webhook_get(*, webhook_id) -> Webhook:
    return get_object_or_404(Webhook, pk=webhook_id)


def webhook_attempts(*, webhook: Webhook, limit: int = 100) -> list[WebhookAttempt]:
    """Return the webhook's latest delivery attempts, newest first."""
    return list(
        WebhookAttempt.objects.filter(webhook=webhook).order_by("-created_at", "-id")[:limit]
    )
