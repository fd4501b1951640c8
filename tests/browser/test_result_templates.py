"""A task's result template on its detail page in Chromium: drawn, and fitting a phone."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from taskboard.models import Task

# Pictures for review, not for the README: they never go into docs/screenshots.
REVIEW = Path(tempfile.gettempdir()) / "taskboard-screenshots" / "review"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 360])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_quick_task_page_draws_its_sum_without_overflow(
    authed_page: Page, live_server, user, scheme, width
):
    page = authed_page
    now = timezone.now()
    task = Task.objects.create(
        name="demo.quick",
        status="completed",
        owner=user,
        kwargs={"x": 2, "y": 3},
        result=5,
        started_at=now,
        finished_at=now,
        attempts=1,
    )
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    page.goto(live_server.url + reverse("taskboard:task_detail", args=[task.pk]))
    drawn = page.locator("#task-detail .result-drawn dl.result-sum")
    expect(drawn).to_be_visible()
    expect(drawn.locator("dd")).to_have_text("2 + 3 = 5")
    expect(page.locator("#task-detail pre.json")).to_have_count(1)  # the arguments only
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {width}px"
    REVIEW.mkdir(parents=True, exist_ok=True)
    page.locator("#h-result").scroll_into_view_if_needed()
    page.screenshot(path=str(REVIEW / f"result-quick-{width}-{scheme}.png"), full_page=True)
