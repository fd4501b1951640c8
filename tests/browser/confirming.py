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


def settled(page: Page) -> None:
    """Wait until htmx has processed what it last swapped in (it drops htmx-added then).

    htmx binds a swapped-in form to itself when the swap settles, about 20 ms later: a
    key pressed in between submits the bare form, which opens its no-JS confirmation
    page instead of the dialog. A test that acts right after a live update waits here.
    """
    expect(page.locator(".htmx-added")).to_have_count(0)
