"""Turn a launch into a schedule with the keyboard, at desktop width and on a phone, both themes."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from taskboard import services
from taskboard.models import Schedule
from taskboard.timing import Timing
from tests.browser.test_launch_detail import pick
from tests.browser.test_phone import logged_in, problems_in_both_themes
from tests.conftest import SCREENSHOTS
from tests.factories import TaskFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STEP = 15_000  # ms: one server round trip on a busy machine


def tab_to(page: Page, selector: str, limit: int = 40) -> None:
    """Press Tab until the element at ``selector`` has the focus (it must be reachable)."""
    target = page.locator(selector)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{selector} is not reachable with Tab")


def type_into(page: Page, selector: str, text: str) -> None:
    tab_to(page, selector)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


@pytest.mark.parametrize("width", [1280, 360])
def test_schedule_a_launch_nightly_with_the_keyboard(browser: Browser, live_server, user, width):
    page = logged_in(browser, live_server, user, width)
    try:
        page.goto(live_server.url + reverse("taskboard:launch", args=["demo.quick"]))
        # What is typed into the launch form comes along to the schedule form.
        type_into(page, "#launch-x", "20")
        type_into(page, "#launch-y", "22")
        tab_to(page, "#schedule-link")
        page.keyboard.press("Enter")
        form = page.locator("#schedule-form")
        expect(form).to_be_visible(timeout=STEP)
        expect(page.locator("#launch-x")).to_have_value("20")
        expect(page.locator("#launch-y")).to_have_value("22")

        # A radio group is one Tab stop; the arrow keys choose within it.
        tab_to(page, 'input[name="when-kind"][value="interval"]')
        page.keyboard.press("ArrowDown")
        expect(page.locator('input[name="when-kind"][value="crontab"]')).to_be_checked()
        type_into(page, "#id_when-minute", "0")
        type_into(page, "#id_when-hour", "2")
        type_into(page, "#id_when-timezone", "Europe/Berlin")
        found = problems_in_both_themes(page, "schedule form", f"schedule-form-{width}")
        page.keyboard.press("Enter")

        expect(page.locator("#schedule-title")).to_be_visible(timeout=STEP)
        expect(page.locator("#schedule-detail")).to_contain_text("At 02:00 (Europe/Berlin)")
        schedule = Schedule.objects.get()
        assert (schedule.name, schedule.params, schedule.owner) == (
            "demo.quick",
            {"x": 20, "y": 22},
            user,
        )
        assert schedule.periodic_task.crontab.hour == "2"
        found += problems_in_both_themes(page, "schedule page", f"schedule-page-{width}")

        page.goto(live_server.url + reverse("taskboard:schedule_list"))
        expect(page.locator(f"#schedule-{schedule.pk}")).to_contain_text("At 02:00")
        found += problems_in_both_themes(page, "schedules", f"schedules-{width}")
        assert not found, "\n".join(found)
    finally:
        page.context.close()


def test_run_on_a_schedule_from_the_launch_dialog_carries_the_values(
    browser: Browser, live_server, user
):
    page = logged_in(browser, live_server, user, 1280)
    try:
        page.goto(live_server.url + reverse("taskboard:task_list"))
        page.keyboard.press("n")
        dialog = page.locator("#launch-dialog")
        expect(dialog).to_be_visible(timeout=STEP)
        form = pick(dialog, "demo.quick")
        form.locator('[name="x"]').fill("7")
        form.locator('[name="y"]').fill("8")
        form.get_by_role("button", name="Run on a schedule…").click()
        expect(page.locator("#schedule-form")).to_be_visible(timeout=STEP)
        assert page.url.endswith("/schedules/new/demo.quick/?x=7&y=8")
        expect(page.locator("#launch-x")).to_have_value("7")
        expect(page.locator("#launch-y")).to_have_value("8")
        assert not Schedule.objects.exists()
    finally:
        page.context.close()


def test_schedules_page_screenshot(browser: Browser, live_server, user):
    """The README's picture of /schedules/ (TASKBOARD_SCREENSHOTS=1 writes it there)."""
    nightly = services.schedule_create(
        user=user,
        name="taskboard.export_csv",
        params={"days": "30"},
        timing=Timing(crontab=("0", "2", "*", "*", "*"), timezone="Europe/Berlin"),
    )
    often = services.schedule_create(
        user=user, name="demo.quick", params={"x": "2", "y": "3"}, timing=Timing(10, "minutes")
    )
    weekly = services.schedule_create(
        user=user,
        name="demo.fail",
        params={"message": "weekly check"},
        timing=Timing(crontab=("30", "6", "*", "*", "1"), timezone="UTC"),
    )
    TaskFactory(owner=user, name="taskboard.export_csv", schedule=nightly, completed=True)
    TaskFactory(owner=user, schedule=often, completed=True)
    TaskFactory(owner=user, name="demo.fail", schedule=weekly, failed=True)
    services.schedule_set_enabled(user=user, schedule=weekly, enabled=False)
    # A deploy renamed its task: the page says so.
    Schedule.objects.filter(pk=weekly.pk).update(name="demo.weekly_report")
    page = logged_in(browser, live_server, user, 1280)
    try:
        page.goto(live_server.url + reverse("taskboard:schedule_list"))
        expect(page.locator(f"#schedule-{weekly.pk}.broken")).to_be_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "schedules.png"), full_page=True)

        # A schedule's page at desktop width: its runs as task table rows, one in flight.
        TaskFactory(owner=user, schedule=often, running=True)
        TaskFactory(owner=user, schedule=often, failed=True, error_message="x must be > 0")
        page.goto(live_server.url + reverse("taskboard:schedule_detail", args=[often.pk]))
        expect(page.locator("#task-rows tr.task-row")).to_have_count(3)
        assert problems_in_both_themes(page, "schedule with runs", "schedule-runs-1280") == []
    finally:
        page.context.close()


def test_disable_run_now_and_delete_from_the_schedule_page(browser: Browser, live_server, user):
    schedule = services.schedule_create(
        user=user, name="demo.quick", params={"x": "1", "y": "2"}, timing=Timing(1, "days")
    )
    page = logged_in(browser, live_server, user, 1280)
    try:
        page.goto(live_server.url + reverse("taskboard:schedule_detail", args=[schedule.pk]))
        page.get_by_role("button", name="Disable").click()
        expect(page.get_by_role("button", name="Enable")).to_be_visible(timeout=STEP)
        assert not Schedule.objects.get().enabled

        page.get_by_role("button", name="Run now").click()
        expect(page.locator("#task-title")).to_be_visible(timeout=STEP)
        run = schedule.runs.get()
        assert page.url.endswith(reverse("taskboard:task_detail", args=[run.pk]))

        page.goto(live_server.url + reverse("taskboard:schedule_detail", args=[schedule.pk]))
        # The run is a row of the task table there, the same as on /tasks/ (in whatever
        # state it is by now: a worker from an earlier test of the session may run it).
        expect(page.locator(f"#task-rows tr#task-{run.pk}.task-row .badge")).to_be_visible()
        page.get_by_role("button", name="Delete", exact=True).click()
        expect(page.locator("#confirm-dialog")).to_be_visible(timeout=STEP)
        page.keyboard.press("Enter")
        expect(page.locator("h1", has_text="Schedules")).to_be_visible(timeout=STEP)
        assert page.url.endswith(reverse("taskboard:schedule_list"))
        assert not Schedule.objects.exists()
    finally:
        page.context.close()
