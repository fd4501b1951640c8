"""Measurements made inside the bench process (Django set up on the bench database)."""

from __future__ import annotations

import contextlib
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import redis
from celery import current_app
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext


@contextlib.contextmanager
def redis_round_trips() -> Iterator[list[str]]:
    """Record each Redis round trip (one command, or one pipeline) made meanwhile."""
    calls: list[str] = []
    command, pipeline = redis.Redis.execute_command, redis.client.Pipeline.execute

    def spy_command(self, *args, **kwargs):
        calls.append(str(args[0]))
        return command(self, *args, **kwargs)

    def spy_pipeline(self, *args, **kwargs):
        calls.append(f"PIPELINE[{len(self.command_stack)}]")
        return pipeline(self, *args, **kwargs)

    redis.Redis.execute_command = spy_command
    redis.client.Pipeline.execute = spy_pipeline
    try:
        yield calls
    finally:
        redis.Redis.execute_command = command
        redis.client.Pipeline.execute = pipeline


def profile_request(user, path: str, htmx: bool = True, explain: bool = True) -> dict:
    """Return the SQL, EXPLAIN ANALYZE and Redis round trips of one GET, in process."""
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    headers = {"HX-Request": "true"} if htmx else {}
    client.get(path, headers=headers)  # warm: session, connection, caches
    with CaptureQueriesContext(connection) as queries, redis_round_trips() as trips:
        response = client.get(path, headers=headers)
    sql = [q["sql"] for q in queries.captured_queries]
    # The session and user lookups are the middleware's, paid by every logged-in page.
    own = [s for s in sql if "django_session" not in s and '"auth_user"."id" =' not in s[:400]]
    plans = []
    if explain:
        with connection.cursor() as cursor:
            for statement in own:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}")
                plans.append(
                    {"sql": statement, "plan": "\n".join(row[0] for row in cursor.fetchall())}
                )
    return {
        "path": path,
        "status": response.status_code,
        "bytes": len(response.content),
        "queries": len(sql),
        "own_queries": len(own),
        # Counts over the history: a COUNT not bounded by a LIMIT (the tabs' counts
        # stop at COUNT_CAP + 1 rows each and are not one).
        "count_queries": [s for s in own if "COUNT(" in s.upper() and " LIMIT " not in s.upper()],
        "redis_round_trips": len(trips),
        "redis_commands": trips,
        "plans": plans,
    }


def launch_rate(user, count: int, rounds: int = 2) -> dict:
    """Return launches/s through task_launch against plain .delay() on the same broker."""
    from celery import signals as celery_signals
    from django.conf import settings

    from taskboard import services
    from taskboard.models import Task
    from taskboard.worker import signals as tracking
    from tasks.tasks import quick

    queue = f"bench-launch-{uuid.uuid4().hex[:6]}"
    conf = current_app.conf
    old_queue, conf.task_default_queue = conf.task_default_queue, queue
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 0
    created: list = []
    timings = {"task_launch": 0.0, "delay": 0.0, "delay_tracked": 0.0, "task_launch_async": 0.0}
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            for i in range(count):
                task = services.task_launch(user=user, name="demo.quick", params={"x": i, "y": 1})
                created.append(task.pk)
            timings["task_launch"] += time.perf_counter() - started

            # Plain Celery: the tracking publish handler is off, nothing but the send.
            celery_signals.after_task_publish.disconnect(tracking.on_published)
            try:
                started = time.perf_counter()
                for i in range(count):
                    quick.delay(i, 1)
                timings["delay"] += time.perf_counter() - started
            finally:
                celery_signals.after_task_publish.connect(tracking.on_published)

            # What the launch would cost without waiting for the WAL flush of its commit.
            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")
            try:
                started = time.perf_counter()
                for i in range(count):
                    task = services.task_launch(
                        user=user, name="demo.quick", params={"x": i, "y": 1}
                    )
                    created.append(task.pk)
                timings["task_launch_async"] += time.perf_counter() - started
            finally:
                with connection.cursor() as cursor:
                    cursor.execute("RESET synchronous_commit")

            # .delay() as the product sees it: the publish handler upserts a row.
            started = time.perf_counter()
            for i in range(count):
                created.append(quick.delay(i, 1).id)
            timings["delay_tracked"] += time.perf_counter() - started
    finally:
        conf.task_default_queue = old_queue
        with current_app.connection_for_write() as conn:
            conn.default_channel.client.delete(queue)
        Task.objects.filter(pk__in=created).delete()
    total = count * rounds
    rates = {key: total / seconds for key, seconds in timings.items()}
    return {
        "count": total,
        "per_second": rates,
        "ratio": rates["task_launch"] / rates["delay"],
        "ratio_vs_tracked_delay": rates["task_launch"] / rates["delay_tracked"],
    }


