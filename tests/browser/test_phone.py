"""Every page on a phone: nothing scrolls sideways and nothing is cut off, in both themes.

Real server (live_server), Chromium at 360 and 390 px wide, for a staff user and a plain one.
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from taskboard import services
from taskboard.models import Task, TaskLog
from taskboard.services import notify
from taskboard.timing import Timing
from tests.factories import TaskFactory

# Pictures for review, not for the README: they never go into docs/screenshots.
REVIEW = Path(tempfile.gettempdir()) / "taskboard-screenshots" / "review"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STEP = 15_000  # ms: one page step on a busy machine

# Returns what spills past the right (or left) edge of the viewport: the page's own
# sideways scroll, and every visible element cut off by the edge. Content inside a box
# that clips or scrolls it (a traceback, an ellipsis) and fits the viewport is fine.
OVERFLOW = """
() => {
  const width = window.innerWidth;
  const problems = [];
  const scroll = document.scrollingElement.scrollWidth;
  if (scroll > width) problems.push(`page scrolls sideways: ${scroll} > ${width}`);
  const name = (el) => {
    const classes = typeof el.className === "string" ? el.className.trim().split(/\\s+/) : [];
    return [el.tagName.toLowerCase() + (el.id ? "#" + el.id : ""), ...classes].join(".");
  };
  const clippedInside = (el) => {
    for (let up = el.parentElement; up && up !== document.documentElement; up = up.parentElement) {
      if (getComputedStyle(up).overflowX !== "visible") {
        const box = up.getBoundingClientRect();
        return box.right <= width + 0.5 && box.left >= -0.5;
      }
    }
    return false;
  };
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    // Not rendered, or parked off screen on purpose (the skip link).
    if (box.width === 0 || box.height === 0 || box.right <= 0) continue;
    if (getComputedStyle(el).visibility === "hidden") continue;
    if (box.right <= width + 0.5 && box.left >= -0.5) continue;
    if (clippedInside(el)) continue;
    problems.push(`${name(el)} spans ${Math.round(box.left)}..${Math.round(box.right)}`);
    if (problems.length > 12) break;
  }
  // The task table keeps its key columns in view, not scrolled away inside its box.
  for (const cell of document.querySelectorAll("table.tasks :is(.c-status, .c-name, .c-actions)")) {
    const box = cell.getBoundingClientRect();
    if (box.width && (box.right > width + 0.5 || box.left < -0.5)) {
      const span = `${Math.round(box.left)}..${Math.round(box.right)}`;
      problems.push(`${name(cell)} of the task table spans ${span}`);
      break;
    }
  }
  return problems;
}
"""

LONG_WORD = "s3://taskboard-exports/" + "very-long-path-segment-without-spaces-" * 8 + "report.csv"


def long_failure(owner) -> Task:
    """Create a failed task with long arguments, a long message and a wide traceback."""
    frames = "".join(
        f'  File "/srv/taskboard/.venv/lib/python3.11/site-packages/some/deeply/nested/package/'
        f'module_{i}.py", line {100 + i}, in a_function_with_a_rather_long_name_{i}\n'
        f"    result = call_something_else(argument_one, argument_two, {LONG_WORD!r})\n"
        for i in range(12)
    )
    now = timezone.now()
    return Task.objects.create(
        name="taskboard.export_csv",
        status="failed",
        owner=owner,
        kwargs={"destination": LONG_WORD, "columns": ["id", "name", "status"] * 12, "days": 30},
        error_type="botocore.exceptions.EndpointConnectionError",
        error_message=f"Could not connect to the endpoint URL: {LONG_WORD}",
        traceback=(
            f"Traceback (most recent call last):\n{frames}EndpointConnectionError: {LONG_WORD}"
        ),
        created_at=now - timedelta(minutes=3),
        started_at=now - timedelta(minutes=3),
        finished_at=now - timedelta(minutes=2),
        queue="reports-with-a-long-queue-name",
    )


def seed(owner) -> dict[str, str]:
    """Create rows in every state and return the pages that show them."""
    failed = long_failure(owner)
    now = timezone.now()
    made = {}
    for status in ("pending", "running", "completed", "cancelled"):
        made[status] = Task.objects.create(
            name="demo.long",
            status=status,
            owner=owner,
            kwargs={"seconds": 60, "steps": 60, "label": LONG_WORD},
            created_at=now - timedelta(minutes=1),
            started_at=now - timedelta(minutes=1) if status != "pending" else None,
            finished_at=now if status in ("completed", "cancelled") else None,
        )
    bulk = services.bulk_prepare(
        user=owner, action="retry", queryset=Task.objects.filter(pk=failed.pk), selected=1
    )
    root, step = workflow(owner)
    TaskLog.objects.create(
        task=made["completed"],
        entries=[[now.timestamp(), "WARNING", f"copied {LONG_WORD}"]] * 30,
        dropped=12,
        text=f"copied {LONG_WORD}",
    )
    later = TaskFactory(
        owner=owner, name="demo.long", status="scheduled", run_at=now + timedelta(hours=1)
    )
    schedule = services.schedule_create(
        user=owner,
        name="demo.quick",
        params={"x": 1, "y": 2},
        timing=Timing(crontab=("0", "2", "*", "*", "1-5"), timezone="Europe/Berlin"),
    )
    # Its runs are task table rows on its page: one of each kind a phone must fit.
    for kind in ("completed", "failed", "running"):
        TaskFactory(owner=owner, name="demo.quick", schedule=schedule, **{kind: True})
    notify.subscription_toggle(user=owner, task=made["running"])
    return {
        "tasks": reverse("taskboard:task_list"),
        "failed tab": reverse("taskboard:task_list") + "?status=failed",
        "detail": reverse("taskboard:task_detail", args=[failed.pk]),
        "catalog": reverse("taskboard:launch_catalog"),
        "launch form": reverse("taskboard:launch", args=["taskboard.export_csv"]),
        "failures": reverse("taskboard:failure_list"),
        "charts": reverse("taskboard:charts"),
        "charts week": reverse("taskboard:charts") + "?range=week",
        "tokens": reverse("taskboard:token_list"),
        "bulk confirm": reverse("taskboard:bulk_confirm", args=[bulk.pk]),
        # Where Retry and Cancel lead without JavaScript.
        "retry confirm": reverse("taskboard:task_retry", args=[failed.pk]),
        "cancel confirm": reverse("taskboard:task_cancel", args=[made["running"].pk]),
        "running detail": reverse("taskboard:task_detail", args=[made["running"].pk]),
        "workflow step": reverse("taskboard:task_detail", args=[step.pk]),
        "every step": reverse("taskboard:task_list") + "?steps=all",
        "cancel workflow": reverse("taskboard:workflow_cancel", args=[root.pk]),
        "stored log": reverse("taskboard:task_detail", args=[made["completed"].pk]),
        "log without javascript": reverse("taskboard:task_log", args=[made["completed"].pk]),
        "scheduled": reverse("taskboard:task_detail", args=[later.pk]),
        "send now confirm": reverse("taskboard:task_send_now", args=[later.pk]),
        "schedules": reverse("taskboard:schedule_list"),
        "schedule": reverse("taskboard:schedule_detail", args=[schedule.pk]),
        "new schedule": reverse("taskboard:schedule_create", args=["demo.quick"]),
        "edit schedule": reverse("taskboard:schedule_edit", args=[schedule.pk]),
        "delete schedule": reverse("taskboard:schedule_delete", args=[schedule.pk]),
        "notifications": reverse("taskboard:notification_list"),
    }


def workflow(owner) -> tuple[Task, Task]:
    """Create a chord's rows (a group of five fetches, one failed, and its callback)."""
    root = TaskFactory(owner=owner, name="demo.fetch_page", completed=True)
    group = uuid.uuid4()
    nodes = [root] + [
        TaskFactory(owner=owner, name="demo.fetch_page", completed=True) for _ in range(3)
    ]
    nodes.append(TaskFactory(owner=owner, name="demo.fetch_page", failed=True))
    callback = TaskFactory(owner=owner, name="demo.merge_pages", failed=True)
    Task.objects.filter(pk__in=[node.pk for node in nodes]).update(
        root_id=root.pk, group_id=group, chord_id=callback.pk
    )
    Task.objects.filter(pk=callback.pk).update(root_id=root.pk)
    return root, nodes[-1]


