"""The bench's worker app: the product's Celery app, tracking switchable for the overhead run.

`BENCH_TRACKING=0` disconnects the tasks.worker.signals handlers in this worker only, to
measure what tracking costs; the product never reads this variable.
"""

from __future__ import annotations

import os
import time

import django
from celery import signals
from celery.utils.log import get_task_logger

from web.celery import app

__all__ = ["app"]

django.setup()

# BENCH_DB_REUSE_MAX: try Celery's Django fixup keeping database connections across
# tasks (it closes them around every task unless CELERY_DB_REUSE_MAX is set).
if os.environ.get("BENCH_DB_REUSE_MAX"):
    app.conf.CELERY_DB_REUSE_MAX = int(os.environ["BENCH_DB_REUSE_MAX"])


# BENCH_HEALTH_CHECK_PER_TASK: the prerun connection check the tracking used to make
# (close_old_connections(), whose health check is a SELECT 1 before the next query).
if os.environ.get("BENCH_HEALTH_CHECK_PER_TASK") == "1":
    from django.db import close_old_connections

    @signals.task_prerun.connect(weak=False)
    def _health_check_per_task(**_) -> None:
        close_old_connections()


# The log-capture run (bench/tasklog.py): lines at WARNING, the level bench workers
# log at (procs.worker), so that every line reaches the capture as INFO does on a
# worker at the default level.
task_logger = get_task_logger("bench.chatty")


@app.task(name="bench.chatty")
def chatty(lines: int, interval: float) -> int:
    for number in range(1, lines + 1):
        task_logger.warning("bench line %d of %d: fetched a page, parsed 42 records", number, lines)
        if interval:
            time.sleep(interval)
    return lines


@signals.worker_ready.connect
def _announce_ready(**_) -> None:
    print("bench-worker-ready", flush=True)


if os.environ.get("BENCH_TRACKING", "1") == "0":
    from celery import signals as celery_signals
    from celery.utils.dispatch import Signal

    from taskboard.worker import signals as tracking

    # Every function of tasks.worker.signals off every Celery signal, whatever their names.
    handlers = [
        f for f in vars(tracking).values() if getattr(f, "__module__", "") == tracking.__name__
    ]
    for signal in vars(celery_signals).values():
        if isinstance(signal, Signal):
            for handler in handlers:
                if callable(handler):
                    signal.disconnect(handler)