def worker_rate(
    env: dict[str, str], *, tracking: bool, count: int, variant: str = "", extra_env=None
) -> dict:
    """Return no-op tasks/s of a 2-process worker draining ``count`` queued taskboard.quick.

    The run ends at the last stored result, and with tracking on once every row is
    terminal too (the worker may write them a moment later, in batches).
    """
    from celery import signals as celery_signals

    from bench import procs
    from taskboard.models import TERMINAL, Task
    from taskboard.worker import signals as tracking_signals
    from tasks.tasks import quick

    queue = f"bench-noop-{uuid.uuid4().hex[:6]}"
    ids = []
    # With tracking on, rows exist before the worker starts, as after a launch; the
    # publish upsert is the sender's cost, not the worker's.
    if not tracking:
        celery_signals.after_task_publish.disconnect(tracking_signals.on_published)
    try:
        with current_app.producer_or_acquire() as producer:
            for i in range(count):
                ids.append(quick.apply_async((i, 1), queue=queue, producer=producer).id)
    finally:
        celery_signals.after_task_publish.connect(tracking_signals.on_published)
    backend = current_app.backend
    keys = [backend.get_key_for_task(task_id) for task_id in ids]
    env = {**env, "BENCH_TRACKING": "1" if tracking else "0", **(extra_env or {})}
    proc = procs.worker(f"noop-{'on' if tracking else 'off'}", env, queue, events=False)
    first = last = None
    done = 0
    try:
        deadline = time.monotonic() + 300
        while done < count and time.monotonic() < deadline:
            done = sum(1 for value in backend.client.mget(keys) if value)
            now = time.monotonic()
            if done and first is None:
                first, first_done = now, done
            last = now
            time.sleep(0.02)
        if tracking and done == count:
            while Task.objects.filter(pk__in=ids).exclude(status__in=TERMINAL).exists():
                if time.monotonic() > deadline:
                    raise RuntimeError("the worker's rows did not all become terminal")
                time.sleep(0.02)
            last = time.monotonic()
    finally:
        proc.stop()
        backend.client.delete(*keys)
        Task.objects.filter(pk__in=ids).delete()
    if done < count:
        raise RuntimeError(f"worker drained only {done}/{count} tasks")
    rate = (count - first_done) / (last - first)
    return {"tracking": tracking, "variant": variant, "count": count, "per_second": rate}


def propagation(base: str, cookie: str, user, runs: int, chromium_args: list[str]) -> dict:
    """Return how long a finished task takes to show Completed in a real browser."""
    from django.conf import settings
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    from taskboard import services
    from taskboard.models import Task

    samples, ids = [], []
    missed = 0
    backend = current_app.backend
    interval = settings.TASKBOARD_POLL_INTERVAL
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=chromium_args
        )
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
        page = context.new_page()
        page.set_default_timeout(20_000)
        for _ in range(runs):
            task = services.task_launch(
                user=user, name="demo.long", params={"seconds": 3, "steps": 1}
            )
            ids.append(task.pk)
            # A random phase between the page's poll timer and the task's finish, as for
            # a person who opened the page at any moment.
            time.sleep(random.uniform(0, interval))
            response = page.goto(f"{base}/tasks/")
            if response is None or response.status != 200:
                raise RuntimeError(f"GET /tasks/ answered {response and response.status}")
            row = f"#task-{task.pk}"
            if page.locator(f"{row}.status-completed").count():
                continue  # finished before the page drew it: not a propagation sample
            try:
                seen_ms = page.wait_for_function(
                    f"() => document.querySelector('{row}.status-completed') && Date.now()",
                    polling="raf",
                    timeout=20_000,
                ).json_value()
            except PlaywrightTimeout:
                missed += 1
                continue
            meta = backend.get_task_meta(str(task.pk))
            done = datetime.fromisoformat(str(meta["date_done"]))
            if done.tzinfo is None:
                done = done.replace(tzinfo=UTC)
            finished = Task.objects.get(pk=task.pk).finished_at
            finished_at = min(done, finished) if finished else done
            samples.append(seen_ms / 1000 - finished_at.timestamp())
        browser.close()
    Task.objects.filter(pk__in=ids).delete()
    return {
        "poll_interval": interval,
        "runs": len(samples),
        "missed": missed,
        "median_s": statistics.median(samples),
        "p90_s": sorted(samples)[int(0.9 * (len(samples) - 1))],
        "max_s": max(samples),
        "samples_s": samples,
    }
