"""The /ops/ page in Chromium: a real worker listed, the snapshot refreshing itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from taskboard import services
from taskboard.models import Task
from tests.conftest import SCREENSHOTS, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff_page(page: Page, live_server, staff_user) -> Page:
    """A Playwright page logged in as a staff user."""
    client = Client()
    client.force_login(staff_user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
    )
    page.set_default_timeout(15_000)
    return page


def test_ops_page_shows_worker_and_active_task(celery_worker, staff_page, live_server, user):
    old = timezone.now() - timedelta(minutes=20)
    for name in ("taskboard.export_csv", "demo.quick"):
        Task.objects.create(name=name, owner=user, created_at=old, queue="reports")
    long = services.task_launch(user=user, name="demo.long", params={"seconds": 8, "steps": 8})
    wait_for(lambda: Task.objects.get(pk=long.pk).status == "running", message="running")

    staff_page.goto(f"{live_server.url}/ops/")
    prefix = celery_worker.name.split("@")[0]
    row = staff_page.locator(f'tr.worker-row[data-worker^="{prefix}@"]')
    expect(row).to_be_visible()
    expect(row.locator(".pool-size")).to_have_text("2")
    expect(row.locator(f'a[href="/tasks/{long.pk}/"]')).to_be_visible()
    expect(staff_page.locator(".ops-stale")).to_contain_text("2 tasks pending")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    staff_page.screenshot(path=str(SCREENSHOTS / "ops.png"), full_page=True)


def test_ops_page_refreshes_its_snapshot(celery_worker, staff_page, live_server):
    staff_page.goto(f"{live_server.url}/ops/")
    prefix = celery_worker.name.split("@")[0]
    # The shell's container loads the snapshot, then asks again at its interval.
    expect(staff_page.locator(f'#ops-live tr.worker-row[data-worker^="{prefix}@"]')).to_be_visible()
    staff_page.evaluate("window.notReloaded = true")
    with staff_page.expect_request(
        lambda r: r.url.endswith("/ops/snapshot/") and r.headers.get("hx-request") == "true",
        timeout=20_000,
    ):
        pass
    expect(staff_page.locator("#ops-live > #ops")).to_have_count(1)
    assert staff_page.evaluate("window.notReloaded === true")


def test_ops_page_without_javascript_links_to_the_filled_in_page(
    celery_worker, browser, live_server, staff_user
):
    client = Client()
    client.force_login(staff_user)
    context = browser.new_context(java_script_enabled=False)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/ops/")
    page.get_by_role("link", name="Show workers and queues").click()
    prefix = celery_worker.name.split("@")[0]
    expect(page.locator(f'tr.worker-row[data-worker^="{prefix}@"]')).to_be_visible()
    context.close()
