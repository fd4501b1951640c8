"""Taskboard's own Celery tasks: export, purge, bulk, retention, reconcile, schedules, send_due.

Thin wrappers that call domain functions. Every installation has them: the host's
workers run them (Celery's autodiscovery finds this module) and its beat schedules
retention and reconcile (``taskboard.beat_schedule()``).
"""

from __future__ import annotations

from celery import Task, shared_task
from celery.exceptions import Ignore

from taskboard import forms, maintenance
from taskboard.registry import launchable
from taskboard.services import bulk_run, purge_older_than, retention_purge
from taskboard.services import reconcile as run
from taskboard.services import send_due as send_due_rows
from taskboard.services.notify import (
    notify_finished,
    send_due_windows,
    send_window,
    webhook_redeliver,
)
from taskboard.services.schedules import RUN_TASK as RUN_SCHEDULE
from taskboard.services.schedules import schedule_run
from taskboard.worker.lease import release_run


class RedeliverableTask(Task):
    """Base for idempotent tasks: run again if their worker dies, never twice at once.

    The message is acknowledged only after the task finished (``acks_late``) and
    put back when the pool process dies (``reject_on_worker_lost``), so a lost
    run is run again. A copy of the message delivered while the first run is
    still alive (Redis redelivers unacked messages after the visibility timeout)
    is dropped: the ``task_prerun`` handler takes a run lease first and marks
    the copy, and ``before_start`` ignores it. See docs/operations.md.
    """

    acks_late = True
    reject_on_worker_lost = True
    exclusive_run = True

    def before_start(self, task_id, args, kwargs) -> None:
        if getattr(self.request, "duplicate_run", False):
            raise Ignore()

    def on_retry(self, exc, task_id, args, kwargs, einfo) -> None:
        release_run(self)

    def after_return(self, status, retval, task_id, args, kwargs, einfo) -> None:
        release_run(self)


@launchable(
    form=forms.ExportForm,
    title="Export task history (CSV)",
    description="Writes the tasks you can see, filtered, to a CSV file you can download.",
)
# Idempotent (it rewrites the same file): run again if its worker dies.
@shared_task(bind=True, base=RedeliverableTask, name="taskboard.export_csv")
def export_csv(self, status: str = "", name: str = "", days: int = 30) -> dict:
    return maintenance.export_csv(task_id=self.request.id, status=status, name=name, days=days)


@launchable(
    form=forms.PurgeForm,
    title="Purge old records",
    description="Deletes finished task records older than N days, in batches.",
    staff_only=True,
)
# Idempotent (deleting what is already gone is a no-op): run again if its worker dies.
@shared_task(bind=True, base=RedeliverableTask, name="taskboard.purge")
def purge(self, days: int = 90) -> dict:
    return purge_older_than(days=days, job_id=self.request.id)


# Large bulk actions (more than TASKBOARD_BULK_INLINE_MAX rows) run here, with their
# own row and progress; the actor's permissions are checked again for each batch.
# Redeliverable: a rerun resumes after the last finished batch.
@shared_task(bind=True, base=RedeliverableTask, name="taskboard.bulk_action")
def bulk_action(self, bulk_id: str) -> dict:
    return bulk_run(bulk_id=bulk_id)


@shared_task(name="taskboard.retention")
def retention() -> dict:
    return retention_purge()


@shared_task(name="taskboard.reconcile", ignore_result=True)
def reconcile() -> dict:
    return run()


# Beat's sender of launches held back until their time (docs/architecture.md, "Launch
# later"): the rows wait in the database, never as an ETA in a worker's memory.
@shared_task(name="taskboard.send_due", ignore_result=True)
def send_due() -> dict:
    return send_due_rows()


# Beat's only periodic call for schedules (django-celery-beat's PeriodicTask): checks
# the schedule again and launches its task as an ordinary row; never raises for a
# broken schedule (taskboard/services/schedules.py).
@shared_task(name=RUN_SCHEDULE, ignore_result=True)
def run_schedule(schedule_id: int) -> str:
    return schedule_run(schedule_id=schedule_id)


# Notifications (taskboard/services/notify.py): enqueued by the tracking writes when
# someone could care (taskboard/worker/interest.py); sending happens only here.
@shared_task(name="taskboard.notify", ignore_result=True)
def notify(task_id: str) -> dict:
    return notify_finished(task_id=task_id)


# A failure group's window is sent when it closes, by a delayed task; beat's sweep
# sends any whose delayed task was lost.
@shared_task(name="taskboard.notify_window", ignore_result=True)
def notify_window(key: str) -> dict:
    return send_window(key=key)


@shared_task(name="taskboard.notify_windows", ignore_result=True)
def notify_windows() -> int:
    return send_due_windows()


# One attempt per run; a failed one enqueues the next with backoff, up to
# TASKBOARD_WEBHOOK_ATTEMPTS, each recorded on the webhook's page.
@shared_task(name="taskboard.webhook_deliver", ignore_result=True)
def webhook_deliver(webhook_id: int, delivery: str, body: str, attempt: int) -> bool:
    return webhook_redeliver(webhook_id=webhook_id, delivery=delivery, body=body, attempt=attempt)
