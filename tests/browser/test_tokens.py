"""The API tokens page in Chromium: create a token, copy its key, use it, revoke it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from taskboard.models import ApiToken, Task
from taskboard.tokens import hash_key
from tests.browser.confirming import confirm_in_page
from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STEP = 15_000  # ms: one server round trip on a busy machine


def test_create_copy_use_and_revoke_a_token(authed_page: Page, live_server, user):
    page = authed_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    task = Task.objects.create(name="demo.quick", owner=user)
    page.goto(f"{live_server.url}/tasks/")
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    expect(page.locator("#tokens")).to_contain_text("No tokens yet.")
    page.evaluate("window.notReloaded = true")

    page.get_by_label("Name").fill("browser script")
    page.get_by_label("Name").press("Enter")
    key_box = page.locator("#new-token-key")
    expect(key_box).to_be_visible(timeout=STEP)
    key = key_box.inner_text().strip()
    token = ApiToken.objects.get(user=user)
    assert token.key_hash == hash_key(key) and token.name == "browser script"
    expect(page.locator(f"#token-{token.pk}")).to_contain_text(f"{token.prefix}…")

    page.get_by_role("button", name="Copy key").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == key
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "tokens.png"), full_page=True)

    api = f"{live_server.url}/api/tasks/"
    response = page.request.get(api, headers={"Authorization": f"Bearer {key}"})
    assert response.status == 200
    assert [item["id"] for item in response.json()["results"]] == [str(task.pk)]

    page.locator(f"#token-{token.pk}").get_by_role("button", name="Revoke").click()
    question = f"Revoke “browser script” ({token.prefix}…)?"
    expect(page.locator("#confirm-question")).to_have_text(question)
    confirm_in_page(page)
    expect(page.locator("#tokens .alert-info")).to_contain_text("Revoked “browser script”")
    expect(page.locator(f"#token-{token.pk}")).to_have_count(0)
    expect(page.locator("#new-token-key")).to_have_count(0)
    assert page.evaluate("window.notReloaded === true")
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    assert page.request.get(api, headers={"Authorization": f"Bearer {key}"}).status == 401
