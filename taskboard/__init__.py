"""Taskboard: launch Celery tasks from a Django site and watch them finish.

What a task author imports, from the package root::

    from taskboard import launchable, report_progress

- ``launchable(form=…, title=…, description=…, staff_only=…, result_template=…)``:
  registers a Celery task in the launch catalog (taskboard/registry.py).
- ``report_progress(current, total, message)``: the running task's progress bar;
  it raises ``TaskCancelled`` once the user asked the task to stop.
- ``cancel_requested()``: whether the running task was asked to stop.
- ``RedeliverableTask``: a base class for idempotent tasks that run again when their
  worker dies, never twice at once.
- ``beat_schedule()``: the periodic tasks (reconcile, retention) for a host's beat.

The names resolve on first use: Django imports this package while it loads the
installed apps, before any model may be imported, so nothing is imported here.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "launchable": "taskboard.registry",
    "report_progress": "taskboard.worker.progress",
    "cancel_requested": "taskboard.worker.progress",
    "TaskCancelled": "taskboard.worker.progress",
    "RedeliverableTask": "taskboard.tasks",
    "beat_schedule": "taskboard.conf",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    try:
        module = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'taskboard' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)
