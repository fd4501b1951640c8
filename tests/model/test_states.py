"""The state machine: every allowed and refused transition, versions, and the race."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from taskboard import states
from taskboard.models import Status
from tests.factories import TaskFactory

ALL = Status.values
ALLOWED = {
    ("scheduled", "pending"),
    ("scheduled", "cancelled"),
    ("pending", "running"),
    ("pending", "completed"),
    ("pending", "failed"),
    ("pending", "cancelled"),
    ("running", "running"),
    ("running", "completed"),
    ("running", "failed"),
    ("running", "cancelled"),
}
CASES = [(source, target) for source in ALL for target in ALL if target != "scheduled"]


@pytest.mark.parametrize("source,target", [(s, t) for s in ALL for t in ALL])
def test_can_transition_table(source, target):
    assert states.can_transition(source, target) is ((source, target) in ALLOWED)


@pytest.mark.django_db
@pytest.mark.parametrize("source,target", CASES)
def test_transition_applies_only_when_allowed(source, target):
    task = TaskFactory(status=source)
    moved = states.transition(task.pk, target)
    task.refresh_from_db()
    if (source, target) in ALLOWED:
        assert moved is True
        assert task.status == target
        assert task.version == 2
    else:
        assert moved is False
        assert task.status == source
        assert task.version == 1


def test_nothing_moves_into_scheduled():
    # A row is created Scheduled (a launch held back) or not at all; nothing goes back.
    with pytest.raises(ValueError):
        states.transition("00000000-0000-0000-0000-000000000000", "scheduled")


def test_only_a_scheduled_row_moves_into_pending():
    assert [s for s in ALL if states.can_transition(s, "pending")] == ["scheduled"]


@pytest.mark.django_db
def test_sending_a_scheduled_row_bumps_its_version_once():
    task = TaskFactory(status="scheduled")
    assert states.transition(task.pk, "pending") is True
    # The second sender (another beat, a "send now") matches nothing.
    assert states.transition(task.pk, "pending") is False
    task.refresh_from_db()
    assert (task.status, task.version, task.finished_at) == ("pending", 2, None)


@pytest.mark.django_db
def test_terminal_transition_sets_finished_at():
    task = TaskFactory(running=True)
    assert states.transition(task.pk, "completed", result=3)
    task.refresh_from_db()
    assert task.finished_at is not None
    assert task.result == 3


@pytest.mark.django_db
def test_every_write_bumps_version():
    task = TaskFactory()
    states.transition(task.pk, "running")
    states.touch(task.pk, cancel_requested=True)
    states.transition(task.pk, "failed")
    task.refresh_from_db()
    assert task.version == 4
    assert states.touch(task.pk, worker="w") is False  # terminal rows are frozen
    task.refresh_from_db()
    assert task.version == 4


@pytest.mark.django_db
def test_transition_of_missing_row_is_refused():
    assert states.transition("00000000-0000-0000-0000-000000000000", "running") is False


@pytest.mark.django_db
def test_late_weaker_signal_cannot_regress():
    task = TaskFactory(completed=True, version=5)
    assert states.transition(task.pk, "running") is False
    assert states.transition(task.pk, "failed") is False
    task.refresh_from_db()
    assert (task.status, task.version) == ("completed", 5)


@pytest.mark.integration  # CI=true fails, not skips, without PostgreSQL
@pytest.mark.django_db(transaction=True)
def test_race_two_writers_one_terminal_wins():
    """Two threads write different terminal states at once: exactly one wins, no regress."""
    if connection.vendor == "sqlite":
        pytest.skip("the race needs a server database (SQLite serialises writers)")
    for _ in range(20):
        task = TaskFactory(running=True)
        barrier = threading.Barrier(3)
        results = {}

        def write(target, task_id=task.pk, barrier=barrier, results=results):
            barrier.wait()
            results[target] = states.transition(task_id, target)
            connection.close()

        threads = [
            threading.Thread(target=write, args=(t,)) for t in ("completed", "failed", "running")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        task.refresh_from_db()
        terminal_wins = [t for t in ("completed", "failed") if results[t]]
        assert len(terminal_wins) == 1
        assert task.status == terminal_wins[0]
        assert task.version == 1 + sum(results.values())


def test_cap_result_small_value_kept():
    value, cut = states.cap_result({"a": [1, 2]})
    assert value == {"a": [1, 2]} and cut is False


def test_cap_result_large_value_cut(settings):
    settings.TASKBOARD_RESULT_MAX_BYTES = 100
    value, cut = states.cap_result("x" * 1000)
    assert cut is True
    assert value["truncated"] is True
    assert len(value["preview"]) < 200


def test_cap_result_non_json_value_is_repr():
    value, cut = states.cap_result({1, 2})
    assert value == "{1, 2}" and cut is False


def test_cap_text(settings):
    assert states.cap_text("short", 100) == "short"
    capped = states.cap_text("é" * 100, 51)
    assert capped.startswith("é" * 25)
    assert "truncated" in capped


@pytest.mark.django_db
def test_only_from_narrows_the_sources():
    running = TaskFactory(running=True)
    pending = TaskFactory()
    assert states.transition(running.pk, "cancelled", only_from=("pending",)) is False
    assert states.transition(pending.pk, "cancelled", only_from=("pending",)) is True
    running.refresh_from_db()
    assert running.status == "running"


def test_only_from_cannot_widen_the_sources():
    with pytest.raises(ValueError):
        states.transition("00000000-0000-0000-0000-000000000000", "running", only_from=("failed",))
