"""What the notification check costs the tracking writes, with nobody subscribed.

``python -m bench.notify_overhead`` (Django settings and a migrated database from the
environment; see docs/performance.md, "Notifications"). Writes the same batches of
"completed" writes and single "failed" writes with the check as shipped and with it
replaced by a no-op, alternating, in one run; prints queries per batch and the ratio.
"""

from __future__ import annotations

import os
import statistics
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from taskboard.models import RUNNING, Task  # noqa: E402
from taskboard.worker import interest, tracking  # noqa: E402

BATCH, ROUNDS = 200, 15


def _rows(n: int) -> list:
    tasks = [Task(name="bench.notify", status=RUNNING) for _ in range(n)]
    Task.objects.bulk_create(tasks)
    return [t.pk for t in tasks]


def _completed(ids: list) -> float:
    batch = [tracking.completion(task_id=i, result=1) for i in ids]
    start = time.perf_counter()
    tracking.track_succeeded_many(completions=batch)
    return time.perf_counter() - start


def _failed(ids: list) -> float:
    start = time.perf_counter()
    for i in ids:
        tracking.track_failed(task_id=i, exception=ValueError("x"), traceback="", name="bench.x")
    return time.perf_counter() - start


def main() -> None:
    # The shipped default (the test settings lower it), so that the run sees the reload
    # as a worker does: once per few seconds, not once per round.
    settings.TASKBOARD_NOTIFY_REFRESH_SECONDS = 5.0
    interest.interest.forget()
    shipped = interest.finished
    noop = lambda *args, **kwargs: None  # noqa: E731
    times: dict[str, list[float]] = {"on": [], "off": [], "fail on": [], "fail off": []}
    queries = {}
    try:
        for round_ in range(ROUNDS):
            for mode in ("on", "off") if round_ % 2 else ("off", "on"):
                interest.finished = shipped if mode == "on" else noop
                ids = _rows(BATCH)
                with CaptureQueriesContext(connection) as captured:
                    times[mode].append(_completed(ids))
                queries[mode] = len(captured)
                times[f"fail {mode}"].append(_failed(_rows(50)))
    finally:
        interest.finished = shipped
        Task.objects.filter(name="bench.notify").delete()
    median = {k: statistics.median(v) for k, v in times.items()}
    ids = [t.pk for t in (Task(name="bench.notify") for _ in range(BATCH))]
    interest.interest.wants(ids[0], "completed")  # loaded, as in a running worker
    start = time.perf_counter()
    for _ in range(100):
        shipped(ids, "completed")
    check = (time.perf_counter() - start) / 100
    print(f"completed batch of {BATCH}: queries on={queries['on']} off={queries['off']}")
    print(
        f"completed batch: on {median['on'] * 1000:.1f} ms, off {median['off'] * 1000:.1f} ms,"
        f" on/off {median['on'] / median['off']:.3f}"
    )
    print(
        f"the check alone, batch of {BATCH}: {check * 1e6:.0f} µs,"
        f" {check / median['off']:.2%} of the batch write"
    )
    print(
        f"50 failed writes: on {median['fail on'] * 1000:.1f} ms,"
        f" off {median['fail off'] * 1000:.1f} ms,"
        f" on/off {median['fail on'] / median['fail off']:.3f}"
    )


if __name__ == "__main__":
    main()
