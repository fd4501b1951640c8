"""Celery signal handlers that keep the Task table in step with what the workers do.

Each handler is thin: it extracts the fields and calls a tracking write
(taskboard/worker/tracking.py). A handler never raises into Celery; a database that is
briefly unreachable is retried, and the reconciler converges whatever is still left.
A task's start may be held back and its "completed" write batched with others
(taskboard/worker/batching.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from celery import signals
from celery.exceptions import NotRegistered
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django.utils import timezone

from taskboard.conf import app_settings
from taskboard.worker import lease, logcapture, tracking
from taskboard.worker.batching import BatchedWrites, HeldStarts

logger = logging.getLogger(__name__)

DB_RETRY_DELAYS = (0.2, 0.5, 1, 2, 4)
# Housekeeping that would flood the dashboard with a row a minute (send_due: every
# few seconds; the launches it sends have their rows already), and the notifications'
# own deliveries, whose attempts their webhook's page shows.
UNTRACKED = frozenset(
    {
        "taskboard.reconcile",
        "taskboard.run_schedule",
        "taskboard.send_due",
        "taskboard.notify",
        "taskboard.notify_window",
        "taskboard.notify_windows",
        "taskboard.webhook_deliver",
    }
)


def tracked(name: str | None) -> bool:
    """Return whether a task of this name gets a row on the dashboard."""
    return bool(name) and name not in UNTRACKED and not name.startswith("celery.")


def _write(fn: Callable, **kwargs) -> bool | None:
    """Run a tracking write, retrying while the database is unreachable.

    Return True once written, False if the database stayed unreachable, None if the
    write failed otherwise (logged).
    """
    for delay in (*DB_RETRY_DELAYS, None):
        try:
            fn(**kwargs)
            return True
        except (OperationalError, InterfaceError) as exc:
            if delay is None:
                logger.error("giving up on %s for %s: %s", fn.__name__, _what(kwargs), exc)
                return False
            logger.warning(
                "database unavailable for %s, retrying in %ss: %s", fn.__name__, delay, exc
            )
            connection.close()
            time.sleep(delay)
        except Exception:
            logger.exception("tracking write %s failed for %s", fn.__name__, _what(kwargs))
            return None


def _what(kwargs: dict) -> str:
    if "completions" in kwargs:
        return ", ".join(str(done.task_id) for done in kwargs["completions"])
    return str(kwargs.get("task_id"))


def _write_held_start(start: dict) -> None:
    # The writing thread's own connection may have idled for hours: check it first.
    close_old_connections()
    _write(tracking.track_started, **start)


# Starts held back so that a short task writes start and end in one UPDATE
# (taskboard/worker/batching.py); 0 writes each start at once.
held_starts = HeldStarts(app_settings.RUNNING_WRITE_DELAY, _write_held_start)


def _write_completions(batch: list[tracking.Completion]) -> None:
    close_old_connections()  # as for a held start
    if _write(tracking.track_succeeded_many, completions=batch) is None and len(batch) > 1:
        # Refused for another reason than an outage: one bad row must not cost the
        # others their write.
        for done in batch:
            _write(tracking.track_succeeded_many, completions=[done])


# "Completed" writes queued and written together by a thread of each pool process
# (taskboard/worker/batching.py); 0 writes each at once.
batched = BatchedWrites(app_settings.TRACKING_BATCH_INTERVAL, _write_completions)


def _take_start(task_id) -> dict | None:
    """Return the held start of ``task_id`` to merge into its next write, or None."""
    return held_starts.take(task_id) if task_id else None


def _flush_start(task_id) -> None:
    """Write the held start of ``task_id`` now, before a write that does not merge it."""
    start = _take_start(task_id)
    if start is not None:
        _write(tracking.track_started, **start)


def _flush(task_id) -> None:
    """Write what waits for ``task_id`` (a queued end, a held start) before another write."""
    batched.flush(task_id)
    _flush_start(task_id)


@signals.after_task_publish.connect
def on_published(sender=None, headers=None, body=None, routing_key=None, **_):
    headers = headers or {}
    if headers.get(tracking.TRACKED_HEADER) or "id" not in headers:
        return
    if not tracked(headers.get("task")):
        return
    args, kwargs = (
        (body[0], body[1]) if isinstance(body, list | tuple) and len(body) >= 2 else ([], {})
    )
    # The chord callback rides in the message body's embed (protocol 2), beside the args.
    embed = body[2] if isinstance(body, list | tuple) and len(body) >= 3 else None
    _write(
        tracking.track_published,
        task_id=headers["id"],
        name=headers.get("task") or str(sender),
        args=args,
        kwargs=kwargs,
        queue=routing_key or "",
        links=tracking.workflow_links(
            task_id=headers["id"],
            root_id=headers.get("root_id"),
            parent_id=headers.get("parent_id"),
            group_id=headers.get("group"),
            chord=embed.get("chord") if isinstance(embed, dict) else None,
        ),
    )


def _finished(task_id) -> bool:
    try:
        return tracking.task_finished(task_id=task_id)
    except (OperationalError, InterfaceError):
        return False  # unknown: the lease still keeps two live runs apart


def _duplicate_run(task, task_id) -> bool:
    """Return whether this delivery repeats a run that is live or already finished."""
    if _finished(task_id):
        return True
    try:
        if not lease.claim_run(task):
            return True
    except Exception as exc:  # result backend down: run it (at least once)
        logger.warning("could not take the run lease of %s: %s", task_id, exc)
        return False
    # The claim may have waited for a live run that then finished: a run gives up
    # its lease only after its row is terminal, so look again now that we hold it.
    if _finished(task_id):
        lease.release_run(task)
        return True
    return False


@signals.task_prerun.connect
def on_prerun(sender=None, task_id=None, task=None, args=None, kwargs=None, **_):
    # No close_old_connections() here: Celery's Django fixup recycles the connection
    # (CELERY_DB_REUSE_MAX), and _write closes and retries a broken one; the health
    # check it would trigger cost a round trip per task.
    if getattr(task, "exclusive_run", False) and _duplicate_run(task, task_id):
        # A redelivered copy of a message whose run is alive or done: the task's
        # before_start drops it, and the row stays with the run that owns it.
        logger.warning("dropping duplicate delivery of %s[%s]", task.name, task_id)
        task.request.duplicate_run = True
        return
    if not tracked(task.name):
        return
    request = task.request
    delivery = request.delivery_info or {}
    start = {
        "task_id": task_id,
        "name": task.name,
        "args": args,
        "kwargs": kwargs,
        "worker": request.hostname or "",
        "retries": request.retries or 0,
        "queue": delivery.get("routing_key") or "",
        "started_at": timezone.now(),
        "links": tracking.workflow_links(
            task_id=task_id,
            root_id=request.root_id,
            parent_id=request.parent_id,
            group_id=request.group,
            chord=request.chord,
        ),
    }
    if held_starts.delay > 0:
        held_starts.hold(task_id, start)
    else:
        _write(tracking.track_started, **start)


@signals.task_postrun.connect
def on_postrun(sender=None, task_id=None, **_):
    # A run that ended without success or failure (ignored, cancelled by its user)
    # still has its start written.
    _flush_start(task_id)
    _end_log(task_id, getattr(sender, "name", None))


@signals.after_setup_task_logger.connect
def on_task_logger(**_):
    # Only worker processes set up Celery's task logger: capture lives there alone.
    logcapture.install()


def _store_log(*, task_id, chunk) -> None:
    if not logcapture.store_log(task_id=task_id, chunk=chunk):
        # Its row is not written yet (a held start, a queued end): write it first.
        _flush(task_id)
        logcapture.store_log(task_id=task_id, chunk=chunk)


def _end_log(task_id, name: str | None) -> None:
    """Send the ended run's last log lines and store its whole log with the row."""
    try:
        chunk = logcapture.finish(task_id)
    except Exception:
        logger.exception("task log of %s not finished", task_id)
        return
    if chunk is not None and (chunk.kept or chunk.dropped) and tracked(name):
        _write(_store_log, task_id=task_id, chunk=chunk)


