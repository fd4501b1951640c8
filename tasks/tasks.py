"""The standalone site's demo tasks, written against Taskboard's public API only.

They are what a host project's own tasks look like: a Celery task, decorated with
``@launchable`` and a form, reporting progress with ``report_progress``; and a
workflow, a function decorated with ``@launchable`` that returns a canvas.
"""

from __future__ import annotations

import time

from celery import chord, group, shared_task
from celery.canvas import Signature
from celery.utils.log import get_task_logger

from taskboard import launchable, report_progress
from tasks import forms

logger = get_task_logger(__name__)


class FlakyError(Exception):
    """The failure the flaky task raises before it succeeds."""


class DemoFailure(RuntimeError):
    """The error the failing demo task raises."""


def _parse(message: str) -> None:
    raise DemoFailure(message or "Something went wrong on purpose")


def raise_failure(message: str) -> None:
    """Fail a couple of frames deep, so the traceback shows a real stack."""
    try:
        _parse(message)
    except DemoFailure as exc:
        raise DemoFailure(f"{exc} (while running the demo)") from exc


@launchable(
    form=forms.QuickForm,
    title="Add two numbers",
    description="Returns x + y at once.",
    result_template="partials/result_quick.html",
)
@shared_task(name="demo.quick")
def quick(x: int = 2, y: int = 3) -> int:
    return x + y


@launchable(
    form=forms.LongForm,
    title="Long job with progress",
    description="Runs for the given seconds and reports progress; can be cancelled while running.",
)
@shared_task(bind=True, name="demo.long")
def long_job(self, seconds: int = 10, steps: int = 10) -> dict:
    steps = max(1, steps)
    for step in range(steps):
        report_progress(step, steps, f"step {step + 1} of {steps}")
        time.sleep(seconds / steps)
    report_progress(steps, steps, "done")
    return {"seconds": seconds, "steps": steps}


@launchable(
    form=forms.FailForm,
    title="Always fails",
    description="Raises an error with a real traceback, to see failures and retry them.",
)
@shared_task(name="demo.fail")
def fail(message: str = "Something went wrong on purpose") -> None:
    raise_failure(message)


@launchable(
    form=forms.FlakyForm,
    title="Flaky (retries, then succeeds)",
    description="Fails the given number of attempts, retrying with backoff, then succeeds.",
)
@shared_task(bind=True, name="demo.flaky", max_retries=5)
def flaky(self, failures: int = 2) -> dict:
    if self.request.retries < failures:
        raise self.retry(
            exc=FlakyError(f"attempt {self.request.retries + 1} failed"),
            countdown=0.5 * 2**self.request.retries,
        )
    return {"attempts": self.request.retries + 1}


class PageUnavailable(RuntimeError):
    """The error of the page the workflow demo was told to fail."""


@shared_task(bind=True, name="demo.fetch_page")
def fetch_page(self, page: int, seconds: float = 2, fail: bool = False) -> dict:
    steps = 4
    for step in range(steps):
        report_progress(step, steps, f"page {page}")
        time.sleep(seconds / steps)
    # A passing outage: the page fails while its group runs, and a retry (sent on
    # its own, outside the group) fetches it.
    if fail and self.request.group:
        raise PageUnavailable(f"page {page} could not be fetched (on purpose; a retry works)")
    return {"page": page, "words": 100 + page}


@shared_task(name="demo.merge_pages")
def merge_pages(pages: list) -> dict:
    return {"pages": len(pages), "words": sum(page["words"] for page in pages)}


@launchable(
    form=forms.PagesForm,
    title="Fetch pages, then merge (workflow)",
    description="Fetches the pages side by side (a group), then merges them (a chord's "
    "callback); one page can be told to fail.",
    name="demo.pages",
)
def fetch_and_merge(pages: int = 5, seconds: float = 2, fail_page: int | None = 0) -> Signature:
    return chord(
        group(
            fetch_page.s(page=page, seconds=seconds, fail=page == fail_page)
            for page in range(1, pages + 1)
        ),
        merge_pages.s(),
    )


@launchable(
    form=forms.ChattyForm,
    title="Chatty (writes a log)",
    description="Logs a line every interval, with a warning every fifth: watch its log live.",
)
@shared_task(bind=True, name="demo.chatty")
def chatty(
    self, lines: int = 10, interval: float = 0.5, message: str = "working", fail_after: int = 0
) -> dict:
    for number in range(1, lines + 1):
        if number % 5 == 0:
            logger.warning("%s: line %d of %d (a warning)", message, number, lines)
        else:
            logger.info("%s: line %d of %d", message, number, lines)
        if number == fail_after:
            logger.error("giving up after line %d", number)
            raise_failure(f"chatty stopped after {number} lines")
        # Its progress bar, and where a cancel request stops it.
        report_progress(number, lines, f"line {number} of {lines}")
        if interval:
            time.sleep(interval)
    # Printed, not logged: the worker's redirected stdout reaches the log too.
    print(f"{message}: done, {lines} lines")
    return {"lines": lines}
