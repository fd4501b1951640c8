"""The bell in a browser: ring it on a task's page, find the task on the notifications page.

Desktop and 360 px, light and dark; the staff pages of webhooks and routes fit a phone.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, expect

from taskboard.models import Subscription
from tests.browser.test_phone import logged_in, problems_in_both_themes
from tests.factories import RouteFactory, TaskFactory, WebhookFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 360])
def test_ring_the_bell_and_see_it_on_the_notifications_page(
    browser: Browser, live_server, user, width
):
    task = TaskFactory(owner=user, running=True, name="demo.long")
    page = logged_in(browser, live_server, user, width)
    page.goto(live_server.url + reverse("taskboard:task_detail", args=[task.pk]))

    bell = page.locator("#bell-button")
    expect(bell).to_have_attribute("aria-pressed", "false")
    bell.focus()
    page.keyboard.press("Enter")  # reachable and usable from the keyboard
    expect(page.locator("#bell-button")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("status").filter(has_text="You will be emailed")).to_be_visible()
    assert Subscription.objects.filter(user=user, task=task).exists()
    found = problems_in_both_themes(page, "detail with bell", f"notify-detail-{width}")

    page.get_by_role("link", name="Notifications").click()
    row = page.locator(f"a[href='{reverse('taskboard:task_detail', args=[task.pk])}']")
    expect(row).to_have_text("demo.long")
    found += problems_in_both_themes(page, "notifications", f"notify-list-{width}")

    page.get_by_label("Task name").fill("demo.fail")
    page.get_by_role("button", name="Follow failures").click()
    expect(page.get_by_text("Subscribed to failures of demo.fail")).to_be_visible()
    expect(page.locator("code", has_text="demo.fail")).to_be_visible()
    assert found == []
    page.context.close()


@pytest.mark.parametrize("width", [1280, 360])
def test_staff_pages_fit(browser: Browser, live_server, staff_user, width):
    hook = WebhookFactory(name="pager", url="https://hooks.example.com/taskboard/very/long/path")
    RouteFactory(webhook=hook)
    RouteFactory(task_name="", emails="ops@example.com\noncall@example.com")
    hook.attempts.create(
        delivery="6f1c1b7e-0000-4000-8000-000000000001", attempt=1, status_code=500
    )
    hook.attempts.create(
        delivery="6f1c1b7e-0000-4000-8000-000000000001",
        attempt=2,
        error="URLError: [Errno 111] Connection refused",
    )
    page = logged_in(browser, live_server, staff_user, width)
    found = []
    for name, url in (
        ("routes", reverse("taskboard:route_list")),
        ("webhooks", reverse("taskboard:webhook_list")),
        ("webhook", reverse("taskboard:webhook_detail", args=[hook.pk])),
    ):
        assert page.goto(live_server.url + url).status == 200
        found += problems_in_both_themes(page, name, f"notify-{name}-{width}")
    expect(page.locator(".attempt-status")).to_have_count(2)
    assert found == []
    page.context.close()


@pytest.mark.parametrize("width", [1280, 360])
def test_ring_the_bell_of_a_row_in_the_table(browser: Browser, live_server, user, width):
    task = TaskFactory(owner=user, running=True, name="demo.long")
    page = logged_in(browser, live_server, user, width)
    page.goto(live_server.url + reverse("taskboard:task_list"))
    row_bell = page.locator(f"#task-{task.pk} .row-bell button")
    expect(row_bell).to_have_attribute("aria-pressed", "false")
    row_bell.click()
    expect(page.locator(f"#task-{task.pk} .row-bell button")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert Subscription.objects.filter(user=user, task=task).exists()
    assert problems_in_both_themes(page, "table with bells", f"notify-table-{width}") == []
    page.context.close()
