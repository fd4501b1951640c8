"""Reads for operators: workers through Celery's remote control, queue depths on the broker.

Every broker call is bounded by a short timeout (TASKBOARD_OPS_TIMEOUT), so a dead
or slow broker makes the /ops/ page say "broker unreachable" quickly instead of
hanging a web process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from celery import current_app
from django.utils import timezone

from taskboard import selectors
from taskboard.conf import app_settings
from taskboard.models import Task


class BrokerUnreachable(Exception):
    """The broker could not be reached within the timeout."""


@dataclass(frozen=True)
class ActiveTask:
    """A task a worker is running right now."""

    id: str
    name: str
    started: datetime | None
    has_row: bool = False

    @property
    def running_for(self) -> timedelta | None:
        """Return how long the task has been running, by the worker's clock."""
        return None if self.started is None else timezone.now() - self.started


@dataclass(frozen=True)
class Worker:
    """One worker node as its remote-control replies describe it."""

    name: str
    concurrency: int | None = None
    pool: str = ""
    queues: tuple[str, ...] = ()
    active: tuple[ActiveTask, ...] = ()
    processed: int | None = None
    uptime: int | None = None

    @property
    def up_for(self) -> timedelta | None:
        """Return the worker's uptime as a duration."""
        return None if self.uptime is None else timedelta(seconds=self.uptime)


@dataclass(frozen=True)
class QueueDepth:
    """How many messages wait in a queue; None when the broker cannot tell."""

    name: str
    depth: int | None
    note: str = ""
    consumers: int | None = None


@dataclass
class OpsSnapshot:
    """What the /ops/ page shows at one moment."""

    broker: str
    reachable: bool = True
    error: str = ""
    workers: list[Worker] = field(default_factory=list)
    queues: list[QueueDepth] = field(default_factory=list)
    stale_count: int = 0
    stale_capped: bool = False
    stale_oldest: list[Task] = field(default_factory=list)
    stale_after: int = 0
    checked_at: datetime = field(default_factory=timezone.now)


def broker_label() -> str:
    """Return the broker URL without credentials, for display."""
    with current_app.connection_for_write() as conn:
        return _label(conn)


def _label(conn) -> str:
    # kombu masks the password, and shows a mask even where there is none.
    uri = conn.as_uri()
    if conn.password:
        return uri
    return uri.replace(":**@", "@" if conn.userid else "", 1)


