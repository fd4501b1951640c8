"""The expected time left of a running task, from its own progress (taskboard/eta.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from taskboard.eta import time_left
from taskboard.templatetags.taskboard_table import eta

START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def left(current, total, *, after: float, started=START):
    return time_left(
        started_at=started, current=current, total=total, now=START + timedelta(seconds=after)
    )


def test_no_progress_says_nothing():
    assert left(None, None, after=3) is None
    assert left(None, 10, after=3) is None


def test_progress_3_of_10_after_3_s_is_about_7_s():
    assert left(3, 10, after=3) == timedelta(seconds=7)


def test_the_estimate_uses_the_tasks_own_rate():
    # A 12 s job at 6 of 12 after 6 s: 6 s left, whatever other runs took.
    assert left(6, 12, after=6) == timedelta(seconds=6)
    assert left(1, 4, after=10) == timedelta(seconds=30)


def test_nothing_done_yet_says_nothing():
    assert left(0, 10, after=3) is None


@pytest.mark.parametrize(("current", "total"), [(10, 10), (12, 10)])
def test_all_done_is_almost_done(current, total):
    assert left(current, total, after=3) == timedelta(0)
    assert eta(left(current, total, after=3)) == "almost done"


def test_no_total_says_nothing():
    assert left(3, 0, after=3) is None


def test_never_negative_however_long_it_ran():
    for after in (3, 300, 30_000):
        assert left(9, 10, after=after) > timedelta(0)


def test_a_start_in_the_future_or_unknown_says_nothing():
    assert left(3, 10, after=-5) is None
    assert time_left(started_at=None, current=3, total=10, now=START) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (20.4, "about 20 s left"),
        (1.2, "about 1 s left"),
        (150, "about 2 min left"),
        (7200, "about 2 h left"),
        (0.3, "almost done"),
        (0, "almost done"),
    ],
)
def test_eta_reads_briefly_never_zero(seconds, text):
    assert eta(timedelta(seconds=seconds)) == text
