"""Launch from the dashboard's dialog, then retry and cancel from the detail page, in Chromium.

Real server (live_server), real worker, real Redis and PostgreSQL; the page is never
reloaded while rows move to their final states.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from taskboard.models import Task
from tests.browser.confirming import confirm_in_page, settled
from tests.conftest import SCREENSHOTS, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FINAL = 30_000  # ms: time a row may take to reach its final state on a busy machine
STEP = 15_000  # ms: one server round trip on a busy machine (expect's default is 5 s)


def newest(name: str) -> Task:
    """Return the newest row of ``name`` once it exists."""
    return wait_for(
        lambda: Task.objects.filter(name=name).order_by("-created_at").first(),
        message=f"a {name} row",
    )


def launch_from_dialog(page: Page, name: str, fields: dict[str, str], screenshot: str = ""):
    """Open the launch dialog with `n`, pick ``name``, fill ``fields`` and press Launch."""
    page.keyboard.press("n")
    dialog = page.locator("#launch-dialog")
    expect(dialog).to_be_visible(timeout=STEP)
    form = pick(dialog, name)
    for field, value in fields.items():
        form.locator(f'[name="{field}"]').fill(value)
    if screenshot:
        page.screenshot(path=str(SCREENSHOTS / screenshot))
    form.get_by_role("button", name="Launch").click()
    expect(dialog).to_be_hidden(timeout=STEP)


def pick(dialog: Locator, name: str) -> Locator:
    """Pick ``name`` in the open launch dialog and return its form, once it is the fresh one.

    The dialog opens with a form already (the first task's); picking loads one afresh.
    Filled before that swap, the fields would be reset, so wait for it.
    """
    shown = dialog.locator("#launch-form")
    expect(shown).to_be_visible(timeout=STEP)
    shown.evaluate("form => form.setAttribute('data-before-pick', '')")
    dialog.locator(f'.picker-item[href="/launch/{name}/"]').click()
    expect(dialog.locator("#launch-form[data-before-pick]")).to_have_count(0, timeout=STEP)
    form = dialog.locator(f'#launch-form[action="/launch/{name}/"]')
    expect(form).to_be_visible(timeout=STEP)
    return form


def status_of(page: Page, task: Task):
    return page.locator(f"#task-{task.pk} .badge")


def test_launch_three_from_the_dialog_and_watch_them_finish(
    authed_page: Page, live_server, celery_worker
):
    page = authed_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/tasks/")
    page.evaluate("window.notReloaded = true")

    launch_from_dialog(page, "demo.quick", {"x": "20", "y": "22"})
    quick = newest("demo.quick")
    launch_from_dialog(page, "demo.fail", {"message": "boom from the browser"})
    fail = newest("demo.fail")
    expect(page.locator("#task-rows tr.task-row").first).to_have_id(f"task-{fail.pk}", timeout=STEP)
    expect(status_of(page, quick)).to_have_attribute("data-status", "completed", timeout=FINAL)
    expect(status_of(page, fail)).to_have_attribute("data-status", "failed", timeout=FINAL)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    launch_from_dialog(page, "demo.long", {"seconds": "4", "steps": "8"}, screenshot="launch.png")
    long = newest("demo.long")
    # The newest launch sits at the top of the table, added without a reload.
    expect(page.locator("#task-rows tr.task-row").first).to_have_id(f"task-{long.pk}", timeout=STEP)
    expect(page.locator(f"#task-{long.pk} progress")).to_be_visible(timeout=FINAL)
    expect(status_of(page, long)).to_have_attribute("data-status", "completed", timeout=FINAL)
    assert page.evaluate("window.notReloaded") is True


def test_retry_a_failure_from_its_detail_page_with_r(authed_page: Page, live_server, celery_worker):
    page = authed_page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/tasks/")
    launch_from_dialog(page, "demo.fail", {"message": "disk full on /var/data"})
    failed = newest("demo.fail")
    expect(status_of(page, failed)).to_have_attribute("data-status", "failed", timeout=FINAL)

    page.locator(f"#task-{failed.pk} [data-row-link]").click()
    expect(page).to_have_url(f"{live_server.url}/tasks/{failed.pk}/", timeout=STEP)
    expect(page.locator("#traceback")).to_contain_text("DemoFailure", timeout=STEP)
    expect(page.get_by_role("button", name="Copy traceback")).to_be_visible(timeout=STEP)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "detail.png"), full_page=True)

    settled(page)
    page.keyboard.press("r")
    confirm_in_page(page)
    retry = wait_for(lambda: Task.objects.filter(retry_of=failed).first(), message="the retry")
    expect(page).to_have_url(f"{live_server.url}/tasks/{retry.pk}/", timeout=STEP)
    expect(page.locator(f'a[href="/tasks/{failed.pk}/"]')).to_be_visible(timeout=STEP)
    assert retry.kwargs == failed.kwargs


def test_cancel_a_long_task_with_c(authed_page: Page, live_server, celery_worker):
    page = authed_page
    page.goto(f"{live_server.url}/tasks/")
    launch_from_dialog(page, "demo.long", {"seconds": "60", "steps": "60"})
    long = newest("demo.long")
    page.locator(f"#task-{long.pk} [data-row-link]").click()
    # Keys act once the page is ready (htmx has bound its forms): a person sees it first.
    page.wait_for_load_state()
    detail = page.locator("#task-detail .detail-status .badge")
    expect(detail).to_have_attribute("data-status", "running", timeout=FINAL)

    settled(page)  # the update that showed Running may have swapped the Cancel form in
    page.keyboard.press("c")
    confirm_in_page(page)
    expect(detail).to_have_attribute("data-status", "cancelled", timeout=FINAL)
    expect(page.get_by_role("button", name="Retry")).to_be_visible(timeout=STEP)
    long.refresh_from_db()
    assert long.status == "cancelled"


def test_launch_and_cancel_without_javascript(browser, live_server, user, celery_worker):
    from django.conf import settings
    from django.test import Client

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
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{live_server.url}/tasks/")
        page.get_by_role("link", name="New task").click()  # the dialog's opener is a link
        expect(page).to_have_url(f"{live_server.url}/launch/", timeout=STEP)
        page.get_by_role("link", name="Launch Long job with progress").click()
        page.locator('[name="seconds"]').fill("60")
        page.get_by_role("button", name="Launch").click()
        long = newest("demo.long")
        expect(page).to_have_url(f"{live_server.url}/tasks/{long.pk}/", timeout=STEP)
        expect(page.get_by_text("Launched “Long job with progress”.")).to_be_visible(timeout=STEP)
        page.get_by_role("button", name="Cancel").click()
        # Without JS the button leads to a page that asks; only its form cancels.
        expect(page).to_have_url(re.compile(rf"/tasks/{long.pk}/cancel/"), timeout=STEP)
        expect(page.locator("h1")).to_contain_text("Really cancel demo.long")
        page.get_by_role("button", name="Cancel task").click()
        expect(page).to_have_url(f"{live_server.url}/tasks/{long.pk}/", timeout=STEP)
        # Revoked while pending, or stopped at its next progress report if it had started.
        wait_for(lambda: Task.objects.filter(pk=long.pk, status="cancelled").exists())
        page.reload()  # without JS the page shows the state as of the request
        expect(page.locator("#task-detail .detail-status .badge")).to_have_attribute(
            "data-status", "cancelled"
        )
    finally:
        context.close()


def test_dialog_shows_errors_next_to_fields_and_keeps_values(authed_page: Page, live_server):
    page = authed_page
    page.goto(f"{live_server.url}/tasks/")
    page.keyboard.press("n")
    dialog = page.locator("#launch-dialog")
    form = pick(dialog, "demo.long")
    form.locator('[name="seconds"]').fill("5000")
    form.locator('[name="steps"]').fill("7")
    # Let the server refuse it (the browser would stop at max= otherwise).
    form.evaluate("form => { form.noValidate = true; }")
    form.get_by_role("button", name="Launch").click()
    field = dialog.locator(".field.has-error")
    expect(field).to_contain_text("less than or equal to 3600", timeout=STEP)
    expect(field.locator('[name="seconds"]')).to_have_value("5000")
    expect(dialog.locator('[name="steps"]')).to_have_value("7")
    expect(dialog).to_be_visible()
    assert Task.objects.count() == 0


def test_cancel_of_a_task_that_just_finished_explains_why(authed_page: Page, live_server, user):
    page = authed_page
    task = Task.objects.create(name="demo.long", status="pending", owner=user)
    # Hold the detail poll back so the page still offers Cancel after the task finished.
    page.route("**/?since=*", lambda route: route.abort())
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    Task.objects.filter(pk=task.pk).update(status="completed", result=1, version=2)

    page.keyboard.press("c")
    confirm_in_page(page)
    expect(page.get_by_role("alert")).to_have_text("This task has already finished.", timeout=STEP)
    expect(page.locator("#task-detail .detail-status .badge")).to_have_attribute(
        "data-status", "completed", timeout=STEP
    )
    expect(page.get_by_role("button", name="Retry")).to_be_visible(timeout=STEP)
