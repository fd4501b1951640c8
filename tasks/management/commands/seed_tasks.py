"""Fill the Task table with a realistic history for benchmarks (COPY, idempotent)."""

from __future__ import annotations

import random
import sys
import time
import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from taskboard.models import CANCELLED, COMPLETED, FAILED, PENDING, RUNNING, Task

BENCH_USER = "bench"
BENCH_PASSWORD = "bench-taskboard-pw"
OTHER_OWNERS = ("alice", "bob", "carol", "dave")
# Registered names (so retry and the catalog work) and a few sent from code elsewhere.
NAMES = (
    ("demo.quick", 30),
    ("demo.long", 12),
    ("demo.fail", 3),
    ("demo.flaky", 6),
    ("taskboard.export_csv", 6),
    ("taskboard.purge", 1),
    ("reports.nightly_digest", 10),
    ("billing.send_invoice", 12),
    ("images.make_thumbnail", 15),
    ("sync.crm_contacts", 5),
)
TERMINAL_MIX = ((COMPLETED, 87), (FAILED, 9), (CANCELLED, 4))
ERRORS = (
    ("ValueError", "invalid literal for int() with base 10: 'abc'"),
    ("TimeoutError", "timed out after 30s waiting for the upstream API"),
    ("ConnectionError", "Error 111 connecting to 10.0.0.12:5432. Connection refused."),
    ("KeyError", "'customer_id'"),
    ("WorkerLostError", "worker lost: Worker exited prematurely: signal 9 (SIGKILL)."),
    ("RuntimeError", "Something went wrong on purpose"),
)
COLUMNS = (
    "id",
    "name",
    "status",
    "owner_id",
    "args",
    "kwargs",
    "queue",
    "worker",
    "attempts",
    "result",
    "result_truncated",
    "error_type",
    "error_message",
    "traceback",
    "cancel_requested",
    "created_at",
    "started_at",
    "finished_at",
    "version",
    "pinned",
)
HISTORY_DAYS = 180


def _weighted(pairs):
    values = [value for value, _ in pairs]
    weights = [weight for _, weight in pairs]
    return values, weights


