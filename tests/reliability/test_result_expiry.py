"""Fault 4: results expire from Redis; the database keeps every finished row as it was."""

from __future__ import annotations

import uuid

import pytest
from celery import current_app

from taskboard import services
from taskboard.live import badge, badges_for, live_metas
from taskboard.models import Task
from tests.conftest import finished, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def expired(stack, user, settings):
    """A completed and a failed task whose Redis results have expired."""
    stack.worker("expiry", concurrency=1, CELERY_RESULT_EXPIRES="2")
    ok = services.task_launch(user=user, name="demo.quick", params={"x": 2, "y": 3})
    bad = services.task_launch(user=user, name="demo.fail", params={"message": "boom"})
    ids = [finished(ok.pk).pk, finished(bad.pk).pk]
    keys = [current_app.backend.get_key_for_task(str(i)) for i in ids]
    wait_for(lambda: stack.results.exists(*keys) == 0, timeout=30, message="results to expire")
    settings.CELERY_TASK_TIME_LIMIT = 0
    settings.TASKBOARD_STALE_MARGIN = 0
    settings.TASKBOARD_PENDING_STALE_AFTER = 0
    services.reconcile()
    return Task.objects.get(pk=ok.pk), Task.objects.get(pk=bad.pk)


def test_expired_results_read_as_unknown_live(expired):
    ok, bad = expired
    assert live_metas([ok.pk, bad.pk]) == {str(ok.pk): None, str(bad.pk): None}


def test_expired_completed_row_keeps_state_and_result(expired):
    ok, _ = expired
    assert (ok.status, ok.result, ok.error_type) == ("completed", 5, "")


def test_expired_failed_row_keeps_state_and_error(expired):
    _, bad = expired
    assert (bad.status, bad.error_type) == ("failed", "DemoFailure")
    assert "boom" in bad.error_message
    assert "Traceback" in bad.traceback


def test_expired_rows_keep_their_terminal_badges(expired):
    ok, bad = expired
    badges, available = badges_for([ok, bad])
    assert available is True
    assert badges[str(ok.pk)].status == "completed"
    assert badges[str(bad.pk)].status == "failed"


def test_id_nobody_knows_is_unknown(stack):
    meta = live_metas([uuid.uuid4()])
    assert list(meta.values()) == [None]
    assert badge(None, None).status == "unknown"
