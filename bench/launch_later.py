"""`python -m bench.launch_later`: what sending a launch held back costs, as ratios of one run.

- send: the per-row time of ``send_due`` sending a batch of due Scheduled rows (lock,
  transition, send, in one transaction) against the per-row time of launching the same
  task now (``task_launch``: INSERT, then the send), alternated rounds, medians kept.
- idle: one ``send_due`` run with nothing due among ``--waiting`` rows scheduled for
  later (what beat costs every few seconds), and the plan of its query (it must use the
  partial index task_due_idx).

In process on the real PostgreSQL and Redis of the environment (DATABASE_URL, REDIS_URL;
a database migrated beforehand). Messages go to a queue of its own, deleted afterwards
with its rows; it writes nothing but its JSON (``--out``). docs/performance.md has the
figures and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.launch_later", description=__doc__)
    parser.add_argument("--batch", type=int, default=200, help="rows per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--waiting", type=int, default=20000, help="rows scheduled for later")
    parser.add_argument("--out", default=None, help="write the results here as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "web.settings")
    import django

    django.setup()
    import redis
    from celery import current_app
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from taskboard import services
    from taskboard.conf import app_settings
    from taskboard.models import Task

    queue = f"bench-launch-later-{os.getpid()}"
    current_app.conf.task_default_queue = queue
    user, _ = get_user_model().objects.get_or_create(username="bench-launch-later")
    params = {"x": 1, "y": 2}

    def launch_now() -> float:
        started = time.perf_counter()
        for _ in range(args.batch):
            services.task_launch(user=user, name="demo.quick", params=params, check_rate=False)
        return (time.perf_counter() - started) / args.batch

    def send_due() -> float:
        past = timezone.now() - timedelta(seconds=1)
        ids = [
            services.task_launch(
                user=user,
                name="demo.quick",
                params=params,
                check_rate=False,
                run_at=timezone.now() + timedelta(hours=1),
            ).pk
            for _ in range(args.batch)
        ]
        Task.objects.filter(pk__in=ids).update(run_at=past)
        started = time.perf_counter()
        sent = services.send_due(batch=args.batch)["sent"]
        elapsed = time.perf_counter() - started
        assert sent == args.batch, sent
        return elapsed / args.batch

    later = timezone.now() + timedelta(days=30)
    Task.objects.bulk_create(
        [
            Task(name="demo.quick", status="scheduled", run_at=later, owner=user)
            for _ in range(args.waiting)
        ],
        batch_size=2000,
    )
    now_times, due_times, idle_times = [], [], []
    try:
        for _ in range(args.rounds):
            now_times.append(launch_now())
            due_times.append(send_due())
            started = time.perf_counter()
            assert services.send_due()["sent"] == 0
            idle_times.append(time.perf_counter() - started)
        with connection.cursor() as cursor:
            cursor.execute(
                "EXPLAIN SELECT id FROM taskboard_task WHERE status = 'scheduled'"
                " AND run_at <= now() ORDER BY run_at LIMIT %s",
                [app_settings.SEND_DUE_BATCH],
            )
            plan = "\n".join(row[0] for row in cursor.fetchall())
    finally:
        Task.objects.filter(owner=user).delete()
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(queue)
    now_ms, due_ms = statistics.median(now_times) * 1000, statistics.median(due_times) * 1000
    result = {
        "batch": args.batch,
        "rounds": args.rounds,
        "waiting": args.waiting,
        "launch_now_ms_per_row": round(now_ms, 3),
        "send_due_ms_per_row": round(due_ms, 3),
        "ratio": round(due_ms / now_ms, 2),
        "idle_send_due_ms": round(statistics.median(idle_times) * 1000, 3),
        "uses_task_due_idx": "task_due_idx" in plan,
        "plan": plan,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
