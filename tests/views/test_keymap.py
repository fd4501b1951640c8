"""One key map: taskboard/keymap.py, the README's "Keys" line and each page's ``?`` overlay."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from taskboard.keymap import KEYS, keys_for, readme_line
from taskboard.models import Task

README = settings.BASE_DIR / "README.md"


def overlay_keys(body: str) -> list[str]:
    """Return the keys the page's ``?`` overlay lists, as "j/k", "1–7", "?"."""
    overlay = body.split('id="kbd-help"', 1)[1].split("</dialog>", 1)[0]
    return [
        re.sub(r"</?kbd>", "", dt).strip()
        for dt in re.findall(r"<dt>(.*?)</dt>", overlay, flags=re.S)
    ]


def names(keys) -> list[str]:
    return [key.joiner.join(key.keys) for key in keys]


def test_readme_keys_line_is_the_keymap():
    readme = " ".join(README.read_text().split())
    assert f"Keys: {readme_line()}." in readme


def test_keymap_has_the_intended_keys():
    assert names(KEYS) == ["/", "Esc", "j/k", "Enter", "n", "r", "c", "x", "1–7", "?"]
    labels = {key.joiner.join(key.keys): key.label for key in KEYS}
    assert labels["c"] == "cancel" and labels["x"] == "tick the row"


@pytest.mark.django_db
def test_overlay_on_the_task_list_lists_every_key(alice):
    body = alice.get("/tasks/").content.decode()
    assert overlay_keys(body) == names(KEYS)
    assert "<dd>Tick the row</dd>" in body


@pytest.mark.django_db
def test_overlay_on_a_task_page_lists_only_its_keys(alice, user):
    task = Task.objects.create(name="demo.long", status="pending", owner=user)
    body = alice.get(f"/tasks/{task.pk}/").content.decode()
    assert overlay_keys(body) == ["Esc", "n", "r", "c", "?"]
    assert overlay_keys(body) == names(keys_for("task_detail", True))


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/launch/", "/tokens/", "/tasks/failures/"])
def test_overlay_elsewhere_lists_esc_n_and_help(alice, path):
    body = alice.get(path).content.decode()
    assert overlay_keys(body) == ["Esc", "n", "?"]


@pytest.mark.django_db
def test_overlay_on_the_login_page_has_no_launch_key(client):
    body = client.get("/accounts/login/").content.decode()
    assert overlay_keys(body) == ["Esc", "?"]


@pytest.mark.django_db
def test_every_page_has_the_launch_link_that_n_follows(alice):
    body = alice.get("/tokens/").content.decode()
    assert re.search(r'<a href="/launch/"[^>]*data-key="n"', body)


@pytest.mark.django_db
def test_task_page_cancel_button_answers_c_not_x(alice, user):
    task = Task.objects.create(name="demo.long", status="pending", owner=user)
    body = alice.get(f"/tasks/{task.pk}/").content.decode()
    assert 'data-key="c" aria-keyshortcuts="c">Cancel <kbd>c</kbd>' in body
    assert 'data-key="x"' not in body
