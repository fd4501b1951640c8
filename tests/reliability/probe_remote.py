"""A task whose exception class only the workers import (never the test process).

The test process plays the web and beat processes: Celery there cannot import
``RemoteOnlyFailure`` and decodes the stored failure into a class it makes up.
"""

from __future__ import annotations

import time

from celery import shared_task


class RemoteOnlyFailure(Exception):
    """A failure of a class that lives only in the workers' code."""


@shared_task(name="probe.fail_remote")
def fail_remote(seconds: float = 1.0, message: str = "remote failure") -> None:
    time.sleep(seconds)
    raise RemoteOnlyFailure(message)
