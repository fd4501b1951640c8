"""Fault 5: the database is unreachable from a worker for a while (through a proxy we cut)."""

from __future__ import annotations

import pytest

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


def test_database_outage_during_state_write_is_retried(stack, db_proxy, user):
    worker = stack.worker("db-cut", concurrency=1, database_url=database_url_via(db_proxy.port))
    task = services.task_launch(user=user, name="demo.long", params={"seconds": 2, "steps": 2})
    running(task.pk)
    db_proxy.cut()
    log_says(worker, "database unavailable for track_succeeded")
    assert Task.objects.get(pk=task.pk).status == "running"
    db_proxy.mend()

    row = finished(task.pk, timeout=30)

    assert row.status == "completed"
    assert row.result == {"seconds": 2, "steps": 2}


def test_database_outage_beyond_retries_is_reconciled(stack, db_proxy, user, settings):
    worker = stack.worker("db-gone", concurrency=1, database_url=database_url_via(db_proxy.port))
    task = services.task_launch(user=user, name="demo.long", params={"seconds": 1, "steps": 1})
    running(task.pk)
    db_proxy.cut()
    log_says(worker, "giving up on track_succeeded")
    db_proxy.mend()
    assert Task.objects.get(pk=task.pk).status == "running"
    settings.CELERY_TASK_TIME_LIMIT = 0
    settings.TASKBOARD_STALE_MARGIN = 0

    services.reconcile()

    row = Task.objects.get(pk=task.pk)
    assert row.status == "completed"
    assert row.result == {"seconds": 1, "steps": 1}
