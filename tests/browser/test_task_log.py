"""A running task's log on its detail page: lines appear as they are logged, in order.

Real server, real worker, Chromium at desktop width and at 360 px, light and dark.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from taskboard import services
from tests.browser.test_phone import OVERFLOW, REVIEW, logged_in
from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STEP = 15_000  # ms
LINES = 20  # half a second apart: ten seconds of logging, seen over several polls


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 360])
def test_running_tasks_log_fills_in_live(
    browser: Browser, live_server, user, celery_worker, width, scheme
):
    # Markup in the lines must stay text; the README's picture gets plain words.
    readme = width == 1280 and scheme == "light"
    message = "copying rows" if readme else f"step <b>{width}</b>"
    task = services.task_launch(
        user=user,
        name="demo.chatty",
        params={"lines": LINES, "interval": 0.5, "message": message},
    )
    page = logged_in(browser, live_server, user, width)
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    page.evaluate("window.sameDocument = true")
    lines = page.locator("#log-lines .log-line")
    poll = page.locator("#log-poll")

    # Some lines, not all yet: they arrive while the task runs, into the same page.
    expect(lines.first).to_be_visible(timeout=STEP)
    first_count = lines.count()
    assert first_count < LINES
    expect(lines.nth(first_count)).to_be_visible(timeout=STEP)
    if readme:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#task-log").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "task-log.png"))

    expect(poll).to_have_attribute("data-finished", "", timeout=STEP * 2)
    expect(lines).to_have_count(LINES + 1)
    texts = [line.strip() for line in page.locator("#log-lines .log-message").all_inner_texts()]
    assert texts == [
        *(
            f"{message}: line {n} of {LINES}" + (" (a warning)" if n % 5 == 0 else "")
            for n in range(1, LINES + 1)
        ),
        f"{message}: done, {LINES} lines",  # printed
    ]
    assert page.locator("#log-lines b").count() == 0  # the markup stayed text
    # The level in words beside its colour.
    expect(lines.nth(4).locator(".log-level")).to_have_text("WARNING")
    assert page.evaluate("window.sameDocument") is True  # appended, never reloaded

    # Follow can be paused, and resumed.
    follow = page.locator("#log-follow")
    expect(follow).to_have_attribute("aria-pressed", "true")
    follow.click()
    expect(follow).to_have_attribute("aria-pressed", "false")
    follow.click()
    expect(follow).to_have_attribute("aria-pressed", "true")

    assert page.evaluate(OVERFLOW) == []
    REVIEW.mkdir(parents=True, exist_ok=True)
    page.locator("#task-log").screenshot(path=str(REVIEW / f"task-log-{width}-{scheme}.png"))
    page.context.close()
