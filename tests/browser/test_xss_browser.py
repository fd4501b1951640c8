"""Hostile task output stays inert in Chromium: the table, the detail page and the poll.

No dialog ever opens, no element with an injected event handler exists, and no
request goes to the injected htmx URL (/x) or the injected image (x).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.db.models import F
from django.utils import timezone
from playwright.sync_api import Page, expect

from taskboard.models import Task
from tests.security.test_xss import EVIL, IMG, PAYLOADS, SCRIPT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STEP = 15_000  # ms: one server round trip, or one poll, on a busy machine
INJECTED = "img, [onerror], [onload], [onmouseover], [onclick], [hx-on], script:not([src])"


class Watch:
    """Record the dialogs a page opens and the URLs it requests."""

    def __init__(self, page: Page):
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        page.on("dialog", self._dialog)
        page.on("request", lambda request: self.requests.append(request.url))

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def injected_requests(self) -> list[str]:
        # The img payload asks for "x" relative to the page; the htmx payload for "/x".
        return [url for url in self.requests if urlsplit(url).path.rstrip("/").endswith("/x")]


def assert_inert(page: Page, watch: Watch) -> None:
    # Move over every row and cell: an injected onmouseover would fire now.
    for cell in page.locator("td, pre, h1, code, .error-message").all()[:60]:
        if cell.is_visible():
            cell.hover()
    assert watch.dialogs == []
    assert page.locator(INJECTED).count() == 0
    assert watch.injected_requests() == []


def evil_task(owner, status: str) -> Task:
    now = timezone.now()
    failed = status == "failed"
    return Task.objects.create(
        name=EVIL[:100],
        status=status,
        owner=owner,
        args=list(PAYLOADS),
        kwargs={payload: payload for payload in PAYLOADS},
        result={"out": list(PAYLOADS)} if status == "completed" else None,
        error_type=EVIL[:200] if failed else "",
        error_message=EVIL if failed else "",
        traceback=f"Traceback (most recent call last):\n{EVIL}" if failed else "",
        worker=EVIL,
        queue=EVIL,
        started_at=now,
        finished_at=now if status != "running" else None,
    )


@pytest.fixture
def watched(authed_page: Page) -> tuple[Page, Watch]:
    return authed_page, Watch(authed_page)


def test_the_watch_sees_a_live_payload(watched):
    # The control: the same payloads, unescaped, are caught by the same checks. On a
    # blank page: Taskboard's Content-Security-Policy would block the inline script.
    page, watch = watched
    page.goto("about:blank")
    page.set_content(f"<p>{SCRIPT}</p><p>{IMG}</p>")
    assert watch.dialogs
    assert page.locator(INJECTED).count() > 0


def test_table_renders_hostile_tasks_inert(watched, live_server, user):
    page, watch = watched
    evil_task(user, "failed")
    evil_task(user, "completed")
    page.goto(f"{live_server.url}/tasks/")
    expect(page.locator("tr.task-row")).to_have_count(2)
    expect(page.locator("tr.task-row").first).to_contain_text(SCRIPT)
    assert_inert(page, watch)


def test_detail_renders_a_hostile_failure_inert(watched, live_server, user):
    page, watch = watched
    task = evil_task(user, "failed")
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    expect(page.locator("#traceback")).to_contain_text(SCRIPT)
    expect(page.locator(".error-message")).to_contain_text(IMG)
    assert_inert(page, watch)


def test_detail_renders_a_hostile_result_inert(watched, live_server, user):
    page, watch = watched
    task = evil_task(user, "completed")
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    expect(page.locator("pre.json").last).to_contain_text(SCRIPT)
    assert_inert(page, watch)


def test_poll_swaps_in_a_hostile_failure_inert(watched, live_server, user):
    page, watch = watched
    task = evil_task(user, "running")
    page.goto(f"{live_server.url}/tasks/")
    row = page.locator(f"#task-{task.pk}")
    expect(row.locator(".badge")).to_have_attribute("data-status", "running")
    # The worker "fails" it with a hostile error: the next poll swaps the row in.
    Task.objects.filter(pk=task.pk).update(
        status="failed",
        error_type="Evil",
        error_message=EVIL,
        finished_at=timezone.now(),
        version=F("version") + 1,
    )
    expect(row.locator(".badge")).to_have_attribute("data-status", "failed", timeout=STEP)
    expect(row).to_contain_text(SCRIPT)
    assert_inert(page, watch)


def test_search_for_a_payload_renders_inert(watched, live_server, user):
    page, watch = watched
    evil_task(user, "failed")
    page.goto(f"{live_server.url}/tasks/")
    page.locator("#q").fill(SCRIPT)
    expect(page).to_have_url(re.compile(r"/tasks/\?q=%3Cscript%3E"), timeout=STEP)
    expect(page.locator("tr.task-row")).to_have_count(1)
    assert_inert(page, watch)