def logged_in(browser: Browser, live_server, user, width: int) -> Page:
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": width, "height": 844})
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
    return page


def problems_in_both_themes(page: Page, label: str, shot: str = "") -> list[str]:
    found = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        found += [f"{label} ({scheme}): {problem}" for problem in page.evaluate(OVERFLOW)]
        if shot:
            REVIEW.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(REVIEW / f"{shot}-{scheme}.png"), full_page=True)
    return found


@pytest.mark.parametrize("width", [360, 390])
@pytest.mark.parametrize("role", ["staff", "plain"])
def test_every_page_fits_a_phone(browser: Browser, live_server, user, staff_user, role, width):
    who = staff_user if role == "staff" else user
    pages = seed(who)
    if role == "staff":
        pages |= {
            "ops": reverse("taskboard:ops"),
            "ops without javascript": reverse("taskboard:ops_snapshot"),
            "audit": reverse("taskboard:audit_list"),
            "routes": reverse("taskboard:route_list"),
            "webhooks": reverse("taskboard:webhook_list"),
        }
        hook = notify.webhook_create(
            actor=who, name="on-call pager", url="https://hooks.example.com/" + LONG_WORD[:60]
        )
        notify.route_create(actor=who, task_name="taskboard.export_csv", emails=[], webhook=hook)
        notify.route_create(actor=who, task_name="", emails=["ops@example.com"], webhook=None)
        pages["webhook"] = reverse("taskboard:webhook_detail", args=[hook.pk])
    page = logged_in(browser, live_server, who, width)
    shots = width == 360
    found: list[str] = []
    try:
        for label, path in pages.items():
            response = page.goto(live_server.url + path)
            assert response.status == 200, f"{label}: {response.status}"
            shot = f"phone-{role}-{label.replace(' ', '-')}" if shots else ""
            found += problems_in_both_themes(page, label, shot)

        page.goto(live_server.url + reverse("taskboard:task_list"))
        page.locator("[data-launch-open]").first.click()
        expect(page.locator("#launch-dialog #launch-form")).to_be_visible()
        found += problems_in_both_themes(
            page, "launch dialog", f"phone-{role}-launch-dialog" if shots else ""
        )

        page.goto(live_server.url + reverse("taskboard:token_list"))
        page.get_by_label("Name").fill("a script with a rather long name for its token")
        page.get_by_label("Name").press("Enter")
        expect(page.locator("#new-token-key")).to_be_visible()
        shot = f"phone-{role}-new-token" if shots else ""
        found += problems_in_both_themes(page, "new token", shot)

        anonymous = page.context.browser.new_context(viewport={"width": width, "height": 844})
        login = anonymous.new_page()
        login.goto(live_server.url + reverse("login"))
        found += problems_in_both_themes(login, "login", f"phone-{role}-login" if shots else "")
        anonymous.close()
    finally:
        page.context.close()
    assert not found, "\n".join(found)
