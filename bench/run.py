"""`python -m bench`: seed, serve, load, compare with the floor and Flower, write the report."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

from bench import procs
from bench.client import Session, poll_ids, post_many
from bench.load import wrk
from web.devtools import CHROMIUM_ARGS

ROOT = procs.ROOT
DOCS = ROOT / "docs"
BENCH_USER, BENCH_PASSWORD = "bench", "bench-taskboard-pw"
LAUNCHER, LAUNCHER_PASSWORD = "bench-launcher", "bench-launcher-pw"
QUEUE = "bench"
# The web app's launches wait here, unconsumed, and are purged: only the web process
# is measured, and the feeder worker stays free for the propagation runs.
WEB_QUEUE = "bench-web"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="history of the main run")
    parser.add_argument("--sizes", default="10000,100000", help="smaller histories to compare")
    parser.add_argument("--db", default="taskboard_bench", help="PostgreSQL database (main)")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--duration", type=float, default=10, help="seconds per load point")
    parser.add_argument("--sweep-duration", type=float, default=5)
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--sweep-concurrency", default="1,4")
    # Flower's default max_tasks: it holds as many of the history's tasks as it keeps.
    parser.add_argument("--flower-tasks", type=int, default=100_000)
    parser.add_argument("--launches", type=int, default=10_000)
    parser.add_argument("--launch-rate-count", type=int, default=1000)
    parser.add_argument("--noop-tasks", type=int, default=1000)
    parser.add_argument("--propagation-runs", type=int, default=20)
    parser.add_argument("--port", type=int, default=18700, help="first port to try")
    parser.add_argument("--out", default=None, help="results directory (default docs/)")
    parser.add_argument(
        "--quick", action="store_true", help="a small smoke run (10k rows, short points)"
    )
    parser.add_argument(
        "--only",
        choices=["worker", "tasklog"],
        help="run one measurement and print it (JSON), without rewriting the report",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.sizes, args.db = 10_000, "", f"{args.db}_quick"
        args.duration = args.sweep_duration = 2
        args.flower_tasks, args.launches, args.launch_rate_count = 600, 600, 100
        args.noop_tasks, args.propagation_runs = 300, 4
        args.out = args.out or str(ROOT / "var" / "bench")
    return args


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def size_label(rows: int) -> str:
    """Return 10k, 100k, 1M for a row count."""
    if rows >= 1_000_000 and rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    if rows % 1000 == 0:
        return f"{rows // 1000}k"
    return str(rows)


def env_for(args: argparse.Namespace, db: str) -> dict[str, str]:
    """Return the production-like environment of every process serving ``db``."""
    return {
        **os.environ,
        "DATABASE_URL": f"{args.pg}/{db}",
        "REDIS_URL": args.redis,
        "DEBUG": "0",
        "TASKBOARD_PRODUCTION": "1",
        "SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
        "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
        # 10,000 launches by one user in a few minutes: the per-minute cap would refuse them.
        "TASKBOARD_LAUNCH_RATE_PER_MINUTE": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "web.settings",
    }


def prepare_db(args: argparse.Namespace, db: str, rows: int) -> float:
    """Create, migrate and seed ``db`` to ``rows`` rows; return the seconds it took."""
    started = time.monotonic()
    host = args.pg.split("@")[-1].split(":")[0]
    exists = subprocess.run(
        [
            "psql",
            "-h",
            host,
            "-U",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname='{db}'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(["createdb", "-h", host, "-U", "postgres", db], check=True)
    env = env_for(args, db)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0", "--skip-checks"], env=env, check=True)
    subprocess.run([*manage, "seed_tasks", "--rows", str(rows)], env=env, check=True)
    return time.monotonic() - started


def machine() -> dict:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def poll_target(session: Session, want: int = 50) -> list[str]:
    """Return ``want`` in-flight ``<id>:<token>`` items, taken from the table pages' poll."""
    ids: list[str] = []
    page = 1
    while len(ids) < want and page < 10:
        status, _, body = session.request(
            f"/tasks/?status=running&page={page}", headers={"HX-Request": "true"}
        )
        found = poll_ids(body) if status == 200 else []
        if not found:
            break
        ids += [i for i in found if i not in ids]
        page += 1
    if len(ids) < want:
        raise RuntimeError(f"only {len(ids)} in-flight ids on the table; seed more in flight")
    return ids[:want]


