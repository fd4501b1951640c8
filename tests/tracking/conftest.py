"""The tracking writes measured in their steady state: the notification check loaded."""

from __future__ import annotations

import pytest

from taskboard.worker.interest import interest


@pytest.fixture(autouse=True)
def _interest_loaded(settings):
    """Count a tracking write's own queries, not the periodic reload of subscriptions.

    A worker reloads what is subscribed to every few seconds (taskboard/worker/interest.py):
    amortised over the tasks of those seconds, not part of any one write.
    """
    settings.TASKBOARD_NOTIFY_REFRESH_SECONDS = 3600
    interest.prime()
    yield
    interest.forget()
