"""Bulk actions in Chromium: select rows with the keyboard, confirm, retry them on the worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from taskboard.models import Task
from tests.conftest import SCREENSHOTS, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STEP = 15_000  # ms: one page step on a busy machine


def failed_rows(user, count: int) -> list[Task]:
    """Create failed runs of the quick task, newest first, as the table shows them."""
    now = timezone.now()
    return [
        Task.objects.create(
            name="demo.quick",
            status="failed",
            owner=user,
            kwargs={"x": i, "y": 1},
            error_type="DemoFailure",
            error_message=f"failure {i}",
            created_at=now - timedelta(minutes=i),
            finished_at=now - timedelta(minutes=i),
        )
        for i in range(count)
    ]


def test_bulk_retry_of_rows_selected_with_the_keyboard(
    authed_page: Page, live_server, user, celery_worker
):
    page = authed_page
    first, second, third = failed_rows(user, 3)
    page.goto(f"{live_server.url}/tasks/?status=failed")
    count = page.locator("[data-bulk-count]")
    expect(count).to_have_text("0 selected:")
    expect(page.get_by_role("button", name="Retry…")).to_be_disabled()

    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator(f"#task-{first.pk} input[data-select]")).to_be_checked()
    expect(page.locator(f"#task-{second.pk} input[data-select]")).to_be_checked()
    expect(page.locator(f"#task-{third.pk} input[data-select]")).not_to_be_checked()
    expect(count).to_have_text("2 selected:")
    page.screenshot(path=str(SCREENSHOTS / "bulk.png"))

    page.get_by_role("button", name="Retry…").click()
    expect(page.get_by_role("heading", name="Retry these 2 tasks?")).to_be_visible(timeout=STEP)
    expect(page.locator(".bulk-preview code.task-id")).to_have_count(2)
    page.screenshot(path=str(SCREENSHOTS / "bulk-confirm.png"))
    # The confirm button has the focus: Enter confirms.
    expect(page.locator("#bulk-confirm-button")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{live_server.url}/tasks/?status=failed", timeout=STEP)
    expect(page.locator(".messages")).to_contain_text("Retried 2 tasks.")
    retries = wait_for(
        lambda: (
            list(
                Task.objects.filter(retry_of__in=[first, second], status="completed").order_by(
                    "kwargs__x"
                )
            )
            if Task.objects.filter(retry_of__in=[first, second], status="completed").count() == 2
            else None
        ),
        timeout=60,
        message="both retries to complete",
    )
    assert [r.result for r in retries] == [1, 2]
    assert not Task.objects.filter(retry_of=third).exists()


def test_shift_click_selects_a_range_and_x_unselects(authed_page: Page, live_server, user):
    page = authed_page
    rows = failed_rows(user, 4)
    page.goto(f"{live_server.url}/tasks/")
    page.locator(f"#task-{rows[0].pk} input[data-select]").click()
    page.locator(f"#task-{rows[2].pk} input[data-select]").click(modifiers=["Shift"])
    expect(page.locator("[data-bulk-count]")).to_have_text("3 selected:")
    expect(page.locator(f"#task-{rows[3].pk} input[data-select]")).not_to_be_checked()
    # x on the focused row toggles it off again.
    page.locator(f"#task-{rows[0].pk}").focus()
    page.keyboard.press("x")
    expect(page.locator("[data-bulk-count]")).to_have_text("2 selected:")


def test_ticked_rows_are_sent_as_one_field(authed_page: Page, live_server, user):
    # One field whatever the number of rows: a field per row stops at Django's
    # DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000) with a bare "Bad Request".
    from urllib.parse import parse_qs

    page = authed_page
    rows = failed_rows(user, 3)
    page.goto(f"{live_server.url}/tasks/?status=failed")
    page.locator("[data-select-page]").click()
    expect(page.locator("[data-bulk-count]")).to_have_text("3 selected:")
    with page.expect_request(lambda r: r.method == "POST" and "/tasks/bulk/" in r.url) as sent:
        page.get_by_role("button", name="Retry…").click()
    fields = parse_qs(sent.value.post_data)
    assert len(fields["ids"]) == 1
    assert sorted(fields["ids"][0].split(",")) == sorted(str(t.pk) for t in rows)
    expect(page.get_by_role("heading", name="Retry these 3 tasks?")).to_be_visible(timeout=STEP)
