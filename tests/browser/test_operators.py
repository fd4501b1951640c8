"""Failure groups and charts in Chromium: they render, work without script errors, screenshots."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from taskboard.models import COMPLETED, FAILED, Task
from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TRACEBACK = """Traceback (most recent call last):
  File "/app/tasks/tasks.py", line 71, in fail
    raise {error}({message!r})
{error}: {message}"""


def script_error(message, errors: list[str]) -> None:
    """Record console errors (a CSP violation, a failed script), not the missing favicon."""
    if message.type == "error" and "favicon" not in message.location.get("url", ""):
        errors.append(message.text)


def seed(user) -> None:
    """An hour of history: steady completions, a burst of timeouts, a few key errors."""
    now = timezone.now()
    rng = random.Random(6)
    rows = []
    for minute in range(60):
        for _ in range(rng.randint(1, 6)):
            end = now - timedelta(minutes=minute, seconds=rng.randint(0, 59))
            took = rng.uniform(0.2, 3) if minute % 2 else rng.uniform(5, 12)
            name = "demo.quick" if minute % 2 else "demo.long"
            start = end - timedelta(seconds=took)
            rows.append(
                Task(
                    name=name,
                    status=COMPLETED,
                    owner=user,
                    created_at=start - timedelta(seconds=rng.uniform(0.05, 2)),
                    started_at=start,
                    finished_at=end,
                )
            )
    failures = [
        ("demo.fail", "TimeoutError", "Timeout after {n}s on 'db{m}'", 18, range(20, 32)),
        ("demo.flaky", "KeyError", "'user_{n}'", 6, range(0, 60)),
        (
            "taskboard.export_csv",
            "OSError",
            "[Errno 28] No space left on device: '/var/exp/{n}.csv'",
            3,
            range(40, 60),
        ),
    ]
    for name, error, template, count, minutes in failures:
        for i in range(count):
            message = template.format(n=rng.randint(10, 99), m=i % 3)
            end = now - timedelta(minutes=rng.choice(list(minutes)), seconds=rng.randint(0, 59))
            start = end - timedelta(seconds=rng.uniform(0.5, 4))
            rows.append(
                Task(
                    name=name,
                    status=FAILED,
                    owner=user,
                    error_type=error,
                    error_message=message,
                    traceback=TRACEBACK.format(error=error, message=message),
                    created_at=start - timedelta(seconds=rng.uniform(0.1, 4)),
                    started_at=start,
                    finished_at=end,
                )
            )
    Task.objects.bulk_create(rows)


def test_failure_groups_page(authed_page: Page, live_server, user):
    page = authed_page
    errors: list[str] = []
    page.on("console", lambda message: script_error(message, errors))
    seed(user)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/tasks/failures/")
    first = page.locator(".failure-group").first
    expect(first.locator(".fg-count")).to_contain_text("18")
    expect(first.locator(".fg-message")).to_have_text("Timeout after <n>s on <str>")
    first.locator("summary").click()
    expect(first.locator(".fg-traceback pre")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "failures.png"))
    assert errors == []


def test_failure_group_delete_through_the_confirmation(authed_page: Page, live_server, user):
    page = authed_page
    seed(user)
    page.goto(f"{live_server.url}/tasks/failures/")
    # The group's button freezes its ids as a bulk action; the bulk page confirms it.
    page.locator(".failure-group").nth(2).get_by_role("button", name="Delete all 3…").click()
    expect(page.get_by_role("heading", name="Delete these 3 tasks?")).to_be_visible()
    expect(page.locator(".bulk-preview code.task-id")).to_have_count(3)
    expect(page.locator("#bulk-confirm-button")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/tasks/failures/?days=7")
    expect(page.locator(".messages")).to_contain_text("Deleted 3 tasks.")
    assert not Task.objects.filter(error_type="OSError").exists()


def test_charts_page(authed_page: Page, live_server, user):
    page = authed_page
    errors: list[str] = []
    page.on("console", lambda message: script_error(message, errors))
    seed(user)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/tasks/charts/")
    expect(page.locator("svg.chart-svg rect.bar-ok").first).to_be_visible()
    expect(page.locator("table.times tbody tr")).to_have_count(5)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "charts.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(SCREENSHOTS / "charts-dark.png"), full_page=True)
    assert errors == []
