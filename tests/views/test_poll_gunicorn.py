"""The poll through a real gunicorn, whose request line stops at 4,094 bytes (docs/architecture.md).

The test client has no such limit: a poll that carried its ids in the URL passed every
test there and got ``414 URI Too Long`` in production past about ninety rows in flight.
"""

from __future__ import annotations

import html
import http.client
import json
import re
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client

from taskboard.models import Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GUNICORN_LINE_LIMIT = 4094


class Browser:
    """Just enough of a browser: cookies, and requests sent the way htmx sends them."""

    def __init__(self, url: str, user):
        self.port = int(url.rsplit(":", 1)[1])
        client = Client()
        client.force_login(user)
        self.cookies = {
            settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value
        }

    def request(self, method: str, path: str, body: str | None = None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        sent.update(headers or {})
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        content = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        conn.close()
        return response.status, content


def poll_element(body: str) -> str:
    return re.search(r'<div id="poll"[^>]*>', body).group(0)


def attribute(element: str, name: str) -> str | None:
    found = re.search(rf'\s{name}="([^"]*)"', element)
    return html.unescape(found.group(1)) if found else None


def csrf_header(page: str) -> dict:
    """Return the CSRF header the page's <body hx-headers> gives every htmx request."""
    return json.loads(html.unescape(re.search(r"<body hx-headers='([^']*)'", page).group(1)))


def carried_ids(element: str) -> list[str]:
    if attribute(element, "hx-vals"):
        raw = json.loads(attribute(element, "hx-vals")).get("ids", "")
    else:
        # The old element carried its ids in its URL.
        raw = (attribute(element, "hx-get") or "").partition("?ids=")[2].partition("&")[0]
    return [item for item in raw.split(",") if item]


def poll_as_htmx_sends_it(browser: Browser, element: str, csrf: dict, extra: list[str]):
    """Send the poll ``element`` asks for, with ``extra`` ids joined as poll.js does.

    The element's method and URL, its hx-vals as the form body of a non-GET request
    (or the query of a GET one), the page's CSRF header, and HX-Request.
    """
    ids = carried_ids(element)
    known = {item.partition(":")[0] for item in ids}
    ids += [item for item in extra if item.partition(":")[0] not in known]
    headers = {**csrf, "HX-Request": "true", "HX-Current-URL": "/tasks/"}
    if attribute(element, "hx-post"):
        values = {**json.loads(attribute(element, "hx-vals") or "{}"), "ids": ",".join(ids)}
        return browser.request("POST", attribute(element, "hx-post"), urlencode(values), headers)
    path = attribute(element, "hx-get").partition("?")[0]
    return browser.request("GET", f"{path}?{urlencode({'ids': ','.join(ids)})}", headers=headers)


def in_flight(user, rows: int) -> list[Task]:
    # Version 2 while the page shows 1: every polled row has changed, and is answered.
    return Task.objects.bulk_create(
        [Task(name="demo.long", status="running", owner=user, version=2) for _ in range(rows)]
    )


def swapped(body: str) -> set[str]:
    return set(re.findall(r'<template><tr id="task-([0-9a-f-]{36})"', body))


@pytest.mark.parametrize("rows", [500, 2000])
def test_poll_of_many_rows_in_flight_answers_through_gunicorn(gunicorn_url, user, rows):
    browser = Browser(gunicorn_url, user)
    tasks = in_flight(user, rows)
    status, page = browser.request("GET", "/tasks/")
    assert status == 200
    csrf, element = csrf_header(page), poll_element(page)
    on_page = {item.partition(":")[0] for item in carried_ids(element)}
    assert len(on_page) == 25
    # The page draws 25 of them, as they are; the others joined it later (launches
    # from the dialog), drawn at version 1, and poll.js adds them to the next poll.
    extra = [f"{task.pk}:1.r" for task in tasks]
    status, body = poll_as_htmx_sends_it(browser, element, csrf, extra)
    assert status == 200, body[:300]
    answered = swapped(body)
    assert not answered & on_page
    assert len(answered) == min(rows, settings.TASKBOARD_POLL_MAX_IDS) - len(on_page)
    # The next poll carries every row still running, in a request line gunicorn accepts.
    element = poll_element(body)
    assert len(carried_ids(element)) == rows
    assert len(attribute(element, "hx-post")) < GUNICORN_LINE_LIMIT
    # More rows than one poll reads are read in turns: each is answered once.
    while len(answered) < rows - len(on_page):
        status, body = poll_as_htmx_sends_it(browser, poll_element(body), csrf, [])
        assert status == 200, body[:300]
        fresh = swapped(body)
        assert fresh and not fresh & answered
        answered |= fresh
    assert answered == {str(task.pk) for task in tasks} - on_page


def test_poll_through_gunicorn_is_refused_without_csrf(gunicorn_url, user):
    browser = Browser(gunicorn_url, user)
    (task,) = in_flight(user, 1)
    status, _ = browser.request("POST", "/tasks/status/", body=urlencode({"ids": f"{task.pk}:1.r"}))
    assert status == 403
