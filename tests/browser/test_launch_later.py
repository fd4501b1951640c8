"""Launch "in 1 hour" from the dialog, see it Scheduled, cancel it; Send now, in Chromium.

Real server (live_server), PostgreSQL and Redis; no worker is needed: nothing is sent.
At desktop width and at 360 px, in the light and the dark theme.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Browser, expect

from taskboard.models import Task
from tests.browser.confirming import confirm_in_page
from tests.browser.test_phone import OVERFLOW, STEP, logged_in
from tests.conftest import QUEUE, wait_for
from tests.factories import TaskFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Pictures for review only: they never go into docs/screenshots.
REVIEW = Path(tempfile.gettempdir()) / "taskboard-screenshots" / "review"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [pytest.param(1280, id="desktop"), pytest.param(360, id="phone")])
def test_launch_in_one_hour_shows_scheduled_then_cancel_it(
    browser: Browser, live_server, user, width, scheme
):
    page = logged_in(browser, live_server, user, width)
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{live_server.url}/tasks/")
    page.evaluate("window.notReloaded = true")
    scheduled_tab = page.locator('#status-tabs [data-tab="scheduled"]')
    expect(scheduled_tab.locator(".count")).to_have_text("0", timeout=STEP)

    page.keyboard.press("n")
    dialog = page.locator("#launch-dialog")
    expect(dialog).to_be_visible(timeout=STEP)
    form = dialog.locator('#launch-form[action="/launch/demo.quick/"]')
    # The picker opens with the first task's form (this one); picking it loads it again.
    # Filled before that swap, the fields would be reset: wait for the fresh form.
    expect(form).to_be_visible(timeout=STEP)
    form.evaluate("form => form.setAttribute('data-before-pick', '')")
    dialog.locator('.picker-item[href="/launch/demo.quick/"]').click()
    expect(dialog.locator("#launch-form[data-before-pick]")).to_have_count(0, timeout=STEP)
    expect(form).to_be_visible(timeout=STEP)
    form.locator('[name="x"]').fill("2")
    form.locator('[name="y"]').fill("3")
    form.get_by_label("In N minutes or hours").check()
    form.locator('[name="later-amount"]').fill("1")
    form.locator('[name="later-unit"]').select_option("hours")
    REVIEW.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(REVIEW / f"launch-later-form-{width}-{scheme}.png"), full_page=True)
    assert page.evaluate(OVERFLOW) == []
    form.get_by_role("button", name="Launch").click()
    expect(dialog).to_be_hidden(timeout=STEP)

    task = wait_for(lambda: Task.objects.first(), message="the scheduled row")
    assert task.status == "scheduled"
    # "In 1 hour" from when the form was sent, whatever the browser round trips cost since.
    assert timedelta(minutes=59) < task.run_at - task.created_at <= timedelta(hours=1, seconds=5)
    row = page.locator(f"#task-{task.pk}")
    expect(row.locator(".badge")).to_have_text("Scheduled", timeout=STEP)
    expect(row.locator(".due")).to_contain_text("due", timeout=STEP)
    expect(scheduled_tab.locator(".count")).to_have_text("1", timeout=STEP)
    page.screenshot(path=str(REVIEW / f"launch-later-row-{width}-{scheme}.png"), full_page=True)
    assert page.evaluate(OVERFLOW) == []

    row.get_by_role("button", name="Cancel").click()
    confirm_in_page(page)
    expect(row.locator(".badge")).to_have_text("Cancelled", timeout=STEP)
    expect(scheduled_tab.locator(".count")).to_have_text("0", timeout=STEP)
    assert Task.objects.get(pk=task.pk).status == "cancelled"
    assert page.evaluate("window.notReloaded") is True
    page.context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [pytest.param(1280, id="desktop"), pytest.param(360, id="phone")])
def test_send_now_from_the_task_page(browser: Browser, live_server, user, width, scheme):
    # A queue no worker reads: the row stays Pending once sent; emptied afterwards.
    queue = f"{QUEUE}-later-browser"
    task = TaskFactory(
        owner=user, status="scheduled", run_at=timezone.now() + timedelta(hours=1), queue=queue
    )
    page = logged_in(browser, live_server, user, width)
    page.emulate_media(color_scheme=scheme)
    try:
        page.goto(f"{live_server.url}/tasks/{task.pk}/")
        expect(page.locator(".detail-status .badge")).to_have_text("Scheduled", timeout=STEP)
        expect(page.locator(".detail-status .due")).to_contain_text("due", timeout=STEP)
        page.locator("#send-now-button").click()
        confirm_in_page(page)
        expect(page.locator(".detail-status .badge")).to_have_text("Pending", timeout=STEP)
        expect(page.locator("#send-now-button")).to_have_count(0, timeout=STEP)
        expect(page.get_by_role("status").filter(has_text="Sent now.")).to_be_visible(timeout=STEP)
        assert Task.objects.get(pk=task.pk).status == "pending"
    finally:
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(queue)
        page.context.close()
