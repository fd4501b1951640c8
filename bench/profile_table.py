"""Time the failed-tasks table fragment in process, against bare views in the same run.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m bench.profile_table [-n 200] [--profile]

Django's test client, DEBUG off, the seeded staff user "bench" logged in (seed with
``manage.py seed_tasks``). For each path: this process's CPU milliseconds per request
(the machine is shared: wall time counts the others too) as the best and the median
of several rounds, the wall time, and the ratio to the logged-in floor (a bare view
behind login_required: session, user and middleware, nothing of the table).
"poll" POSTs the 50 in-flight ids the running tab's poll element carries, as the
page does (the test client skips the CSRF check). "failed fragment, rows drawn
afresh" empties the stored finished rows before each request
(taskboard/templatetags/taskboard_table.py), so it shows a first view's cost.
With --profile [LABEL]: a pyinstrument profile of one path (the fragment unless named).

To compare with an older commit, run the same file in a checkout of it:
``git archive <commit> | tar -x -C /tmp/old`` and copy this file into /tmp/old/bench/.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "web.settings")
os.environ["DEBUG"] = "0"
# DEBUG off needs a key that is not the public development one (web/settings.py).
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 40)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from bench.floor_urls import floor, logged_in_floor  # noqa: E402
from web.urls import urlpatterns as app_urlpatterns  # noqa: E402

HTMX = {"HX-Request": "true"}
FRAGMENT = "/tasks/?status=failed"


# The load bench's two floors (bench/floor_urls.py), beside the app's URLs.
urlpatterns = [
    path("bench-floor/", floor),
    path("bench-floor/user/", logged_in_floor),
    *app_urlpatterns,
]


def _forget_drawn_rows() -> None:
    from taskboard.templatetags import taskboard_table as task_table

    if hasattr(task_table, "_DRAWN_ROWS"):  # older commits draw every row
        task_table._DRAWN_ROWS.clear()


# label: (path, headers, before each request, POST data or None for a GET)
PATHS = {
    "floor (bare 204)": ("/bench-floor/", {}, None, None),
    "logged-in floor": ("/bench-floor/user/", {}, None, None),
    "poll": ("/tasks/status/", HTMX, None, {}),  # its ids are read in main()
    "failed fragment": (FRAGMENT, HTMX, None, None),
    "  rows drawn afresh": (FRAGMENT, HTMX, _forget_drawn_rows, None),
    "all fragment": ("/tasks/", HTMX, None, None),
    "failed page (full)": (FRAGMENT, {}, None, None),
}


def send(client, url: str, headers: dict, data: dict | None):
    """GET ``url``, or POST ``data`` to it."""
    if data is None:
        return client.get(url, headers=headers)
    return client.post(url, data, headers=headers)


def per_request_ms(
    client, url: str, headers: dict, before, data: dict | None, n: int, rounds: int = 7
) -> dict:
    """Return the CPU (best and median of ``rounds``) and wall milliseconds per request."""
    cpu, wall = [], []
    for _ in range(rounds):
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        for _ in range(n // rounds):
            if before:
                before()
            response = send(client, url, headers, data)
        cpu.append((time.process_time() - cpu_started) * 1000 / (n // rounds))
        wall.append((time.perf_counter() - wall_started) * 1000 / (n // rounds))
        assert response.status_code in (200, 204), (url, response.status_code)
    return {"best": min(cpu), "median": statistics.median(cpu), "wall": statistics.median(wall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=210, help="requests per path")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="failed fragment",
        choices=list(PATHS),
        help="pyinstrument one path (default: the failed fragment)",
    )
    args = parser.parse_args()
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username="bench"))
    from bench.client import poll_ids

    running = client.get("/tasks/?status=running", headers=HTMX).content
    PATHS["poll"][3]["ids"] = ",".join(poll_ids(running)[:50])
    for url, headers, _, data in PATHS.values():
        for _ in range(20):  # warm: connection, template cache, session
            send(client, url, headers, data)
    if args.profile:
        from pyinstrument import Profiler

        url, headers, before, data = PATHS[args.profile]
        with Profiler(interval=0.0002) as profiler:
            for _ in range(args.n):
                if before:
                    before()
                send(client, url, headers, data)
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        return
    results = {label: per_request_ms(client, *spec, args.n) for label, spec in PATHS.items()}
    base = results["logged-in floor"]["best"]
    print(f"{'path':22s} {'CPU best':>9s} {'median':>7s} {'wall':>7s}  CPU vs logged-in floor")
    for label, r in results.items():
        ratio = r["best"] / base
        print(f"{label:22s} {r['best']:9.2f} {r['median']:7.2f} {r['wall']:7.2f}  {ratio:6.1f}x")


if __name__ == "__main__":
    main()
