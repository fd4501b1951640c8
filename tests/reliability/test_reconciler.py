"""The reconciler on real workers: failures beat cannot decode as a dict, a killed worker beside.

A failure whose database write was lost (the worker's database cut away) is left
in the result backend only; the reconciler must converge it from there whatever
Celery decodes it into, and one such row must never stop the rest of the batch.
"""

from __future__ import annotations

import sys
import uuid

import pytest
from celery import current_app

from taskboard import services
from taskboard.models import Task
from tests.conftest import finished, wait_for
from tests.reliability.conftest import database_url_via, running

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def log_says(worker, text: str, timeout: float = 30) -> None:
    wait_for(lambda: text in worker.log.read_text(errors="replace"), timeout, message=text)


def test_lost_failure_write_of_an_unimportable_class_and_a_killed_worker_both_converge(
    stack, db_proxy, user, settings
):
    # This process plays beat: it must not be able to import the failure's class.
    assert "tests.reliability.probe_remote" not in sys.modules
    cut_off = stack.worker("db-gone", concurrency=1, database_url=database_url_via(db_proxy.port))
    other_queue = f"{stack.queue}-doomed"
    doomed = stack.worker("doomed", concurrency=1, CELERY_TASK_DEFAULT_QUEUE=other_queue)
    long_id = current_app.send_task(
        "demo.long", kwargs={"seconds": 30, "steps": 30}, queue=other_queue
    ).id
    failing_id = current_app.send_task(
        "probe.fail_remote", kwargs={"seconds": 1.5, "message": "remote broke"}
    ).id
    running(long_id)
    running(failing_id)
    doomed.kill()
    db_proxy.cut()
    log_says(cut_off, "giving up on track_failed")
    db_proxy.mend()
    assert set(Task.objects.filter(pk__in=[long_id, failing_id]).values_list("status", flat=True))
    assert {row.status for row in Task.objects.filter(pk__in=[long_id, failing_id])} == {"running"}
    settings.CELERY_TASK_TIME_LIMIT = 0
    settings.TASKBOARD_STALE_MARGIN = 0

    counts = services.reconcile()

    failed = Task.objects.get(pk=failing_id)
    assert (failed.status, failed.error_type, failed.error_message) == (
        "failed",
        "RemoteOnlyFailure",
        "remote broke",
    )
    assert "fail_remote" in failed.traceback
    lost = Task.objects.get(pk=long_id)
    assert (lost.status, lost.error_type) == ("failed", "Lost")
    assert counts["failed"] == 1 and counts["lost"] == 1 and counts["skipped"] == 0


def test_task_the_workers_do_not_know_fails_at_once_and_others_go_on(stack, user):
    stack.worker("old-deploy", concurrency=1)
    unknown = current_app.send_task(f"probe.not_deployed_{uuid.uuid4().hex[:6]}").id
    after = stack.send_probe("sleep", seconds=0.1)

    row = finished(unknown)

    assert (row.status, row.error_type) == ("failed", "NotRegistered")
    assert "not_deployed" in row.error_message
    assert finished(after).status == "completed"
    # Nothing is left for the reconciler, and it does not trip on the stored failure.
    assert services.reconcile(now=row.finished_at)["skipped"] == 0
