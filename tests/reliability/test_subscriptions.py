"""Fault 8: launching leaves no Redis pub/sub subscription behind in the web process."""

from __future__ import annotations

import pytest
from celery import current_app
from celery.result import AsyncResult

from taskboard import services
from taskboard.live import live_metas
from tests.conftest import finished
from tests.reliability.conftest import free_port, point_app

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
LAUNCHES = 1000


def subscriptions(stack) -> int:
    """Return the result channels subscribed on the server and by this process."""
    channels = stack.results.pubsub_channels("celery-task-meta-*")
    return len(channels) + len(current_app.backend.result_consumer.subscribed_to)


@pytest.mark.usefixtures("unthrottled")
def test_launches_leave_no_subscriptions(stack, user):
    for i in range(LAUNCHES):
        services.task_launch(user=user, name="demo.quick", params={"x": i, "y": 0})

    count = subscriptions(stack)
    print(f"\nFIGURE subscriptions after {LAUNCHES} launches: {count}")
    assert count == 0


def test_refused_launches_leave_no_subscriptions(stack, user):
    # The broker is unreachable; the result backend is up.
    point_app(current_app, broker_url=f"redis://127.0.0.1:{free_port()}/0")
    for _ in range(3):
        with pytest.raises(services.LaunchUnavailable):
            services.task_launch(user=user, name="demo.quick", params={"x": 1, "y": 1})

    assert subscriptions(stack) == 0


def test_results_are_still_stored_and_read(stack, user):
    stack.worker("results", concurrency=1)
    task = services.task_launch(user=user, name="demo.quick", params={"x": 20, "y": 22})

    assert finished(task.pk).result == 42
    assert AsyncResult(str(task.pk)).get(timeout=10) == 42
    assert live_metas([task.pk])[str(task.pk)]["status"] == "SUCCESS"
