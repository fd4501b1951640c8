"""The status -> badge mapping and the merge of stored and live state."""

from __future__ import annotations

import pytest

from taskboard.live import Badge, badge


def meta(status, result=None):
    return {"status": status, "result": result}


@pytest.mark.parametrize(
    "celery_state,expected",
    [
        ("PENDING", "pending"),
        ("RECEIVED", "pending"),
        ("STARTED", "running"),
        ("RETRY", "running"),
        ("SUCCESS", "completed"),
        ("FAILURE", "failed"),
        ("REVOKED", "cancelled"),
    ],
)
def test_celery_state_maps_to_status(celery_state, expected):
    assert badge("pending", meta(celery_state)).status == expected


def test_received_is_pending_queued():
    assert badge("pending", meta("RECEIVED")) == Badge("pending", detail="queued")


def test_retry_names_the_attempt_that_failed_not_one_to_come():
    shown = badge("running", meta("RETRY"), attempts=2)
    assert shown.status == "running"
    assert shown.detail == "retrying, attempt 2 failed"


def test_progress_meta_gives_a_bar():
    shown = badge("running", meta("PROGRESS", {"current": 3, "total": 12, "message": "x"}))
    assert shown.status == "running"
    assert shown.percent == 25
    assert shown.message == "x"


def test_progress_with_garbage_meta_is_plain_running():
    assert badge("running", meta("PROGRESS", {"current": "a", "total": None})) == Badge("running")


def test_progress_with_zero_total_has_no_percent():
    assert badge("running", meta("PROGRESS", {"current": 0, "total": 0})).percent is None


@pytest.mark.parametrize("stored", ["completed", "failed", "cancelled"])
@pytest.mark.parametrize("live", [None, "PENDING", "STARTED", "PROGRESS", "SUCCESS", "FAILURE"])
def test_terminal_stored_state_always_wins(stored, live):
    assert badge(stored, meta(live) if live else None).status == stored


def test_expired_result_does_not_turn_running_back_to_pending():
    # No key in the backend (expired or not written yet) reads as PENDING in
    # Celery; the stored state is the stronger truth.
    assert badge("running", None).status == "running"
    assert badge("running", meta("PENDING")).status == "running"


def test_live_terminal_state_beats_stale_stored_state():
    assert badge("running", meta("SUCCESS")).status == "completed"


def test_nobody_knows_the_id_is_unknown_not_pending():
    shown = badge(None, None)
    assert shown.status == "unknown"
    assert shown.label == "Unknown"


def test_backend_only_knowledge_is_shown():
    assert badge(None, meta("STARTED")).status == "running"


def test_badge_key_changes_with_progress():
    first = badge("running", meta("PROGRESS", {"current": 1, "total": 10}))
    second = badge("running", meta("PROGRESS", {"current": 2, "total": 10}))
    assert first.key != second.key
    assert badge("running", None).key != badge("completed", None).key
