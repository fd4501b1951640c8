"""Answer the page's confirmation dialog (static/taskboard/js/confirm.js) from a browser test."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def confirm_in_page(page: Page, key: str = "Enter") -> None:
    """Wait for the confirmation dialog, press ``key`` (Enter: yes, Escape: back), see it close."""
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-yes")).to_be_focused()
    page.keyboard.press(key)
    expect(dialog).to_be_hidden()
