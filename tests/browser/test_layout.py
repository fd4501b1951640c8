"""Layout details in Chromium: the login form, the week chart's labels, steady table
columns while a row goes live, and the Copy buttons without JavaScript.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from taskboard.models import Task

# Pictures for review, not for the README: they never go into docs/screenshots.
REVIEW = Path(tempfile.gettempdir()) / "taskboard-screenshots" / "review"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STEP = 15_000  # ms: one page step on a busy machine
LIVE = 30_000  # ms: a poll round trip or two on a busy machine


def box(page: Page, selector: str) -> dict:
    return page.locator(selector).bounding_box()


@pytest.mark.parametrize("width", [1280, 360])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_login_form_stacks_labels_over_aligned_fields(
    page: Page, live_server, django_user_model, scheme, width
):
    django_user_model.objects.create_user("demo", password="demo-taskboard")
    page.set_viewport_size({"width": width, "height": 800})
    page.emulate_media(color_scheme=scheme)
    page.goto(live_server.url + reverse("login"))
    expect(page.locator(".demo-hint")).to_contain_text("demo-taskboard")
    username, password = box(page, "#id_username"), box(page, "#id_password")
    assert username["x"] == password["x"] and username["width"] == password["width"]
    for field in ("username", "password"):
        label, field_box = box(page, f"label[for=id_{field}]"), box(page, f"#id_{field}")
        assert label["y"] + label["height"] <= field_box["y"], f"{field}'s label is not above it"
    submit = box(page, ".login-form button[type=submit]")
    assert submit["x"] == username["x"] and submit["width"] == username["width"]
    REVIEW.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(REVIEW / f"login-{width}-{scheme}.png"))

    page.locator("#id_username").fill("demo")
    page.locator("#id_password").fill("demo-taskboard")
    page.locator("#id_password").press("Enter")
    expect(page).to_have_url(live_server.url + reverse("taskboard:task_list"))


@pytest.mark.parametrize("width", [1280, 360])
@pytest.mark.parametrize("chart_range", ["hour", "day", "week"])
def test_chart_axis_labels_lie_inside_the_chart(authed_page: Page, live_server, chart_range, width):
    page = authed_page
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{live_server.url}{reverse('taskboard:charts')}?range={chart_range}")
    svg = box(page, "svg.chart-svg")
    labels = page.locator("svg.chart-svg text.tick:not(.tick-rate)")
    assert labels.count() >= 4
    for label in (labels.nth(2), labels.last):  # the first and the last time label
        text = label.bounding_box()
        assert text["x"] >= svg["x"], f"{label.text_content()} is cut off on the left"
        assert text["x"] + text["width"] <= svg["x"] + svg["width"], (
            f"{label.text_content()} is cut off on the right"
        )


def test_columns_keep_their_place_when_a_row_goes_live(authed_page: Page, live_server, user):
    page = authed_page
    page.set_viewport_size({"width": 1280, "height": 720})
    Task.objects.create(name="demo.quick", status="completed", owner=user, kwargs={"x": 1})
    task = Task.objects.create(name="demo.long", owner=user, kwargs={"seconds": 30})
    row = f"#task-{task.pk}"
    try:
        page.goto(live_server.url + reverse("taskboard:task_list"))
        expect(page.locator(f"{row} .badge")).to_have_text("Pending")
        before = {cell: box(page, f"{row} td.c-{cell}") for cell in ("status", "name", "actions")}
        current_app.backend.store_result(
            str(task.pk),
            {"current": 3, "total": 10, "message": "step 4 of 10, a message of some length"},
            "PROGRESS",
        )
        expect(page.locator(f"{row} progress")).to_be_visible(timeout=LIVE)
        expect(page.locator(f"{row} .badge")).to_contain_text("Running")
        for cell, was in before.items():
            now = box(page, f"{row} td.c-{cell}")
            assert (now["x"], now["width"]) == (was["x"], was["width"]), f"the {cell} column moved"
    finally:
        current_app.backend.forget(str(task.pk))


def test_copy_buttons_are_hidden_without_javascript(browser: Browser, live_server, user):
    failed = Task.objects.create(
        name="demo.fail",
        status="failed",
        owner=user,
        error_type="DemoFailure",
        error_message="boom",
        traceback="Traceback (most recent call last):\nDemoFailure: boom",
    )
    client = Client()
    client.force_login(user)
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
    page.set_default_timeout(STEP)
    try:
        page.goto(live_server.url + reverse("taskboard:task_detail", args=[failed.pk]))
        expect(page.locator("#traceback")).to_be_visible()
        expect(page.locator("[data-copy]")).to_have_count(1)
        expect(page.locator("[data-copy]")).to_be_hidden()

        page.goto(live_server.url + reverse("taskboard:token_list"))
        page.get_by_label("Name").fill("no-script")
        page.get_by_role("button", name="Create token").click()
        expect(page.locator("#new-token-key")).to_be_visible()
        expect(page.locator("[data-copy]")).to_have_count(1)
        expect(page.locator("[data-copy]")).to_be_hidden()
    finally:
        context.close()


def test_copy_buttons_show_with_javascript(authed_page: Page, live_server, user):
    failed = Task.objects.create(
        name="demo.fail", status="failed", owner=user, traceback="Traceback: boom"
    )
    authed_page.goto(live_server.url + reverse("taskboard:task_detail", args=[failed.pk]))
    expect(authed_page.get_by_role("button", name="Copy traceback")).to_be_visible()
