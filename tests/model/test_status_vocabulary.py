"""One status vocabulary: taskboard/status.py's ``Status``; everything else is drawn from it."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from taskboard import live
from taskboard.filters import TaskFilter
from taskboard.forms import ExportForm
from taskboard.keymap import KEYS
from taskboard.live import badge
from taskboard.models import Task
from taskboard.status import IN_FLIGHT, TERMINAL, UNKNOWN, UNKNOWN_LABEL, UNKNOWN_RANK, Status

KEYS_JS = settings.BASE_DIR / "taskboard" / "static" / "taskboard" / "js" / "keys.js"


def rendered_tabs(body: str) -> list[tuple[str, str, str]]:
    """Return each status tab on the page as (its key, its data-tab, its label)."""
    nav = body.split('id="status-tabs"', 1)[1].split("</nav>", 1)[0]
    return re.findall(
        r'data-tab="([^"]*)" data-key="([^"]*)" aria-keyshortcuts="\2">\s*'
        r'<span class="tab-label">([^<]*)</span>',
        nav,
    )


def test_each_state_has_its_value_label_and_rank():
    assert [(s.value, s.label, s.rank) for s in Status] == [
        ("scheduled", "Scheduled", 0),
        ("pending", "Pending", 1),
        ("running", "Running", 2),
        ("completed", "Completed", 3),
        ("failed", "Failed", 3),
        ("cancelled", "Cancelled", 3),
    ]
    assert IN_FLIGHT == (Status.SCHEDULED, Status.PENDING, Status.RUNNING)
    assert TERMINAL == (Status.COMPLETED, Status.FAILED, Status.CANCELLED)


def test_unknown_is_a_badge_state_not_a_stored_one():
    assert UNKNOWN not in Status.values
    assert (UNKNOWN_LABEL, UNKNOWN_RANK) == ("Unknown", -1)
    assert Status.label_of(UNKNOWN) == "Unknown" and Status.rank_of(None) == -1


def test_badge_labels_and_ranks_come_from_the_vocabulary():
    for status in Status:
        assert badge(status.value, None).label == status.label
    assert badge(None, None).status == UNKNOWN
    assert badge(None, None).label == UNKNOWN_LABEL
    # The badge module keeps no copy of its own.
    assert not hasattr(live, "LABELS") and not hasattr(live, "RANK")


def test_search_form_and_filter_offer_the_vocabulary():
    assert ExportForm().fields["status"].choices == [("", "Any status"), *Status.choices]
    assert list(TaskFilter().filters["status"].extra["choices"]) == Status.choices


@pytest.mark.django_db
def test_rendered_tabs_follow_the_vocabulary(alice):
    body = alice.get("/tasks/").content.decode()
    tabs = [(value or "all", key, label) for key, value, label in Status.tabs()]
    assert rendered_tabs(body) == tabs
    assert [key for _, key, _ in tabs] == ["1", "2", "3", "4", "5", "6", "7"]
    assert [label for *_, label in tabs] == [
        "All",
        "Scheduled",
        "Pending",
        "Running",
        "Completed",
        "Failed",
        "Cancelled",
    ]


@pytest.mark.django_db
def test_table_status_sort_follows_the_vocabulary(alice, user):
    # Created in the vocabulary's order: the default newest-first would list them backwards.
    for status in Status:
        Task.objects.create(name="x", status=status, owner=user)
    for path, expected in [("?sort=status", list(Status)), ("?sort=-status", list(Status)[::-1])]:
        body = alice.get(f"/tasks/{path}").content.decode()
        rows = body.split('id="task-rows"', 1)[1]
        assert re.findall(r'data-status="(\w+)"', rows) == expected, path


def test_keymap_tab_key_follows_the_vocabulary():
    tabs = Status.tabs()
    (key,) = [key for key in KEYS if key.keys[0] == "1"]
    assert key.keys == (tabs[0][0], tabs[-1][0])
    assert key.label == "status tabs (" + ", ".join(label.lower() for *_, label in tabs) + ")"


def test_keyboard_script_names_no_status():
    script = KEYS_JS.read_text()
    for word in [*Status.values, "all"]:
        assert not re.search(rf"[\"']{word}[\"']", script), word