def _batchable(task) -> bool:
    """Return whether the "completed" write of ``task`` may wait for the next batch.

    Not a redeliverable task's: it gives up its run lease once it returns, and a copy
    that waited for the lease then reads the row, which must be terminal by then. Not
    a task's whose result is not stored: were the process killed, the reconciler
    could not find it in the result backend.
    """
    return batched.interval > 0 and not (
        getattr(task, "exclusive_run", False) or task.ignore_result
    )


@signals.task_success.connect
def on_success(sender=None, result=None, **_):
    if not tracked(sender.name):
        return
    task_id = sender.request.id
    start = _take_start(task_id)
    if _batchable(sender):
        batched.put(task_id, tracking.completion(task_id=task_id, result=result, start=start))
    else:
        _write(tracking.track_succeeded, task_id=task_id, result=result, start=start)


@signals.task_failure.connect
def on_failure(sender=None, task_id=None, exception=None, einfo=None, **_):
    # Also sent in the worker's parent process when a child dies (WorkerLostError).
    if not tracked(getattr(sender, "name", None)):
        return
    batched.flush(task_id)
    _write(
        tracking.track_failed,
        task_id=task_id,
        exception=exception,
        traceback=getattr(einfo, "traceback", "") or "",
        start=_take_start(task_id),
        name=getattr(sender, "name", None),
    )


@signals.task_unknown.connect
def on_unknown(sender=None, name=None, id=None, **_):  # noqa: A002 - Celery's keyword
    # A task this worker does not know (a deploy not rolled out to it yet): Celery
    # rejects the message for good and stores NotRegistered, so the row says so now
    # instead of staying pending until the reconciler gives up on it.
    if tracked(name):
        _write(
            tracking.track_failed,
            task_id=id,
            exception=NotRegistered(name),
            traceback="",
            name=name,
        )


@signals.task_revoked.connect
def on_revoked(sender=None, request=None, terminated=False, expired=False, **_):
    reason = "Expired" if expired else "Terminated" if terminated else "Revoked"
    _flush(request.id)
    _write(tracking.track_revoked, task_id=request.id, reason=reason)
    if terminated:
        # Its process was killed mid-run: keep what its log sent before.
        _write(logcapture.store_from_backend, task_ids=[request.id])


@signals.task_retry.connect
def on_retry(sender=None, request=None, reason=None, **_):
    _flush(request.id)
    _write(tracking.track_retrying, task_id=request.id, reason=str(reason))


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def on_shutdown(**_):
    # A pool process that exits (warm shutdown, max tasks per child) or a solo worker
    # writes what it still has queued; only a killed one leaves it to the reconciler.
    batched.flush()