class Command(BaseCommand):
    requires_system_checks: list = []
    help = (
        "Top the Task table up to --rows rows of realistic history (mostly completed, some "
        "failed and cancelled) plus --in-flight pending/running rows of the bench user whose "
        "live PROGRESS state is written to the result backend. Re-running adds nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--rows", type=int, default=1_000_000, help="total rows wanted")
        parser.add_argument("--in-flight", type=int, default=300, help="bench user's live rows")
        parser.add_argument("--batch", type=int, default=50_000)
        parser.add_argument("--seed", type=int, default=5)
        parser.add_argument("--no-vacuum", action="store_true", help="skip VACUUM ANALYZE")

    def handle(self, *args, rows: int, in_flight: int, batch: int, seed: int, **options) -> None:
        rng = random.Random(seed)
        owners = self._owners()
        in_flight_ids = self._in_flight(owners[0], in_flight, rng)
        existing = Task.objects.count()
        missing = rows - existing
        if missing > 0:
            self._copy(missing, owners, rng, batch)
        else:
            self.stderr.write(f"seed_tasks: {existing} rows already, nothing to add\n")
        if missing > 0 and not options["no_vacuum"]:
            started = time.monotonic()
            with connection.cursor() as cursor:
                # Fresh visibility map and statistics, as autovacuum would give a live table.
                cursor.execute(f"VACUUM (ANALYZE) {Task._meta.db_table}")
            self.stderr.write(f"seed_tasks: VACUUM ANALYZE in {time.monotonic() - started:.1f}s\n")
        live = self._write_live_state(in_flight_ids, rng)
        self.stdout.write(
            f"seed_tasks: {Task.objects.count()} rows, {len(in_flight_ids)} in flight "
            f"({live} with live state in the result backend)"
        )

    def _owners(self) -> list:
        """Return the bench user (staff, first) and the other owners, creating them."""
        User = get_user_model()
        login = User.USERNAME_FIELD
        bench, created = User.objects.get_or_create(
            **{login: BENCH_USER}, defaults={"is_staff": True}
        )
        if created or not bench.check_password(BENCH_PASSWORD):
            bench.set_password(BENCH_PASSWORD)
            bench.save()
        others = [User.objects.get_or_create(**{login: name})[0] for name in OTHER_OWNERS]
        return [bench, *others]

    def _in_flight(self, bench, wanted: int, rng: random.Random) -> list[uuid.UUID]:
        """Top up the bench user's pending/running rows (the newest ones) to ``wanted``."""
        current = list(
            Task.objects.filter(owner=bench, status__in=(PENDING, RUNNING))
            .order_by("-created_at")
            .values_list("id", flat=True)
        )
        now = timezone.now()
        names, weights = _weighted(NAMES[:2])
        new = []
        for i in range(max(0, wanted - len(current))):
            # Four in five are running (with progress), the rest wait in the queue.
            running = i % 5 != 0
            created = now - timedelta(seconds=rng.uniform(1, 600))
            new.append(
                Task(
                    id=uuid.uuid4(),
                    name=rng.choices(names, weights)[0],
                    status=RUNNING if running else PENDING,
                    owner=bench,
                    kwargs={"seconds": 3600, "steps": 100},
                    queue="celery",
                    worker="bench@seed" if running else "",
                    attempts=1 if running else 0,
                    created_at=created,
                    started_at=created + timedelta(seconds=1) if running else None,
                    version=2 if running else 1,
                )
            )
        with transaction.atomic():
            Task.objects.bulk_create(new, batch_size=1000)
        return current + [task.pk for task in new]

    def _write_live_state(self, ids: list[uuid.UUID], rng: random.Random) -> int:
        """Write PROGRESS meta through the Celery result backend for the running rows."""
        from celery import current_app

        backend = current_app.backend
        running = list(Task.objects.filter(pk__in=ids, status=RUNNING).values_list("id", flat=True))
        for task_id in running:
            total = 100
            current = rng.randrange(0, total)
            backend.store_result(
                str(task_id),
                {"current": current, "total": total, "message": f"step {current} of {total}"},
                "PROGRESS",
            )
        return len(running)

    def _copy(self, count: int, owners: list, rng: random.Random, batch: int) -> None:
        """COPY ``count`` terminal rows spread over the last HISTORY_DAYS days."""
        names, name_weights = _weighted(NAMES)
        statuses, status_weights = _weighted(TERMINAL_MIX)
        owner_ids = [owner.pk for owner in owners] + [None]
        # The bench user owns a fifth; a fifth came from code outside the web app.
        owner_weights = [20, 15, 15, 15, 15, 20]
        now = timezone.now() - timedelta(hours=1)
        span = HISTORY_DAYS * 86400
        table = Task._meta.db_table
        sql = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"
        started = time.monotonic()
        done = 0
        while done < count:
            n = min(batch, count - done)
            chosen_names = rng.choices(names, name_weights, k=n)
            chosen_status = rng.choices(statuses, status_weights, k=n)
            chosen_owner = rng.choices(owner_ids, owner_weights, k=n)
            with (
                transaction.atomic(),
                connection.cursor() as cursor,
                cursor.cursor.copy(sql) as copy,
            ):
                for row in zip(chosen_names, chosen_status, chosen_owner, strict=True):
                    copy.write_row(self._row(*row, rng, now, span))
            done += n
            elapsed = time.monotonic() - started
            self._progress(done, count, elapsed)
        sys.stderr.write("\n")

    def _row(self, name, status, owner_id, rng, now, span) -> tuple:
        created = now - timedelta(seconds=rng.random() * span)
        started = created + timedelta(milliseconds=rng.randint(5, 3000))
        finished = started + timedelta(milliseconds=rng.randint(10, 60_000))
        error_type = error_message = traceback = ""
        result = None
        if status == COMPLETED:
            result = str(rng.randint(0, 1000))
        elif status == FAILED:
            error_type, error_message = rng.choice(ERRORS)
            traceback = (
                "Traceback (most recent call last):\n"
                f'  File "/app/{name.replace(".", "/")}.py", line {rng.randint(10, 400)}, '
                f"in run\n    raise {error_type}(...)\n{error_type}: {error_message}\n"
            )
        else:
            error_message = "Cancelled before it started"
            started = None
        return (
            uuid.UUID(int=rng.getrandbits(128), version=4),
            name,
            status,
            owner_id,
            "[]",
            '{"x": 2, "y": 3}' if name == "demo.quick" else "{}",
            "celery",
            f"celery@worker-{rng.randint(1, 4)}" if started else "",
            1 if started else 0,
            result,
            False,
            error_type,
            error_message,
            traceback,
            False,
            created,
            started,
            finished,
            3 if started else 2,
            False,
        )

    def _progress(self, done: int, total: int, elapsed: float) -> None:
        width = 30
        filled = int(width * done / total)
        rate = done / elapsed if elapsed else 0
        sys.stderr.write(
            f"\rseed_tasks [{'#' * filled}{'.' * (width - filled)}] "
            f"{done:,}/{total:,} rows  {rate:,.0f} rows/s"
        )
        sys.stderr.flush()
