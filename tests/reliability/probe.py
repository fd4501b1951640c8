"""Instrumented tasks for the fault tests: each run counts itself in Redis before it works.

Workers load this module with ``-I tests.reliability.probe``; the counter lives
in the result backend (the private Redis of the test), so a test can tell
exactly how many times a task body started, whatever happened to the worker.
"""

from __future__ import annotations

import time

from celery import shared_task

from taskboard import report_progress
from taskboard.tasks import RedeliverableTask


def runs_key(task_id) -> str:
    return f"probe-runs:{task_id}"


def _count_run(task) -> None:
    task.backend.client.incr(runs_key(task.request.id))


@shared_task(bind=True, name="probe.sleep")
def sleep(self, seconds: float = 1.0) -> dict:
    _count_run(self)
    time.sleep(seconds)
    return {"slept": seconds}


@shared_task(bind=True, name="probe.sleep_acks_late", acks_late=True)
def sleep_acks_late(self, seconds: float = 1.0) -> dict:
    _count_run(self)
    time.sleep(seconds)
    return {"slept": seconds}


@shared_task(bind=True, base=RedeliverableTask, name="probe.sleep_redeliverable")
def sleep_redeliverable(self, seconds: float = 1.0) -> dict:
    _count_run(self)
    time.sleep(seconds)
    return {"slept": seconds}


@shared_task(bind=True, name="probe.progress")
def progress(self, steps: int = 20, pause: float = 0.25) -> dict:
    """Report progress every ``pause`` seconds, as a long task does, then succeed."""
    _count_run(self)
    for step in range(steps):
        report_progress(step, steps, f"step {step + 1} of {steps}")
        time.sleep(pause)
    return {"steps": steps}