def check(session: Session, path: str, headers: dict[str, str], data: dict | None = None) -> int:
    """GET (or POST ``data`` to) ``path`` once; fail loudly unless 200/204. Return the body size."""
    status, _, body = session.request(path, headers=headers, data=data)
    if status not in (200, 204):
        raise RuntimeError(f"{'POST' if data else 'GET'} {path} answered {status}: {body[:300]!r}")
    return len(body)


def check_logged_in_floor(base: str, cookie: str, user_pk: int) -> None:
    """Fail loudly unless the logged-in floor answers 204 for ``user_pk``.

    wrk counts a 302 as a success, so a session the floor server did not accept
    would otherwise be measured as a (fast) redirect to the login page.
    """
    status, headers, body = Session(base).request("/floor/user/", headers={"Cookie": cookie})
    if status != 204 or headers.get("X-User") != str(user_pk):
        raise RuntimeError(
            f"the logged-in floor at {base} answered {status} ({headers.get('Location')!r}, "
            f"user {headers.get('X-User')!r}, want 204 for {user_pk}): {body[:200]!r}"
        )


def load_points(targets: list[tuple], levels: list[int], duration: float, **extra) -> list[dict]:
    """Return a wrk point per target and level; a target is (label, url, headers[, body])."""
    points = []
    for label, url, headers, *body in targets:
        for concurrency in levels:
            point = wrk(label, url, concurrency, duration, headers, *body).as_dict()
            point.update(extra)
            log(
                f"{label:22s} c={concurrency:<3d} {point['rps']:8.1f} req/s  "
                f"p50 {point['p50_ms']:7.2f} ms  p99 {point['p99_ms']:7.2f} ms"
                + (f"  ERRORS {point['errors']}" if point["errors"] else "")
            )
            points.append(point)
    return points


