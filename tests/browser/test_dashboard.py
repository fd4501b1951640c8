"""The dashboard in Chromium: live rows, polling that stops, keyboard filtering, Back.

Real server (live_server), real worker, real Redis and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from celery import current_app
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from taskboard import services
from taskboard.models import TERMINAL, Status, Task
from tests.browser.confirming import confirm_in_page
from tests.conftest import SCREENSHOTS, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FINAL = 30_000  # ms: time a row may take to reach its final state on a busy machine

# Records every progress value each row shows, so a test can see the bar move.
RECORD_PROGRESS = """
window.seenProgress = {};
setInterval(function () {
  document.querySelectorAll("tr.task-row progress").forEach(function (bar) {
    var id = bar.closest("tr").id;
    (window.seenProgress[id] = window.seenProgress[id] || []).push(bar.value);
  });
}, 100);
"""


def badge(page: Page, task: Task):
    return page.locator(f"#task-{task.pk} .badge")


def finished_rows(user, *, now=None) -> list[Task]:
    """Create finished rows in every terminal state, for a table with a mix of states."""
    now = now or timezone.now()
    rows = [
        Task(
            name="demo.quick",
            status="completed",
            owner=user,
            kwargs={"x": 2, "y": 3},
            result=5,
            created_at=now - timedelta(minutes=9),
            started_at=now - timedelta(minutes=9),
            finished_at=now - timedelta(minutes=9) + timedelta(milliseconds=120),
        ),
        Task(
            name="taskboard.export_csv",
            status="completed",
            owner=user,
            kwargs={"status": "failed", "name": "", "days": 30},
            created_at=now - timedelta(minutes=7),
            started_at=now - timedelta(minutes=7),
            finished_at=now - timedelta(minutes=7) + timedelta(seconds=3, milliseconds=400),
        ),
        Task(
            name="demo.long",
            status="cancelled",
            owner=user,
            kwargs={"seconds": 60, "steps": 60},
            error_message="Cancelled by user while running",
            created_at=now - timedelta(minutes=5),
            started_at=now - timedelta(minutes=5),
            finished_at=now - timedelta(minutes=4, seconds=31),
        ),
        Task(
            name="demo.flaky",
            status="failed",
            owner=user,
            kwargs={"failures": 5},
            error_type="FlakyError",
            error_message="attempt 6 failed",
            attempts=6,
            created_at=now - timedelta(minutes=3),
            started_at=now - timedelta(minutes=3),
            finished_at=now - timedelta(minutes=2, seconds=29),
        ),
    ]
    return Task.objects.bulk_create(rows)


def test_dashboard_rows_go_live_and_polling_stops(
    authed_page: Page, live_server, celery_worker, user
):
    page = authed_page
    page.set_viewport_size({"width": 1280, "height": 720})
    page.add_init_script(RECORD_PROGRESS)
    polls: list[str] = []
    page.on(
        "request", lambda request: "/tasks/status/" in request.url and polls.append(request.url)
    )
    finished_rows(user, now=timezone.now() - timedelta(minutes=1))
    quick = services.task_launch(user=user, name="demo.quick", params={"x": 20, "y": 22})
    fail = services.task_launch(
        user=user, name="demo.fail", params={"message": "disk full on /var/data"}
    )
    # Long enough that a 2 s poll sees the bar at two places at least, on a busy machine too.
    long = services.task_launch(user=user, name="demo.long", params={"seconds": 8, "steps": 8})

    page.goto(f"{live_server.url}/tasks/")
    page.evaluate("window.notReloaded = true")
    expect(page.locator(f"#task-{long.pk} progress")).to_be_visible(timeout=FINAL)
    # Polled from Python: wait_for_function would eval in the page, which the CSP forbids.
    wait_for(
        lambda: page.evaluate(f"document.querySelector('#task-{long.pk} progress')?.value >= 25"),
        timeout=FINAL / 1000,
        message="the progress bar to reach 25%",
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"))

    expect(badge(page, quick)).to_have_attribute("data-status", "completed", timeout=FINAL)
    expect(badge(page, fail)).to_have_attribute("data-status", "failed", timeout=FINAL)
    expect(badge(page, long)).to_have_attribute("data-status", "completed", timeout=FINAL)
    assert page.evaluate("window.notReloaded") is True
    seen = page.evaluate(f"window.seenProgress['task-{long.pk}']")
    assert len(set(seen)) >= 2, f"the progress bar did not move: {sorted(set(seen))}"

    # Once the database has every row finished, the poll comes back without its trigger.
    wait_for(
        lambda: all(
            t.status in TERMINAL for t in Task.objects.filter(pk__in=[quick.pk, fail.pk, long.pk])
        ),
        message="every row finished in the database",
    )
    expect(page.locator("#poll[hx-post]")).to_have_count(0, timeout=FINAL)
    # The tabs' counts followed the rows (4 completed, 2 failed, 1 cancelled in all).
    expect(page.locator('#status-tabs [data-tab="completed"] .count')).to_have_text("4")
    expect(page.locator('#status-tabs [data-tab="failed"] .count')).to_have_text("2")
    expect(page.locator('#status-tabs [data-tab="pending"] .count')).to_have_text("0")
    expect(page.locator("tr.task-row[data-poll]")).to_have_count(0)
    assert polls, "the page never polled"
    before = len(polls)
    page.wait_for_timeout(5_000)
    assert len(polls) == before, f"polled after every row finished: {polls[before:]}"


def test_dashboard_filter_to_failed_with_the_keyboard_only(authed_page: Page, live_server, user):
    page = authed_page
    finished_rows(user)
    failed = Task.objects.create(
        name="demo.fail",
        status="failed",
        owner=user,
        error_type="DemoFailure",
        error_message="boom",
    )
    Task.objects.create(name="demo.fail", status="completed", owner=user)
    page.goto(f"{live_server.url}/tasks/")

    page.keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("demo.fail")
    expect(page).to_have_url(f"{live_server.url}/tasks/?q=demo.fail")
    expect(page.locator("#task-rows tr.task-row")).to_have_count(2)
    page.keyboard.press("Escape")
    expect(page.locator("#q")).not_to_be_focused()
    # The Failed tab's key, as the tabs are numbered (taskboard/status.py).
    page.keyboard.press(next(key for key, value, _ in Status.tabs() if value == "failed"))
    expect(page).to_have_url(f"{live_server.url}/tasks/?q=demo.fail&status=failed")
    expect(page.locator("#status-tabs .tab.active")).to_have_attribute("data-tab", "failed")
    expect(page.locator("#task-rows tr.task-row")).to_have_count(1)
    page.keyboard.press("j")
    row = page.locator(f"#task-{failed.pk}")
    expect(row).to_be_focused()
    expect(row).to_have_attribute("aria-current", "true")
    expect(page.locator("#kbd-status")).to_contain_text("demo.fail")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/tasks/{failed.pk}/")


def test_dashboard_back_button_restores_the_previous_filter(authed_page: Page, live_server, user):
    page = authed_page
    finished_rows(user)
    page.goto(f"{live_server.url}/tasks/")
    page.locator('#status-tabs [data-tab="failed"]').click()
    expect(page).to_have_url(f"{live_server.url}/tasks/?status=failed")
    page.locator("#q").fill("flaky")
    expect(page).to_have_url(f"{live_server.url}/tasks/?q=flaky&status=failed")
    page.locator('#status-tabs [data-tab="cancelled"]').click()
    expect(page).to_have_url(f"{live_server.url}/tasks/?q=flaky&status=cancelled")
    expect(page.locator("#task-rows tr.task-row")).to_have_count(0)

    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/tasks/?q=flaky&status=failed")
    expect(page.locator("#status-tabs .tab.active")).to_have_attribute("data-tab", "failed")
    expect(page.locator("#q")).to_have_value("flaky")
    expect(page.locator("#task-rows tr.task-row")).to_have_count(1)

    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/tasks/?status=failed")
    expect(page.locator("#q")).to_have_value("")
    expect(page.locator("#task-rows tr.task-row")).to_have_count(1)
    page.go_forward()
    expect(page.locator("#q")).to_have_value("flaky")


def test_dashboard_focus_survives_a_live_row_update(authed_page: Page, live_server, user):
    page = authed_page
    task = Task.objects.create(name="demo.long", status="running", owner=user)
    page.goto(f"{live_server.url}/tasks/")
    page.keyboard.press("j")
    row = page.locator(f"#task-{task.pk}")
    expect(row).to_be_focused()
    current_app.backend.store_result(
        str(task.pk), {"current": 3, "total": 4, "message": "almost"}, "PROGRESS"
    )
    try:
        expect(row.locator("progress")).to_have_attribute("value", "75", timeout=FINAL)
        expect(row).to_be_focused()
        expect(row).to_have_attribute("aria-current", "true")
    finally:
        current_app.backend.forget(str(task.pk))


def test_dashboard_cancel_the_focused_row_with_c(authed_page: Page, live_server, user):
    page = authed_page
    finished_rows(user)
    # Never sent to a worker: it stays pending until cancelled.
    pending = Task.objects.create(name="demo.long", status="pending", owner=user)
    page.goto(f"{live_server.url}/tasks/")
    page.keyboard.press("j")
    row = page.locator(f"#task-{pending.pk}")
    expect(row).to_be_focused()
    # c cancels the row; x selects it for a bulk action (tests/browser/test_bulk.py).
    page.keyboard.press("c")
    confirm_in_page(page)
    expect(row.locator(".badge")).to_have_attribute("data-status", "cancelled", timeout=FINAL)
    expect(row).to_be_focused()
    pending.refresh_from_db()
    assert pending.status == "cancelled"


def test_dashboard_help_overlay_lists_the_keys(authed_page: Page, live_server):
    page = authed_page
    page.goto(f"{live_server.url}/tasks/")
    page.keyboard.press("?")
    help_dialog = page.locator("#kbd-help")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("Next/previous row")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()


def test_dashboard_phone_and_dark_screenshots(authed_page: Page, live_server, user):
    page = authed_page
    finished_rows(user)
    running = Task.objects.create(
        name="demo.long",
        status="running",
        owner=user,
        kwargs={"seconds": 30, "steps": 10},
        started_at=timezone.now(),
    )
    current_app.backend.store_result(
        str(running.pk), {"current": 6, "total": 10, "message": "step 7 of 10"}, "PROGRESS"
    )
    try:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{live_server.url}/tasks/")
        expect(page.locator(f"#task-{running.pk} progress")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "dashboard-phone.png"))
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page scrolls sideways on a phone by {overflow}px"
        page.emulate_media(color_scheme="dark")
        page.set_viewport_size({"width": 1280, "height": 600})
        page.screenshot(path=str(SCREENSHOTS / "dashboard-dark.png"))
    finally:
        current_app.backend.forget(str(running.pk))


def test_dashboard_works_without_javascript(browser, live_server, user):
    from django.conf import settings
    from django.test import Client

    finished_rows(user)
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
    try:
        page.goto(f"{live_server.url}/tasks/")
        page.locator('#status-tabs [data-tab="failed"]').click()
        expect(page).to_have_url(f"{live_server.url}/tasks/?status=failed")
        page.locator("#q").fill("flaky")
        page.get_by_role("button", name="Filter").click()
        # The search form carried the status tab along as a hidden input.
        # (A plain form sends its empty fields too; the links built from it do not.)
        expect(page).to_have_url(re.compile(r"/tasks/\?q=flaky&.*status=failed$"))
        expect(page.locator("#task-rows tr.task-row")).to_have_count(1)
        page.get_by_role("link", name="Task", exact=True).click()
        expect(page).to_have_url(f"{live_server.url}/tasks/?q=flaky&status=failed&sort=name")
    finally:
        context.close()


def test_page_with_500_rows_in_flight_keeps_polling(page: Page, gunicorn_url, user):
    """Rows launched from the dialog join the poll; 500 of them still fit its request.

    Through gunicorn, whose request-line limit a poll carrying its ids in the URL
    passed only up to about ninety rows.
    """
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": gunicorn_url}]
    )
    answers: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: "/tasks/status/" in r.url and answers.append((r.request.method, r.status)),
    )
    # Version 2 everywhere: a row drawn at version 1 is answered by the next poll.
    tasks = Task.objects.bulk_create(
        [Task(name="demo.long", status="running", owner=user, version=2) for _ in range(500)]
    )
    page.goto(f"{gunicorn_url}/tasks/")
    expect(page.locator("#task-rows tr[data-poll]")).to_have_count(25)
    drawn = set(
        page.eval_on_selector_all("#task-rows tr[data-poll]", "rows => rows.map(r => r.id)")
    )
    # What a launch response does: insert a row carrying data-poll into #task-rows.
    later = [str(t.pk) for t in tasks if f"task-{t.pk}" not in drawn]
    page.evaluate(
        """ids => { const body = document.getElementById("task-rows");
          ids.forEach(id => { const row = document.createElement("tr");
            row.id = "task-" + id; row.className = "task-row";
            row.setAttribute("data-poll", id + ":1.r"); body.appendChild(row); }); }""",
        later,
    )
    expect(page.locator("#task-rows tr[data-poll]")).to_have_count(500)
    # The next poll carries all 500 and answers each of the 475 with its real row.
    expect(page.locator('#task-rows tr[data-poll$=":1.r"]')).to_have_count(0, timeout=FINAL)
    expect(page.locator("#task-rows tr.task-row .badge")).to_have_count(500)
    assert answers and all(status in (200, 204) for _, status in answers), answers
    assert {method for method, _ in answers} == {"POST"}
