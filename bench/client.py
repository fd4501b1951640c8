"""A small HTTP client for the bench: a real login, cookies, and concurrent POSTs."""

from __future__ import annotations

import html
import http.client
import http.cookiejar
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Session:
    """A logged-in browser-like session against one server on 127.0.0.1."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def request(
        self, path: str, *, data: dict | None = None, headers: dict | None = None
    ) -> tuple[int, dict, bytes]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def cookie(self, name: str) -> str:
        for cookie in self.jar:
            if cookie.name == name:
                return cookie.value
        raise KeyError(name)

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def login(self, username: str, password: str) -> None:
        """Log in through the real form (POST /accounts/login/), as a person would."""
        status, _, body = self.request("/accounts/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
        status, headers, _ = self.request(
            "/accounts/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": token.decode(),
            },
        )
        if status != 302:
            raise RuntimeError(f"login as {username} failed: HTTP {status}")
        self.cookie("sessionid")


def poll_ids(fragment: bytes) -> list[str]:
    """Return the ``<id>:<token>`` items the poll element of a table fragment carries.

    The element POSTs them, from its hx-vals (JSON, HTML-escaped in the attribute).
    """
    element = re.search(rb'<div id="poll"[^>]*>', fragment)
    values = re.search(rb'hx-vals="([^"]+)"', element.group(0)) if element else None
    if not values:
        return []
    ids = json.loads(html.unescape(values.group(1).decode()))["ids"]
    return [item for item in ids.split(",") if item]


def post_many(
    base: str, path: str, data: dict, cookie: str, csrf: str, count: int, threads: int = 4
) -> dict[int, int]:
    """POST ``data`` to ``path`` ``count`` times over ``threads`` keep-alive clients."""
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": csrf})
    headers = {
        "Cookie": cookie,
        "Content-Type": "application/x-www-form-urlencoded",
        "X-CSRFToken": csrf,
    }
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    per_thread = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]

    def run(n: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        seen: dict[int, int] = {}
        for _ in range(n):
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            seen[resp.status] = seen.get(resp.status, 0) + 1
            if resp.will_close:
                conn.close()
        conn.close()
        with lock:
            for key, value in seen.items():
                statuses[key] = statuses.get(key, 0) + value

    workers = [threading.Thread(target=run, args=(n,)) for n in per_thread]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return statuses
