"""Fault 7: a burst of launches through the service, run by two worker processes."""

from __future__ import annotations

import re
import time

import pytest

from taskboard import services
from taskboard.models import IN_FLIGHT, Task
from tests.conftest import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
BURST = 5000
SUCCEEDED = re.compile(r"Task demo\.quick\[([0-9a-f-]{36})\] succeeded")


@pytest.mark.usefixtures("unthrottled")
@pytest.mark.parametrize("stack", ["redis", "amqp"], indirect=True)
def test_burst_every_launch_runs_once_and_finishes(stack, user):
    workers = [stack.worker(name, concurrency=2) for name in ("burst-a", "burst-b")]
    started = time.monotonic()
    ids = {
        str(services.task_launch(user=user, name="demo.quick", params={"x": i, "y": 1}).pk)
        for i in range(BURST)
    }
    launched = time.monotonic() - started
    wait_for(
        lambda: not Task.objects.filter(status__in=IN_FLIGHT).exists(),
        timeout=240,
        interval=1,
        message="every row to finish",
    )
    print(
        f"\nFIGURE burst {BURST} on {stack.broker}: launched in {launched:.1f}s, "
        f"all finished in {time.monotonic() - started:.1f}s"
    )
    for worker in workers:
        worker.stop()
    ran = [m for w in workers for m in SUCCEEDED.findall(w.log.read_text(errors="replace"))]
    rows = list(Task.objects.values_list("id", "status", "kwargs", "result", "worker"))

    assert len(rows) == BURST
    assert {str(row[0]) for row in rows} == ids
    assert {row[1] for row in rows} == {"completed"}
    assert all(row[3] == row[2]["x"] + 1 for row in rows)
    assert len(ran) == BURST
    assert set(ran) == ids
    assert all(any(row[4].startswith(p) for row in rows) for p in ("burst-a-", "burst-b-"))