def broker_connection(timeout: float):
    """Return an open broker connection whose connect attempt is bounded by ``timeout``.

    Raise BrokerUnreachable when the broker does not answer.
    """
    conn = current_app.connection_for_write(
        connect_timeout=timeout,
        # Redis reads its connect timeout from the transport options.
        transport_options={"socket_connect_timeout": timeout, "socket_timeout": timeout + 2},
    )
    try:
        # No retries: the page reports the outage instead of waiting it out.
        conn.ensure_connection(max_retries=0, timeout=timeout)
    except Exception as exc:
        conn.release()
        raise BrokerUnreachable(_describe(exc)) from exc
    return conn


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _started(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def inspect_workers(conn, timeout: float) -> list[Worker]:
    """Return the workers that answer a ping within ``timeout``, with stats, tasks and queues.

    The ping waits the whole timeout (nobody knows how many workers exist); the
    other calls address the workers that answered and return once all replied.
    """
    control = current_app.control
    replies = control.inspect(timeout=timeout, connection=conn).ping() or {}
    names = sorted(replies)
    if not names:
        return []
    inspect = control.inspect(destination=names, timeout=timeout, limit=len(names), connection=conn)
    stats = inspect.stats() or {}
    active = inspect.active() or {}
    queues = inspect.active_queues() or {}
    workers = []
    for name in names:
        node = stats.get(name) or {}
        pool = node.get("pool") or {}
        totals = node.get("total") or {}
        workers.append(
            Worker(
                name=name,
                concurrency=pool.get("max-concurrency"),
                # "celery.concurrency.prefork:TaskPool" -> "prefork"
                pool=str(pool.get("implementation", "")).split(":")[0].rsplit(".", 1)[-1],
                queues=tuple(sorted(q.get("name", "") for q in queues.get(name) or ())),
                active=tuple(
                    ActiveTask(
                        id=str(t.get("id", "")),
                        name=str(t.get("name") or t.get("type") or ""),
                        started=_started(t.get("time_start")),
                    )
                    for t in active.get(name) or ()
                ),
                processed=sum(totals.values()) if totals else 0 if node else None,
                uptime=node.get("uptime"),
            )
        )
    return workers


def known_queues(extra: Iterable[str] = ()) -> list[str]:
    """Return the queue names worth measuring: the default, configured ones and ``extra``."""
    conf = current_app.conf
    names = {conf.task_default_queue, *app_settings.OPS_QUEUES, *extra}
    for queue in conf.task_queues or ():
        names.add(queue.name)
    return sorted(name for name in names if name)


def queue_depths(conn, names: Iterable[str]) -> list[QueueDepth]:
    """Return the number of messages waiting in each queue, read from the broker.

    A passive queue_declare is kombu's portable way to ask: LLEN of the queue's
    lists on Redis, the message count on RabbitMQ, a count of files on the
    filesystem broker.
    """
    kind = conn.transport.driver_type
    depths = []
    channel = conn.channel()
    try:
        for name in names:
            try:
                _, count, _ = channel.queue_declare(queue=name, passive=True)
            except conn.channel_errors:
                # Redis drops an empty list, so "no such queue" means zero there;
                # RabbitMQ says so only for a queue nobody declared.
                if kind == "redis":
                    depths.append(QueueDepth(name, 0))
                else:
                    depths.append(QueueDepth(name, None, "not declared"))
                # AMQP closes a channel after a refused declare.
                channel = _reopen(conn, channel)
                continue
            except NotImplementedError:
                depths.append(QueueDepth(name, None, "n/a"))
                continue
            depths.append(QueueDepth(name, int(count)))
    finally:
        _close(channel)
    return depths


def _reopen(conn, channel):
    _close(channel)
    return conn.channel()


def _close(channel) -> None:
    # A channel the broker already closed may raise on close.
    with contextlib.suppress(Exception):
        channel.close()


def snapshot(*, user, timeout: float | None = None) -> OpsSnapshot:
    """Return workers, queue depths and stale pending tasks, bounded by ``timeout`` per call."""
    timeout = app_settings.OPS_TIMEOUT if timeout is None else timeout
    stale_after = app_settings.PENDING_WARN_AFTER
    stale = selectors.stale_pending(user=user, older_than=stale_after)
    result = OpsSnapshot(
        broker="",
        stale_count=stale.count,
        stale_capped=stale.capped,
        stale_oldest=stale.oldest,
        stale_after=stale_after,
    )
    try:
        conn = broker_connection(timeout)
    except BrokerUnreachable as exc:
        result.broker, result.reachable, result.error = broker_label(), False, str(exc)
        return result
    try:
        result.broker = _label(conn)
        result.workers = inspect_workers(conn, timeout)
        consumed = {q for worker in result.workers for q in worker.queues}
        result.queues = [
            QueueDepth(
                q.name,
                q.depth,
                q.note,
                consumers=sum(q.name in worker.queues for worker in result.workers),
            )
            for q in queue_depths(conn, known_queues(consumed))
        ]
    except Exception as exc:  # the broker went away mid-way: say so, never a 500
        result.reachable, result.error = False, _describe(exc)
    finally:
        conn.release()
    _link_rows(user, result.workers)
    return result


def _link_rows(user, workers: list[Worker]) -> None:
    """Mark the active tasks that have a row this user may open, in one query."""
    ids = [t.id for w in workers for t in w.active]
    if not ids:
        return
    known = selectors.existing_task_ids(user=user, ids=ids)
    for index, worker in enumerate(workers):
        active = tuple(
            ActiveTask(t.id, t.name, t.started, has_row=t.id in known) for t in worker.active
        )
        workers[index] = Worker(**{**worker.__dict__, "active": active})


def queue_depths_or_none(timeout: float | None = None) -> list[QueueDepth] | None:
    """Return the depth of every known queue, or None when the broker is unreachable."""
    timeout = app_settings.OPS_TIMEOUT if timeout is None else timeout
    try:
        conn = broker_connection(timeout)
    except BrokerUnreachable:
        return None
    try:
        return queue_depths(conn, known_queues())
    except Exception:
        return None
    finally:
        conn.release()
