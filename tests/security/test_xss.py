"""Whatever a task, a user or an exception produced renders inert (issue 4).

Task names, arguments, results, error types and messages, tracebacks, worker and
queue names, usernames, search terms and live progress messages carry script tags,
attribute break-outs, htmx attributes and template syntax. Each page and fragment
is parsed and must hold no live tag or attribute from them, the text must show
escaped, and ``{{ 7*7 }}`` must show as written (never evaluated).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from celery import current_app
from django.utils import timezone

from taskboard import services
from taskboard.maintenance import export_path
from taskboard.models import Task

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
HTMX = 'hx-get="/x"'
SQUOTE = "' hx-get='/x' hx-trigger='load' onmouseover='alert(1)"
TEMPLATE = "{{ 7*7 }}"
# Template syntax first: it must survive the 100-character name.
PAYLOADS = (TEMPLATE, SCRIPT, IMG, HTMX, SQUOTE)
EVIL = " ".join(PAYLOADS)
HX = {"HX-Request": "true"}


class Elements(HTMLParser):
    """Collect every start tag with its attributes, and the text inside <script>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def assert_inert(html: str) -> None:
    """Assert that no payload became a tag, an attribute or a script."""
    parsed = Elements()
    parsed.feed(html)
    parsed.close()
    for tag, attrs in parsed.tags:
        assert tag != "img", f"live <img>: {attrs}"
        for name, value in attrs:
            assert not name.startswith("on"), f"live event handler on <{tag}>: {name}={value}"
            assert not name.startswith("hx-on"), f"live hx-on on <{tag}>: {name}"
            assert value != "/x", f"live htmx attribute on <{tag}>: {name}={value}"
    for tag, attrs in parsed.tags:
        if tag == "script":
            assert dict(attrs).get("src"), "an inline <script>"
    assert all(not body.strip() for body in parsed.scripts), "script with a body"


def assert_shown_escaped(html: str) -> None:
    """Assert that the payloads are on the page, as text."""
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "hx-get=&quot;/x&quot;" in html
    assert TEMPLATE in html


def evil_task(owner, status: str = "failed", **fields) -> Task:
    """A task whose every free-text field carries the payloads."""
    now = timezone.now()
    values = {
        "name": EVIL[:100],
        "status": status,
        "owner": owner,
        "args": list(PAYLOADS),
        "kwargs": {payload: payload for payload in PAYLOADS},
        "result": {"out": list(PAYLOADS), SCRIPT: EVIL} if status == "completed" else None,
        "error_type": EVIL[:200] if status == "failed" else "",
        "error_message": EVIL if status == "failed" else "",
        "traceback": f"Traceback (most recent call last):\n{EVIL}" if status == "failed" else "",
        "worker": EVIL,
        "queue": EVIL,
        "created_at": now,
        "started_at": now,
        "finished_at": now if status in ("completed", "failed", "cancelled") else None,
    }
    values.update(fields)
    return Task.objects.create(**values)


def test_payloads_are_really_live_markup():
    # The checker itself: unescaped, each payload is caught.
    for html in (
        f"<p>{SCRIPT}</p>",
        f'<p title="{IMG}">',
        f"<p {HTMX}>",
        f"<p title='{SQUOTE}'>",
    ):
        with pytest.raises(AssertionError):
            assert_inert(html)


# --- the table -----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["failed", "completed", "running"])
def test_table_renders_task_fields_inert(alice, user, status):
    evil_task(user, status)
    body = alice.get("/tasks/").content.decode()
    assert_inert(body)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_table_fragment_renders_task_fields_inert(alice, user):
    evil_task(user)
    body = alice.get("/tasks/", headers=HX).content.decode()
    assert_inert(body)
    assert_shown_escaped(body)


def test_table_shows_the_failed_rows_error_escaped(alice, user):
    evil_task(user)
    body = alice.get("/tasks/?status=failed").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert_inert(body)


def test_table_for_staff_renders_the_owner_name_inert(client, staff_user, django_user_model):
    # Usernames are validated by the forms, not by create_user: assume the worst.
    owner = django_user_model.objects.create_user(IMG, password="x-secret-pw")
    evil_task(owner)
    client.force_login(staff_user)
    body = client.get("/tasks/").content.decode()
    assert_inert(body)
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in body


@pytest.mark.parametrize("param", ["q", "name", "status", "sort", "page", "extra"])
def test_table_reflects_query_parameters_inert(alice, user, param):
    evil_task(user)
    for headers in ({}, HX):
        response = alice.get("/tasks/", {param: EVIL}, headers=headers)
        assert response.status_code == 200
        assert_inert(response.content.decode())


def test_table_search_box_keeps_the_search_escaped(alice):
    body = alice.get("/tasks/", {"q": IMG}).content.decode()
    assert 'value="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"' in body


def test_table_tabs_fragment_renders_inert(alice, user):
    evil_task(user)
    response = alice.get(
        "/tasks/", {"name": EVIL[:100]}, headers={**HX, "HX-Target": "status-tabs"}
    )
    assert_inert(response.content.decode())


# --- the detail page ----------------------------------------------------------------


