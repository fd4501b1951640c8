"""The expected time left of a running task, from the progress it reports itself.

A task's name says little about how long this run takes (its arguments do), so the
estimate is the task's own rate so far: the time since it started per step done,
times the steps left. Without progress it says nothing rather than guess.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def time_left(
    *, started_at: datetime | None, current: int | None, total: int | None, now: datetime
) -> timedelta | None:
    """Return the time ``current`` of ``total`` steps done since ``started_at`` leaves.

    None when nothing can be said: no progress, nothing done yet, no start or a start
    after ``now`` (clocks disagree). ``timedelta(0)`` when every step is done: the task
    is finishing. Never negative.
    """
    if started_at is None or current is None or not total or current <= 0:
        return None
    if current >= total:
        return timedelta(0)
    elapsed = now - started_at
    if elapsed <= timedelta(0):
        return None
    return elapsed / current * (total - current)
