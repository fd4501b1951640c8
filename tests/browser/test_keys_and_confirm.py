"""Keys on every page that lists them, and the in-page confirmation dialog, in Chromium.

Each flow runs at desktop width and at 360 px (a small phone).
"""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from taskboard.models import Task
from taskboard.status import Status
from tests.browser.confirming import confirm_in_page
from tests.conftest import SCREENSHOTS, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STEP = 15_000  # ms: one server round trip on a busy machine
WIDTHS = [pytest.param(1280, id="desktop"), pytest.param(360, id="phone")]


@pytest.fixture
def native_prompts(authed_page: Page) -> list[str]:
    """Record (and dismiss) any browser-native confirm() box: there must be none."""
    seen: list[str] = []

    def record(dialog):
        seen.append(dialog.message)
        dialog.dismiss()

    authed_page.on("dialog", record)
    return seen


def sized(page: Page, width: int) -> Page:
    page.set_viewport_size({"width": width, "height": 800})
    return page


def focus_is_in(page: Page, selector: str) -> bool:
    return page.evaluate(f"document.querySelector({selector!r}).contains(document.activeElement)")


@pytest.mark.parametrize("width", WIDTHS)
def test_cancel_asks_in_the_page_esc_keeps_enter_cancels(
    authed_page: Page, live_server, user, native_prompts, width
):
    page = sized(authed_page, width)
    # Never sent to a worker: it stays pending until cancelled.
    task = Task.objects.create(name="demo.long", status="pending", owner=user)
    page.goto(f"{live_server.url}/tasks/")
    row = page.locator(f"#task-{task.pk}")
    page.keyboard.press("j")
    expect(row).to_be_focused()
    page.keyboard.press("c")
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-question")).to_have_text(
        f"Cancel demo.long ({str(task.pk)[:8]})?"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"confirm-cancel-{width}.png"))
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(SCREENSHOTS / f"confirm-cancel-{width}-dark.png"))
    page.emulate_media(color_scheme="light")
    # Tab and Shift+Tab go round the dialog's two buttons, never out of it.
    for key in ["Tab", "Tab", "Tab", "Shift+Tab", "Shift+Tab", "Shift+Tab"]:
        page.keyboard.press(key)
        assert focus_is_in(page, "#confirm-dialog"), key
    page.locator("#confirm-yes").focus()
    confirm_in_page(page, "Escape")
    # Esc went back: nothing was sent, the row still offers Cancel.
    expect(row.get_by_role("button", name="Cancel")).to_be_visible()
    task.refresh_from_db()
    assert task.status == "pending" and not task.cancel_requested

    row.get_by_role("button", name="Cancel").click()  # the mouse asks the same way
    confirm_in_page(page, "Enter")
    expect(row.locator(".badge")).to_have_attribute("data-status", "cancelled", timeout=STEP)
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert native_prompts == []


@pytest.mark.parametrize("width", WIDTHS)
def test_retry_on_a_task_page_asks_then_launches(
    authed_page: Page, live_server, user, native_prompts, width
):
    page = sized(authed_page, width)
    failed = Task.objects.create(
        name="demo.fail",
        status="failed",
        owner=user,
        kwargs={"message": "boom"},
        finished_at=timezone.now(),
    )
    page.goto(f"{live_server.url}/tasks/{failed.pk}/")
    page.get_by_role("button", name="Retry r").click()
    expect(page.locator("#confirm-question")).to_have_text(
        "Retry this task with the same arguments?"
    )
    page.screenshot(path=str(SCREENSHOTS / f"confirm-retry-{width}.png"))
    confirm_in_page(page, "Enter")
    retry = wait_for(lambda: Task.objects.filter(retry_of=failed).first(), message="the retry")
    expect(page).to_have_url(f"{live_server.url}/tasks/{retry.pk}/", timeout=STEP)
    expect(page.get_by_text("Retry launched.")).to_be_visible()
    assert native_prompts == []


def test_digit_keys_open_the_status_tabs_the_vocabulary_lists(authed_page: Page, live_server):
    page = authed_page
    page.goto(f"{live_server.url}/tasks/")
    active = page.locator("#status-tabs .tab.active")
    # From the last tab back to the first, so that every key moves the page.
    for key, value, label in reversed(Status.tabs()):
        page.keyboard.press(key)
        expect(active).to_have_attribute("data-tab", value or "all", timeout=STEP)
        expect(active.locator(".tab-label")).to_have_text(label)
    # A digit with no tab does nothing.
    page.keyboard.press(str(len(Status.tabs()) + 1))
    expect(active).to_have_attribute("data-tab", "all")
    expect(page).to_have_url(f"{live_server.url}/tasks/")


@pytest.mark.parametrize("width", WIDTHS)
def test_task_page_keys_c_cancels_x_does_nothing_n_launches(
    authed_page: Page, live_server, user, native_prompts, width
):
    page = sized(authed_page, width)
    task = Task.objects.create(name="demo.long", status="pending", owner=user)
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    page.keyboard.press("x")
    expect(page.locator("#confirm-dialog")).to_be_hidden()
    page.keyboard.press("?")
    help_dialog = page.locator("#kbd-help")
    expect(help_dialog).to_be_visible()
    expect(help_dialog.locator("dt")).to_have_text(["Esc", "n", "r", "c", "?"])
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    page.keyboard.press("c")
    confirm_in_page(page, "Enter")
    expect(page.locator("#task-detail .detail-status .badge")).to_have_attribute(
        "data-status", "cancelled", timeout=STEP
    )
    page.keyboard.press("n")
    expect(page).to_have_url(f"{live_server.url}/launch/", timeout=STEP)
    assert native_prompts == []