@pytest.mark.parametrize("status", ["failed", "completed", "running", "cancelled"])
def test_detail_renders_task_fields_inert(alice, user, status):
    task = evil_task(user, status, error_message=EVIL)
    body = alice.get(f"/tasks/{task.pk}/").content.decode()
    assert_inert(body)
    assert_shown_escaped(body)


def test_detail_fragment_renders_task_fields_inert(alice, user):
    task = evil_task(user)
    body = alice.get(f"/tasks/{task.pk}/", headers=HX).content.decode()
    assert_inert(body)
    assert_shown_escaped(body)


def test_detail_shows_the_traceback_escaped(alice, user):
    task = evil_task(user)
    body = alice.get(f"/tasks/{task.pk}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body.split('id="traceback"', 1)[1]


def test_detail_renders_a_truncated_result_inert(alice, user, settings):
    settings.TASKBOARD_RESULT_MAX_BYTES = 200
    task = evil_task(user, "running")
    services.track_succeeded(task_id=task.pk, result={"x": EVIL * 20})
    body = alice.get(f"/tasks/{task.pk}/").content.decode()
    assert "shown truncated" in body
    assert_inert(body)


def test_detail_for_staff_renders_the_owner_name_inert(client, staff_user, django_user_model):
    owner = django_user_model.objects.create_user(SCRIPT, password="x-secret-pw")
    task = evil_task(owner)
    client.force_login(staff_user)
    body = client.get(f"/tasks/{task.pk}/").content.decode()
    assert_inert(body)


def test_detail_renders_a_file_result_name_inert(alice, user, settings, tmp_path):
    settings.TASKBOARD_EXPORT_DIR = tmp_path
    task = evil_task(user, "completed", name="taskboard.export_csv")
    task.result = {"file": f"{IMG}.csv", "rows": 1}
    task.save()
    with open(export_path(task.pk), "w") as handle:
        handle.write("id\n")
    body = alice.get(f"/tasks/{task.pk}/").content.decode()
    assert_inert(body)
    download = alice.get(f"/tasks/{task.pk}/download/")
    assert download.status_code == 200
    assert "\n" not in download["Content-Disposition"]


@pytest.mark.parametrize("name", ["a\r\nSet-Cookie: x=1.csv", "a\nb.csv", 'a";b.csv'])
def test_download_name_cannot_inject_headers(alice, user, settings, tmp_path, name):
    settings.TASKBOARD_EXPORT_DIR = tmp_path
    task = evil_task(user, "completed", name="taskboard.export_csv", result={"file": name})
    with open(export_path(task.pk), "w") as handle:
        handle.write("id\n")
    response = alice.get(f"/tasks/{task.pk}/download/")
    assert response.status_code == 200
    assert not response.has_header("Set-Cookie") or "x=1" not in response["Set-Cookie"]
    assert "\n" not in response["Content-Disposition"]


def test_detail_action_refusal_renders_inert(alice, user):
    # A retry of a running task is refused with the detail page and a message.
    task = evil_task(user, "running")
    response = alice.post(f"/tasks/{task.pk}/retry/")
    assert response.status_code == 409
    assert_inert(response.content.decode())


# --- the poll fragment -------------------------------------------------------------


@pytest.mark.parametrize("status", ["failed", "completed", "running"])
def test_poll_fragment_renders_task_fields_inert(alice, user, status):
    task = evil_task(user, status, version=2)
    # The page drew version 1: the poll answers the row as an out-of-band swap.
    response = alice.get("/tasks/status/", {"ids": f"{task.pk}:1.r"})
    body = response.content.decode()
    assert f'id="task-{task.pk}"' in body
    assert_inert(body)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


@pytest.mark.integration
def test_poll_renders_a_live_progress_message_inert(alice, user):
    # The progress message comes from the task, through the result backend.
    task = evil_task(user, "running")
    current_app.backend.store_result(
        str(task.pk), {"current": 1, "total": 2, "message": EVIL}, "PROGRESS"
    )
    try:
        response = alice.get("/tasks/status/", {"ids": f"{task.pk}:1.r"})
        body = response.content.decode()
        assert 'class="pct"' in body
        assert_inert(body)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        detail = alice.get(f"/tasks/{task.pk}/").content.decode()
        assert_inert(detail)
    finally:
        current_app.backend.forget(str(task.pk))


# --- launch forms ---------------------------------------------------------------------


def test_launch_form_prefilled_from_a_retry_renders_inert(alice, user):
    task = evil_task(
        user, "completed", name="taskboard.export_csv", kwargs={"name": EVIL[:100], "days": 1}
    )
    body = alice.get(f"/launch/taskboard.export_csv/?retry_of={task.pk}").content.decode()
    assert_inert(body)
    assert re.search(r'name="name" value="[^"<>]*&lt;script&gt;alert\(1\)&lt;/script&gt;', body)


@pytest.mark.parametrize("htmx", [False, True])
def test_refused_launch_echoes_the_input_inert(alice, htmx):
    data = {"status": EVIL, "name": EVIL, "days": EVIL}
    response = alice.post("/launch/taskboard.export_csv/", data, headers=HX if htmx else {})
    assert response.status_code == (422 if htmx else 200)
    assert_inert(response.content.decode())
    assert Task.objects.count() == 0