def deep_page_path(page: int = 1000) -> str:
    """Return the failed table's page ``page`` the way a person reaches it: by its cursor.

    The newest-first table pages by (created_at, id) cursor ("Older →"); the cursor
    of page 1,000 is the last row of page 999 (found once here, with an OFFSET).
    """
    from taskboard.models import FAILED, Task
    from taskboard.selectors import encode_cursor
    from taskboard.tables import PER_PAGE

    failed = Task.objects.filter(status=FAILED).order_by("-created_at", "-id")
    # A small history (--quick) has fewer pages: its last one stands in.
    page = max(2, min(page, failed.count() // PER_PAGE))
    last_of_previous = failed[(page - 1) * PER_PAGE - 1]
    return f"/tasks/?status=failed&cursor={encode_cursor(last_of_previous)}"


def app_targets(base: str, session: Session) -> tuple[list[tuple], dict]:
    """Return Taskboard's load targets (poll, failed table, page 1000) and their sizes.

    The poll is measured as the page sends it: a POST of its ids with the CSRF token
    (static/js and partials/poll.html); "poll (GET)" is the same view read with
    ``?ids=``, which answers the same without the CSRF check and form parsing.
    """
    headers = {"Cookie": session.cookie_header(), "HX-Request": "true"}
    ids = poll_target(session)
    body = {"ids": ",".join(ids)}
    post_headers = {
        **headers,
        "X-CSRFToken": session.cookie("csrftoken"),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    poll = "/tasks/status/"
    poll_get = f"{poll}?ids={body['ids']}"
    table = "/tasks/?status=failed"
    deep = deep_page_path()
    sizes = {
        "poll_ids": len(ids),
        "poll_bytes": check(session, poll, post_headers, body),
        "poll_get_bytes": check(session, poll_get, headers),
        "table_bytes": check(session, table, headers),
        "table_p1000_bytes": check(session, deep, headers),
        "poll_path": poll_get,
    }
    return [
        ("poll", base + poll, post_headers, urllib.parse.urlencode(body)),
        ("failed table", base + table, headers),
        ("failed table p1000", base + deep, headers),
        ("poll (GET)", base + poll_get, headers),
    ], sizes


def redis_subscriptions(url: str) -> int:
    """Return the pub/sub subscriptions (channels and patterns) held by clients of this db."""
    import redis

    client = redis.Redis.from_url(url)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    total = 0
    for entry in client.client_list():
        if int(entry.get("db", -1)) == db:
            total += int(entry.get("sub", 0)) + int(entry.get("psub", 0))
    return total


def feed(count: int) -> list[str]:
    """Send ``count`` tasks (one in ten fails) to the bench queue and wait until all finished."""
    from celery import current_app

    from tasks.tasks import fail, quick

    ids = []
    with current_app.producer_or_acquire() as producer:
        for i in range(count):
            if i % 10 == 9:
                result = fail.apply_async(("bench failure",), producer=producer)
            else:
                result = quick.apply_async((i, 1), producer=producer)
            ids.append(result.id)
    backend = current_app.backend
    keys = [backend.get_key_for_task(task_id) for task_id in ids]
    deadline = time.monotonic() + max(600, count / 50)
    done = 0
    while time.monotonic() < deadline:
        done = sum(1 for value in backend.client.mget(keys) if value)
        if done == count:
            break
        time.sleep(0.5)
    log(f"fed {done}/{count} tasks through the worker")
    return ids


def purge(queue: str) -> None:
    """Drop the messages waiting in a broker queue."""
    from celery import current_app

    with current_app.connection_for_write() as conn:
        conn.default_channel.client.delete(queue)


def launches(base: str, args: argparse.Namespace, app: procs.Proc) -> dict:
    """Launch through the web (real POSTs) and watch web RSS and Redis subscriptions."""
    session = Session(base)
    session.login(LAUNCHER, LAUNCHER_PASSWORD)
    csrf = session.cookie("csrftoken") if any(c.name == "csrftoken" for c in session.jar) else ""
    if not csrf:
        session.request("/launch/demo.quick/")
        csrf = session.cookie("csrftoken")
    cookie = session.cookie_header()
    path = "/launch/demo.quick/"
    samples = []
    warm = min(200, args.launches)
    statuses = post_many(base, path, {"x": 2, "y": 3}, cookie, csrf, warm)
    step = max(1, (args.launches - warm) // 5)
    done = warm
    started = time.monotonic()

    def sample() -> None:
        samples.append(
            {
                "launches": done,
                "rss_kib": [procs.rss_kib(pid) for pid in app.children()],
                "subscriptions": redis_subscriptions(args.redis),
            }
        )

    sample()
    while done < args.launches:
        n = min(step, args.launches - done)
        for key, value in post_many(base, path, {"x": 2, "y": 3}, cookie, csrf, n).items():
            statuses[key] = statuses.get(key, 0) + value
        done += n
        sample()
    elapsed = time.monotonic() - started
    log(f"{done} launches over HTTP in {elapsed:.0f}s, statuses {statuses}")
    return {"launches": done, "statuses": statuses, "seconds": elapsed, "samples": samples}


def guarded(results: dict, key: str, fn, *args) -> None:
    """Store ``fn(*args)`` under ``key``; a failure is logged and reported, not fatal."""
    try:
        results[key] = fn(*args)
        log(f"{key}: {json.dumps(results[key], default=str)[:300]}")
    except Exception as exc:
        log(f"{key} FAILED: {exc!r}")
        results.setdefault("errors", {})[key] = repr(exc)[:500]


def worker_runs(env: dict[str, str], count: int) -> list[dict]:
    """Return no-op rates with tracking off and on (three rounds each) and the variants."""
    from bench import inproc

    runs = []
    # The tracking before its "completed" writes were batched (taskboard/worker/batching.py):
    # each written at once, one commit per task.
    before = {"TASKBOARD_TRACKING_BATCH_INTERVAL": "0"}
    # Alternating rounds, best of each kept (the report): other processes on this
    # machine only ever slow a round down, and two rounds often both were.
    for _ in range(3):
        runs += [
            inproc.worker_rate(env, tracking=False, count=count),
            inproc.worker_rate(env, tracking=True, count=count),
            inproc.worker_rate(
                env,
                tracking=True,
                count=count,
                variant="each end written at once (before)",
                extra_env=before,
            ),
        ]
    runs.append(
        inproc.worker_rate(
            env,
            tracking=True,
            count=count,
            variant="synchronous_commit=off",
            extra_env={"PGOPTIONS": "-c synchronous_commit=off"},
        )
    )
    return runs


def only_worker(args: argparse.Namespace) -> None:
    """Measure the worker overhead alone on ``args.db``; print the runs, write worker.json."""
    prepare_db(args, args.db, args.rows)
    env = env_for(args, args.db)
    os.environ.update(env)
    import django

    django.setup()
    runs = worker_runs(env, args.noop_tasks)
    for run in runs:
        label = "on" if run["tracking"] else "off"
        log(f"tracking {label} {run['variant'] or '':45s} {run['per_second']:8.1f} tasks/s")
    out = Path(args.out) if args.out else ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "worker.json").write_text(json.dumps(runs, indent=1))
    print(json.dumps(runs, indent=1))


def only_tasklog(args: argparse.Namespace) -> None:
    """Measure what task logs cost on ``args.db`` (bench/tasklog.py); write tasklog.json."""
    from bench import tasklog

    prepare_db(args, args.db, args.rows)
    out = Path(args.out) if args.out else ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    tasklog.main(
        [
            "--pg",
            args.pg,
            "--db",
            args.db,
            "--redis",
            args.redis,
            "--out",
            str(out / "tasklog.json"),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.only == "worker":
        return only_worker(args)
    if args.only == "tasklog":
        return only_tasklog(args)
    started = time.monotonic()
    out = Path(args.out) if args.out else DOCS
    results: dict = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_before": loadavg(),
        "args": vars(args),
    }
    levels = [int(c) for c in args.concurrency.split(",")]
    sweep_levels = [int(c) for c in args.sweep_concurrency.split(",")]
    sizes = sorted({int(s) for s in args.sizes.split(",") if s} - {args.rows})
    log(f"load average {results['load_before']}, seeding {args.db} to {args.rows:,} rows")
    results["seed_seconds"] = prepare_db(args, args.db, args.rows)

    # This process reads and writes the main database like a web process would.
    os.environ.update(env_for(args, args.db))
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from bench import inproc
    from taskboard.models import Task

    User = get_user_model()
    bench_user = User.objects.get(username=BENCH_USER)
    launcher, _ = User.objects.get_or_create(username=LAUNCHER)
    launcher.set_password(LAUNCHER_PASSWORD)
    launcher.save()
    from django.contrib.auth.models import Permission

    # A launcher, not an operator: may launch, sees only its own tasks.
    launcher.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="taskboard", codename="add_task")
    )

    running: list[procs.Proc] = []
    cleanup_ids: list = []
    port = procs.free_port(args.port)
    floor_port = port
    app_port = procs.free_port(port + 1)
    sweep_port = procs.free_port(app_port + 1)
    flower_port = None
    floor_base, app_base = f"http://127.0.0.1:{floor_port}", f"http://127.0.0.1:{app_port}"
    sweep_base = f"http://127.0.0.1:{sweep_port}"
    points: list[dict] = []
    try:
        floor = procs.gunicorn(
            "floor",
            floor_port,
            {**env_for(args, args.db), "DJANGO_SETTINGS_MODULE": "bench.floor_settings"},
        )
        running.append(floor)
        check(Session(floor_base), "/floor/", {})
        # The main app first: its login is the session the logged-in floor is loaded
        # with (same database, same SECRET_KEY), for the sweep's points as well.
        env = env_for(args, args.db)
        app = procs.gunicorn("app", app_port, {**env, "CELERY_TASK_DEFAULT_QUEUE": WEB_QUEUE})
        running.append(app)
        session = Session(app_base)
        session.login(BENCH_USER, BENCH_PASSWORD)
        floor_cookie = {"Cookie": session.cookie_header()}
        check_logged_in_floor(floor_base, floor_cookie["Cookie"], bench_user.pk)
        floors = [
            ("floor (bare 204)", floor_base + "/floor/", {}),
            ("floor (logged-in 204)", floor_base + "/floor/user/", floor_cookie),
        ]

        # --- history size sweep: the same endpoints on smaller histories -----------
        results["sizes"] = {}
        for rows in sizes:
            db = f"{args.db}_{size_label(rows)}"
            log(f"size {size_label(rows)}: seeding {db}")
            prepare_db(args, db, rows)
            sweep_app = procs.gunicorn(f"app-{size_label(rows)}", sweep_port, env_for(args, db))
            try:
                sweep_session = Session(sweep_base)
                sweep_session.login(BENCH_USER, BENCH_PASSWORD)
                targets, info = app_targets(sweep_base, sweep_session)
                results["sizes"][rows] = info
                points += load_points(
                    [*floors, *targets[:2]], sweep_levels, args.sweep_duration, rows=rows
                )
            finally:
                sweep_app.stop()

        # --- the main run ---------------------------------------------------------
        flower_port = procs.free_port(app_port + 1)
        flower = procs.flower(flower_port, env)
        running.append(flower)
        worker = procs.worker("feeder", env, QUEUE, events=True)
        running.append(worker)
        log(f"feeding {args.flower_tasks} tasks through a worker with events on")
        cleanup_ids += feed(args.flower_tasks)

        log(f"{args.launches} launches through the web")
        guarded(results, "launches", launches, app_base, args, app)
        purge(WEB_QUEUE)
        Task.objects.filter(owner__username=LAUNCHER).delete()

        log(f"propagation: {args.propagation_runs} runs in Chromium")
        guarded(
            results,
            "propagation",
            inproc.propagation,
            app_base,
            session.cookie("sessionid"),
            bench_user,
            args.propagation_runs,
            CHROMIUM_ARGS,
        )
        worker.stop()
        running.remove(worker)

        flower_base = f"http://127.0.0.1:{flower_port}"
        datatable = (
            "/tasks/datatable?draw=1&start=0&length=25&order%5B0%5D%5Bcolumn%5D=0"
            "&order%5B0%5D%5Bdir%5D=desc&columns%5B0%5D%5Bdata%5D=received"
        )
        flower_targets = [
            ("flower api FAILURE", flower_base + "/api/tasks?limit=50&state=FAILURE", {}),
            ("flower datatable", flower_base + datatable + "&search%5Bvalue%5D=", {}),
            (
                "flower datatable failed",
                flower_base + datatable + "&search%5Bvalue%5D=state%3AFAILURE",
                {},
            ),
        ]
        fs = Session(flower_base)
        _, _, body = fs.request(flower_targets[1][1][len(flower_base) :])
        results["flower"] = {
            "tasks_held": json.loads(body)["recordsTotal"],
            "failed_returned": len(json.loads(fs.request("/api/tasks?limit=50&state=FAILURE")[2])),
        }
        targets, info = app_targets(app_base, session)
        rows = Task.objects.count()
        results["rows"] = rows
        results["sizes"][rows] = info
        log(f"main run at {rows:,} rows; Flower holds {results['flower']['tasks_held']} tasks")
        check_logged_in_floor(floor_base, floor_cookie["Cookie"], bench_user.pk)
        main_targets = [*floors, *targets, *flower_targets]
        points += load_points(main_targets, levels, args.duration, rows=rows)

        log("profiling the requests in process (queries, EXPLAIN ANALYZE, Redis round trips)")
        profiles = {
            "poll": inproc.profile_request(bench_user, info["poll_path"]),
            "failed table": inproc.profile_request(bench_user, "/tasks/?status=failed"),
            "failed table p1000": inproc.profile_request(bench_user, deep_page_path()),
        }
        for status in ("", "pending", "running", "completed", "failed", "cancelled"):
            path = f"/tasks/?status={status}" if status else "/tasks/"
            profiles[f"tab {status or 'all'}"] = inproc.profile_request(bench_user, path)
        results["profiles"] = profiles
        flower.stop()
        running.remove(flower)
        app.stop()
        running.remove(app)

        log("launch rate: task_launch against plain .delay()")
        guarded(results, "launch_rate", inproc.launch_rate, launcher, args.launch_rate_count)

        log("worker overhead: no-op tasks/s with tracking off and on")
        guarded(results, "worker", worker_runs, env, args.noop_tasks)
    finally:
        for proc in reversed(running):
            proc.stop()
        Task.objects.filter(pk__in=cleanup_ids).delete()
        Task.objects.filter(owner__username=LAUNCHER).delete()

    results["points"] = points
    results["load_after"] = loadavg()
    results["seconds"] = time.monotonic() - started
    out.mkdir(parents=True, exist_ok=True)
    (out / "performance").mkdir(exist_ok=True)
    (out / "performance" / "results.json").write_text(json.dumps(results, indent=1, default=str))
    from bench import report

    report.write(results, out)
    log(f"done in {results['seconds']:.0f}s: {out / 'performance.md'}")
