"""Time a workflow tree's poll against the table's poll, in process, in the same run.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m bench.workflow_poll [-n 210]

Django's test client, DEBUG off, one plain user made for the run (and removed after
it, with its rows and their result-backend keys). The tree: a workflow of 200
nodes, a chord of 199 fetches (149 completed, 50 running with progress in Redis)
and its pending callback, so 50 nodes in flight. The table: 50 lone running rows
with progress. Each poll sends what its page's poll element carries, as the page
does (the test client skips the CSRF check), twice: unchanged (204, the common
case) and with one node or row whose progress moved (its group, or its row, swapped
out of band). This process's CPU milliseconds per request, best and median of
several rounds, and the tree's ratio to the table.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import uuid
from datetime import timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "web.settings")
os.environ["DEBUG"] = "0"
# DEBUG off needs a key that is not the public development one (web/settings.py).
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 40)

import django  # noqa: E402

django.setup()

from celery import current_app  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.profile_table import per_request_ms, send  # noqa: E402
from taskboard.live import badges_for  # noqa: E402
from taskboard.models import Task  # noqa: E402
from taskboard.views.tasks import poll_ids  # noqa: E402

HTMX = {"HX-Request": "true"}
NODES, IN_FLIGHT = 200, 50


def _poll_element(body: bytes, element_id: str) -> tuple[str, dict]:
    """Return the URL and the values a page's poll element posts."""
    found = re.search(rf'<div id="{element_id}"[^>]*>', body.decode()).group(0)
    url = html.unescape(re.search(r'hx-post="([^"]+)"', found).group(1))
    return url, json.loads(html.unescape(re.search(r'hx-vals="([^"]+)"', found).group(1)))


def _progress(task_id, current: int) -> None:
    current_app.backend.store_result(
        str(task_id), {"current": current, "total": 4, "message": "bench"}, "PROGRESS"
    )


def seed(user) -> tuple[list[Task], list[Task]]:
    """Create the 200-node workflow and the 50 lone running rows; store their progress."""
    now = timezone.now() - timedelta(minutes=5)
    root_id, group_id, callback_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    members = NODES - 1
    running = IN_FLIGHT - 1  # and the pending callback
    nodes = [
        Task(
            id=root_id if i == 0 else uuid.uuid4(),
            name="demo.fetch_page",
            owner=user,
            status="running" if i >= members - running else "completed",
            version=2,
            root_id=root_id,
            group_id=group_id,
            chord_id=callback_id,
            created_at=now + timedelta(microseconds=i),
            started_at=now,
            finished_at=None if i >= members - running else now + timedelta(seconds=1),
        )
        for i in range(members)
    ]
    nodes.append(
        Task(
            id=callback_id,
            name="demo.merge_pages",
            owner=user,
            status="pending",
            root_id=root_id,
            created_at=now + timedelta(seconds=1),
        )
    )
    lone = [
        Task(name="demo.long", owner=user, status="running", version=2, started_at=now)
        for _ in range(IN_FLIGHT)
    ]
    Task.objects.bulk_create(nodes + lone)
    for i, task in enumerate([n for n in nodes if n.status == "running"] + lone):
        _progress(task.pk, i % 3)
    return nodes, lone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=210, help="requests per path")
    args = parser.parse_args()
    settings.DEBUG = False
    User = get_user_model()
    user = User.objects.create_user(f"bench-tree-{uuid.uuid4().hex[:8]}", password=None)
    try:
        nodes, lone = seed(user)
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        page = client.get(f"/tasks/{nodes[0].pk}/").content
        tree_url, tree_vals = _poll_element(page, "tree-poll")
        # The 50 lone rows' poll values, as the table page builds them for its rows.
        badges, _ = badges_for(lone)
        table_url = reverse("taskboard:task_status")
        table_vals = {"ids": poll_ids([(task, badges[str(task.pk)]) for task in lone])}
        assert len(tree_vals["ids"].split(",")) == IN_FLIGHT
        assert len(table_vals["ids"].split(",")) == IN_FLIGHT
        moved_node = next(n for n in nodes if n.status == "running")
        paths = {
            "table poll, unchanged": (table_url, HTMX, None, table_vals),
            "tree poll, unchanged": (tree_url, HTMX, None, tree_vals),
            "table poll, 1 row moved": (
                table_url,
                HTMX,
                None,
                {**table_vals, "ids": _stale(table_vals["ids"], lone[0].pk)},
            ),
            "tree poll, 1 node moved": (
                tree_url,
                HTMX,
                None,
                {**tree_vals, "ids": _stale(tree_vals["ids"], moved_node.pk)},
            ),
        }
        for url, headers, _, data in paths.values():
            for _ in range(20):  # warm: connection, template cache, session
                send(client, url, headers, data)
        results = {label: per_request_ms(client, *spec, args.n) for label, spec in paths.items()}
    finally:
        ids = list(Task.objects.filter(owner=user).values_list("pk", flat=True))
        for task_id in ids:
            current_app.backend.forget(str(task_id))
        Task.objects.filter(owner=user).delete()
        user.delete()
    print(f"{'path':26s} {'CPU best':>9s} {'median':>7s} {'wall':>7s}")
    for label, r in results.items():
        print(f"{label:26s} {r['best']:9.2f} {r['median']:7.2f} {r['wall']:7.2f}")
    for kind in ("unchanged", "1 row moved"):
        tree_kind = kind.replace("row", "node")
        ratio = results[f"tree poll, {tree_kind}"]["best"] / results[f"table poll, {kind}"]["best"]
        print(f"tree / table ({tree_kind}): {ratio:.2f}x (target <= 1.5x)")


def _stale(ids: str, task_id) -> str:
    """Return ``ids`` with the token of ``task_id`` made older, as if its progress had moved."""
    items = []
    for item in ids.split(","):
        pk, token = item.split(":", 1)
        items.append(f"{pk}:1.r" if pk == str(task_id) else item)
    return ",".join(items)


if __name__ == "__main__":
    main()
