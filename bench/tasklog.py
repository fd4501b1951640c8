"""`python -m bench.tasklog`: what live task logs cost, as ratios measured in one run.

- fragment: the log fragment of a running task that gains POLL_LINES lines between two
  polls (100 lines a second at the 2 s poll) against an unchanged table poll of 20
  in-flight rows (its 204), in process with Django's test client on the real
  PostgreSQL and Redis, alternated, medians kept; "keeps up" means every fragment
  brought every new line.
- worker: tasks/s of one 2-process worker draining tasks that log about 1,000 lines a
  second in all, with capture on and off (TASKBOARD_LOG_CAPTURE), alternated rounds,
  the best of each kept (other processes only ever slow a round down).

Short and bounded; it writes nothing but its JSON (``--out``). docs/performance.md
has the figures and the command.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

POLL_LINES = 200


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.tasklog", description=__doc__)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default="taskboard_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--polls", type=int, default=150, help="fragment/table pairs")
    parser.add_argument("--tasks", type=int, default=60, help="tasks per worker round")
    parser.add_argument("--lines", type=int, default=100, help="lines each task logs")
    parser.add_argument("--interval", type=float, default=0.001, help="seconds between lines")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["fragment", "worker"])
    parser.add_argument("--out", default=None, help="write the results here as JSON")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"[bench.tasklog {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def env_for(args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"{args.pg}/{args.db}",
        "REDIS_URL": args.redis,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-secret-key-" + "x" * 40,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "web.settings",
        "TASKBOARD_LAUNCH_RATE_PER_MINUTE": "0",
    }


def fragment_cost(polls: int) -> dict:
    """Return the median log fragment and unchanged table poll, and whether the log kept up."""
    from celery import current_app
    from django.contrib.auth import get_user_model
    from django.test import Client

    from taskboard import tasklog
    from taskboard.conf import app_settings
    from taskboard.models import RUNNING, Task

    User = get_user_model()
    user, _ = User.objects.get_or_create(username=f"bench-log-{uuid.uuid4().hex[:6]}")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    hx = {"HX-Request": "true"}
    rows = Task.objects.bulk_create(
        [Task(name="demo.long", status=RUNNING, owner=user, version=2) for _ in range(20)]
    )
    backend = current_app.backend
    for i, row in enumerate(rows):
        backend.store_result(str(row.pk), {"current": i, "total": 20, "message": "x"}, "PROGRESS")
    body = client.get("/tasks/?status=running", headers=hx).content.decode()
    element = re.search(r'<div id="poll"[^>]*>', body).group(0)
    poll_url = html.unescape(re.search(r'hx-post="([^"]+)"', element).group(1))
    poll_vals = json.loads(html.unescape(re.search(r'hx-vals="([^"]+)"', element).group(1)))

    store = tasklog.store_for()
    per_task = app_settings.LOG_MAX_LINES // POLL_LINES  # polls before a log reaches its cap
    logs: list = []
    fragment_s, table_s, behind, statuses = [], [], 0, set()
    try:
        for n in range(polls):
            if n % per_task == 0:
                logs.append(Task.objects.create(name="demo.chatty", status=RUNNING, owner=user))
                offset = 0
            task = logs[-1]
            now = time.time()
            lines = [
                tasklog.encode(now + i / 1000, "INFO", f"bench line {n}.{i}: fetched a page")
                for i in range(POLL_LINES)
            ]
            store.write({str(task.pk): tasklog.Batch(lines, len(lines))})
            started = time.perf_counter()
            response = client.get(f"/tasks/{task.pk}/log/?offset={offset}", headers=hx)
            fragment_s.append(time.perf_counter() - started)
            got = response.content.decode().count('class="log-line ')
            behind += POLL_LINES - got
            offset += got
            started = time.perf_counter()
            answer = client.post(poll_url, poll_vals, headers=hx)
            table_s.append(time.perf_counter() - started)
            statuses.add(answer.status_code)
    finally:
        for task in [*rows, *logs]:
            backend.forget(str(task.pk))
            for key in tasklog.RedisLogs(backend).keys(str(task.pk)):
                backend.client.delete(key)
        Task.objects.filter(pk__in=[t.pk for t in [*rows, *logs]]).delete()
        user.delete()
    fragment, table = statistics.median(fragment_s), statistics.median(table_s)
    return {
        "polls": polls,
        "lines_per_poll": POLL_LINES,
        "lines_not_brought": behind,
        "table_poll_statuses": sorted(statuses),
        "fragment_median_ms": round(fragment * 1000, 2),
        "table_poll_median_ms": round(table * 1000, 2),
        "ratio": round(fragment / table, 2),
    }


def worker_round(env: dict[str, str], *, capture: bool, tasks: int, lines: int, interval: float):
    """Return tasks/s and lines/s of a 2-process worker draining ``tasks`` bench.chatty."""
    from celery import current_app

    from bench import procs
    from taskboard import tasklog
    from taskboard.models import TERMINAL, Task, TaskLog

    queue = f"bench-log-{uuid.uuid4().hex[:6]}"
    with current_app.producer_or_acquire() as producer:
        ids = [
            current_app.send_task(
                "bench.chatty", (lines, interval), queue=queue, producer=producer
            ).id
            for _ in range(tasks)
        ]
    backend = current_app.backend
    keys = [backend.get_key_for_task(task_id) for task_id in ids]
    env = {**env, "TASKBOARD_LOG_CAPTURE": "1" if capture else "0"}
    proc = procs.worker(f"log-{'on' if capture else 'off'}", env, queue, events=False)
    first = last = None
    done = first_done = 0
    try:
        deadline = time.monotonic() + 300
        while done < tasks and time.monotonic() < deadline:
            done = sum(1 for value in backend.client.mget(keys) if value)
            now = time.monotonic()
            if done and first is None:
                first, first_done = now, done
            last = now
            time.sleep(0.02)
        while Task.objects.filter(pk__in=ids).exclude(status__in=TERMINAL).exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the worker's rows did not all become terminal")
            time.sleep(0.02)
        last = time.monotonic()
        stored = TaskLog.objects.filter(task_id__in=ids).count()
    finally:
        proc.stop()
        backend.client.delete(*keys)
        for task_id in ids:
            backend.client.delete(*tasklog.RedisLogs(backend).keys(task_id))
        Task.objects.filter(pk__in=ids).delete()
    if done < tasks:
        raise RuntimeError(f"worker drained only {done}/{tasks} tasks")
    rate = (tasks - first_done) / (last - first)
    return {
        "capture": capture,
        "tasks_per_second": round(rate, 2),
        "lines_per_second": round(rate * lines),
        "logs_stored": stored,
    }


def worker_cost(env: dict[str, str], args: argparse.Namespace) -> dict:
    """Return the best rate with capture off and on over alternated rounds, and their ratio."""
    runs = []
    for _ in range(args.rounds):
        for capture in (False, True):
            run = worker_round(
                env, capture=capture, tasks=args.tasks, lines=args.lines, interval=args.interval
            )
            log(f"capture {'on ' if capture else 'off'}: {run}")
            runs.append(run)
    best = {
        capture: max(r["tasks_per_second"] for r in runs if r["capture"] is capture)
        for capture in (False, True)
    }
    return {
        "tasks": args.tasks,
        "lines_per_task": args.lines,
        "interval_s": args.interval,
        "runs": runs,
        "best_off": best[False],
        "best_on": best[True],
        "throughput_kept": round(best[True] / best[False], 3),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    env = env_for(args)
    os.environ.update(env)
    import django

    django.setup()
    results: dict = {}
    if args.only in (None, "fragment"):
        results["fragment"] = fragment_cost(args.polls)
        log(f"fragment: {results['fragment']}")
    if args.only in (None, "worker"):
        results["worker"] = worker_cost(env, args)
        log(
            f"worker: best off {results['worker']['best_off']} tasks/s, "
            f"on {results['worker']['best_on']} ({results['worker']['throughput_kept']:.1%})"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
