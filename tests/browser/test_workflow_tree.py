"""Launch the demo workflow from the catalog, watch its tree fill in, retry its failed step.

Real server (live_server), real worker, Chromium at desktop width and at 360 px, in
the light and the dark theme; the page is never reloaded while the tree moves.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from taskboard.models import Task
from tests.browser.confirming import confirm_in_page
from tests.browser.test_phone import OVERFLOW
from tests.conftest import SCREENSHOTS, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FINAL = 45_000  # ms: a workflow's last step on a busy machine
STEP = 15_000  # ms: one server round trip on a busy machine


@pytest.mark.parametrize("width", [1280, 360])
def test_launch_the_demo_workflow_watch_its_tree_and_retry_its_failed_step(
    authed_page: Page, live_server, celery_worker, width
):
    page = authed_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/launch/")
    page.get_by_role("link", name=re.compile("Fetch pages, then merge")).first.click()
    form = page.locator('form[action="/launch/demo.pages/"]')
    form.locator('[name="pages"]').fill("4")
    form.locator('[name="seconds"]').fill("1")
    form.locator('[name="fail_page"]').fill("3")
    form.get_by_role("button", name="Launch").click()
    expect(page).to_have_url(re.compile(r"/tasks/[0-9a-f-]{36}/$"), timeout=STEP)
    root_id = page.url.rstrip("/").rsplit("/", 1)[1]
    tree = page.locator("#workflow-tree")
    expect(tree).to_be_visible()
    page.evaluate("window.notReloaded = true")
    # Every node is on the page at once, before the steps end.
    nodes = wait_for(lambda: list(Task.objects.filter(root_id=root_id).order_by("created_at")))
    assert len(nodes) == 5
    expect(tree.locator(".wf-node")).to_have_count(5)
    expect(page.locator(f"#wf-node-{root_id}")).to_have_class(re.compile("is-current"))
    # The tree fills in without a reload: three pages done, one failed.
    expect(tree.locator(".wf-group-head")).to_contain_text("3 of 4 done, 1 failed", timeout=FINAL)
    failed = nodes[2]
    failed_line = page.locator(f"#wf-node-{failed.pk}")
    expect(failed_line.locator(".badge")).to_have_attribute("data-status", "failed")
    assert page.evaluate("window.notReloaded") is True

    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        assert page.evaluate(OVERFLOW) == []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        suffix = "" if width > 400 and scheme == "light" else f"-{width}-{scheme}"
        tree.screenshot(path=str(SCREENSHOTS / f"workflow{suffix}.png"))

    # Retry the failed step from the tree: its new run joins the same workflow.
    failed_line.get_by_role("button", name="Retry").click()
    confirm_in_page(page)
    retry = wait_for(lambda: Task.objects.filter(retry_of=failed.pk).first())
    expect(page).to_have_url(f"{live_server.url}/tasks/{retry.pk}/", timeout=STEP)
    assert str(retry.root_id) == root_id
    retry_line = page.locator(f"#wf-node-{retry.pk}")
    expect(retry_line).to_have_class(re.compile("is-current"))
    retry_badge = retry_line.locator(".badge")
    expect(retry_badge).to_have_attribute("data-status", "completed", timeout=FINAL)
    expect(page.locator("#workflow-tree .wf-group-head")).to_contain_text("4 of 4 done")