@pytest.mark.parametrize("width", WIDTHS)
def test_n_on_the_tokens_page_goes_to_launch(authed_page: Page, live_server, width):
    page = sized(authed_page, width)
    page.goto(f"{live_server.url}/tokens/")
    page.keyboard.press("n")
    expect(page).to_have_url(f"{live_server.url}/launch/", timeout=STEP)


@pytest.mark.parametrize("width", WIDTHS)
def test_launch_dialog_list_moves_with_arrows_and_jk(authed_page: Page, live_server, width):
    page = sized(authed_page, width)
    page.goto(f"{live_server.url}/tasks/")
    page.keyboard.press("n")
    dialog = page.locator("#launch-dialog")
    items = dialog.locator(".picker-item")
    expect(items.first).to_be_visible(timeout=STEP)
    items.first.focus()
    for key, index in [("ArrowDown", 1), ("j", 2), ("k", 1), ("ArrowUp", 0), ("ArrowUp", 0)]:
        page.keyboard.press(key)
        expect(items.nth(index)).to_be_focused()
    page.keyboard.press("j")
    name = items.nth(1).get_attribute("href")
    page.keyboard.press("Enter")  # opens the focused task's form
    expect(dialog.locator(f'#launch-form[action="{name}"]')).to_be_visible(timeout=STEP)
    # In a field, j and the arrows type as usual.
    field = dialog.locator("#launch-form input:not([type=hidden])").first
    expect(field).to_be_focused()
    page.keyboard.press("j")
    expect(field).to_be_focused()
    # Tab stays inside the launch dialog too.
    for _ in range(12):
        page.keyboard.press("Tab")
        assert focus_is_in(page, "#launch-dialog")


@pytest.mark.parametrize("width", WIDTHS)
def test_bulk_count_follows_the_tabs_live(authed_page: Page, live_server, user, width):
    page = sized(authed_page, width)
    for _ in range(2):
        Task.objects.create(name="demo.fail", status="failed", owner=user)
    # Never sent to a worker: it moves only when this test moves it.
    watched = Task.objects.create(name="demo.long", status="pending", owner=user)
    page.goto(f"{live_server.url}/tasks/")
    count = page.locator("#bulk-all-count")
    expect(count).to_have_text("All 3 matching this filter")
    # Rows arrive from elsewhere, then a row on the page finishes: the poll sees the
    # latter, the tabs refresh, and the bulk bar's count with them.
    for _ in range(2):
        Task.objects.create(name="demo.fail", status="failed", owner=user)
    Task.objects.filter(pk=watched.pk).update(status="completed", version=watched.version + 1)
    tab_all = page.locator('#status-tabs [data-tab="all"] .count')
    expect(tab_all).to_have_text("5", timeout=STEP)
    expect(count).to_have_text("All 5 matching this filter")


@pytest.mark.parametrize("width", WIDTHS)
def test_launch_from_the_n_dialog_says_it_launched(authed_page: Page, live_server, width):
    page = sized(authed_page, width)
    page.goto(f"{live_server.url}/tasks/")
    page.keyboard.press("n")
    dialog = page.locator("#launch-dialog")
    form = dialog.locator('#launch-form[action="/launch/demo.quick/"]')
    expect(form).to_be_visible(timeout=STEP)
    form.get_by_role("button", name="Launch").click()
    expect(dialog).to_be_hidden(timeout=STEP)
    expect(page.locator("#main > .messages")).to_have_text("Launched “Add two numbers”.")
    task = Task.objects.get(name="demo.quick")
    expect(page.locator(f"#task-{task.pk}")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / f"launched-notice-{width}.png"))


@pytest.mark.parametrize("width", WIDTHS)
def test_launch_form_page_back_link_goes_to_the_task_list(authed_page: Page, live_server, width):
    page = sized(authed_page, width)
    page.goto(f"{live_server.url}/launch/demo.quick/")
    page.get_by_role("link", name="Back to the task list").click()
    expect(page).to_have_url(f"{live_server.url}/tasks/")


@pytest.mark.parametrize("width", WIDTHS)
def test_without_javascript_retry_asks_on_a_page(browser, live_server, user, width):
    from django.conf import settings
    from django.test import Client

    failed = Task.objects.create(
        name="demo.fail", status="failed", owner=user, kwargs={"message": "boom"}
    )
    client = Client()
    client.force_login(user)
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": width, "height": 800}
    )
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
    try:
        page.goto(f"{live_server.url}/tasks/?status=failed")
        page.locator(f"#task-{failed.pk}").get_by_role("button", name="Retry").click()
        expect(page.locator("h1")).to_contain_text("Really retry demo.fail")
        page.screenshot(path=str(SCREENSHOTS / f"confirm-page-{width}.png"))
        assert not Task.objects.filter(retry_of=failed).exists()  # asking wrote nothing
        page.get_by_role("link", name="Back").click()
        expect(page).to_have_url(f"{live_server.url}/tasks/?status=failed")
        page.locator(f"#task-{failed.pk}").get_by_role("button", name="Retry").click()
        page.get_by_role("button", name="Retry").click()
        expect(page).to_have_url(f"{live_server.url}/tasks/?status=failed")
        expect(page.get_by_text("Retry launched.")).to_be_visible()
        assert Task.objects.filter(retry_of=failed).count() == 1
    finally:
        context.close()
