"""The duplicate-delivery check of redeliverable tasks, without a worker."""

from __future__ import annotations

from taskboard.worker import lease
from taskboard.worker import signals as tracking
from taskboard.worker import tracking as writes


def _stub(monkeypatch, *, finished, claimed=True):
    """Make task_finished answer ``finished`` in turn and record lease calls."""
    answers = iter(finished)
    calls = []
    monkeypatch.setattr(writes, "task_finished", lambda *, task_id: next(answers))
    monkeypatch.setattr(lease, "claim_run", lambda task: calls.append("claim") or claimed)
    monkeypatch.setattr(lease, "release_run", lambda task: calls.append("release"))
    return calls


def test_a_finished_row_drops_the_copy_without_taking_the_lease(monkeypatch):
    calls = _stub(monkeypatch, finished=[True])
    assert tracking._duplicate_run(object(), "t1") is True
    assert calls == []


def test_a_live_holder_drops_the_copy(monkeypatch):
    calls = _stub(monkeypatch, finished=[False], claimed=False)
    assert tracking._duplicate_run(object(), "t1") is True
    assert calls == ["claim"]


def test_a_run_that_finished_while_the_copy_waited_drops_it_and_frees_the_lease(monkeypatch):
    # The holder finished (row terminal, lease released) while the copy waited to claim.
    calls = _stub(monkeypatch, finished=[False, True])
    assert tracking._duplicate_run(object(), "t1") is True
    assert calls == ["claim", "release"]


def test_a_dead_holder_lets_the_copy_run(monkeypatch):
    calls = _stub(monkeypatch, finished=[False, False])
    assert tracking._duplicate_run(object(), "t1") is False
    assert calls == ["claim"]
