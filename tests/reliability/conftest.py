"""Fault-injection fixtures: a private redis-server, a broker, workers, a database proxy.

Every scenario gets its own redis-server on a free port (no persistence, so a
restart loses everything, as in the fault being tested), its own queue, and
worker subprocesses pointed at them. The test process plays the web process:
its Celery app is pointed at the same broker and result backend for the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from celery import current_app
from kombu import Connection, pools

from taskboard.models import Task
from tests.conftest import CI, MISSING, WorkerProcess, test_database_url, wait_for, worker_env

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
# Workers import both; the test process never imports probe_remote (see there).
PROBE_MODULE = "tests.reliability.probe,tests.reliability.probe_remote"
# Each run's test process must see the same Celery settings as its workers.
APP_KEYS = ("broker_url", "result_backend", "task_default_queue", "broker_transport_options")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rabbitmq_problem() -> str | None:
    try:
        with Connection(RABBITMQ_URL, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        return f"RabbitMQ at {RABBITMQ_URL} is unreachable: {exc}"
    return None


class RedisServer:
    """A private `redis-server` without persistence that a test can kill and restart."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir, self.port = workdir, port or free_port()
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=5)

    def start(self, timeout: float = 10) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        """SIGKILL the server: everything it held is gone."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()


def point_app(app, **conf) -> None:
    """Point this process's Celery app at other servers, dropping cached connections."""
    backend = app._backend_cache or getattr(app._local, "backend", None)
    consumer = getattr(backend, "result_consumer", None) if backend else None
    if consumer is not None:
        with contextlib.suppress(Exception):
            consumer.stop()
    # kombu keeps pools per broker URL process-wide: close them all and forget them.
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    app.amqp.__dict__.pop("default_queue", None)
    app._backend_cache = None
    app._local = threading.local()
    app.conf.update(**conf)


@dataclass
class Stack:
    """One scenario's servers, queue and workers; ``broker`` is "redis" or "amqp"."""

    broker: str
    redis: RedisServer
    log_dir: Path
    queue: str
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def broker_url(self) -> str:
        return self.redis.url(0) if self.broker == "redis" else RABBITMQ_URL

    @property
    def result_url(self) -> str:
        return self.redis.url(1)

    @property
    def results(self) -> redis.Redis:
        """A client on the result backend's database."""
        return self.redis.client(1)

    def env(self, database_url: str | None = None, **overrides: str) -> dict[str, str]:
        env = worker_env(
            REDIS_URL=self.result_url,
            CELERY_BROKER_URL=self.broker_url,
            CELERY_RESULT_BACKEND=self.result_url,
            CELERY_TASK_DEFAULT_QUEUE=self.queue,
            CELERY_UNACKED_RESTORE_INTERVAL="1",
        )
        if database_url:
            env["DATABASE_URL"] = database_url
        env.update(overrides)
        return env

    def worker(
        self,
        name: str,
        concurrency: int = 1,
        database_url: str | None = None,
        **env: str,
    ) -> WorkerProcess:
        """Start a worker on this scenario's queue (with the probe tasks) and return it."""
        worker = WorkerProcess(
            self.env(database_url, **env),
            self.log_dir / f"{name}.log",
            f"{name}-{uuid.uuid4().hex[:6]}@%h",
            concurrency=concurrency,
            extra=("-I", PROBE_MODULE),
        )
        self.workers.append(worker)
        return worker.start()

    def runs(self, task_id) -> int:
        """Return how many times a probe task's body started."""
        from tests.reliability.probe import runs_key

        return int(self.results.get(runs_key(task_id)) or 0)

    def send_probe(self, name: str, **kwargs) -> str:
        """Send a probe task from this (web) process and return its id."""
        return current_app.send_task(f"probe.{name}", kwargs=kwargs).id


@pytest.fixture
def stack(request, django_db_blocker, tmp_path):
    """A private Redis (result backend, and broker unless ``amqp``), a queue and workers.

    Parametrize indirectly with "redis" or "amqp"; the default is "redis".
    """
    broker = getattr(request, "param", "redis")
    problems = list(MISSING["integration"])
    if broker == "amqp" and (problem := _rabbitmq_problem()):
        problems.append(problem)
    if problems:
        if CI:
            pytest.fail("; ".join(problems))
        pytest.skip("; ".join(problems))
    server = RedisServer(tmp_path / "redis").start()
    queue = f"taskboard-fault-{uuid.uuid4().hex[:8]}"
    scenario = Stack(broker, server, tmp_path / "logs", queue)
    saved = {key: current_app.conf[key] for key in APP_KEYS}
    with django_db_blocker.unblock():
        point_app(
            current_app,
            broker_url=scenario.broker_url,
            result_backend=f"taskboard.backends:RedisBackend+{scenario.result_url}",
            task_default_queue=queue,
            broker_transport_options={},
        )
    try:
        yield scenario
    finally:
        for worker in scenario.workers:
            worker.kill()
        point_app(current_app, **saved)
        if broker == "amqp":
            with contextlib.suppress(Exception), Connection(RABBITMQ_URL) as conn:
                conn.default_channel.queue_delete(queue)
                conn.default_channel.exchange_delete(queue)
        server.kill()


def database_url_via(port: int) -> str:
    """Return the test database's URL reached through 127.0.0.1:``port``."""
    parts = urlsplit(test_database_url())
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@127.0.0.1:{port}" if auth else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


class TcpProxy:
    """Forward 127.0.0.1:<port> to a server; ``cut()`` drops every connection until ``mend()``."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_off = threading.Event()
        self.closed = threading.Event()
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.refused = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_off.is_set():
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        """Close every forwarded connection and refuse new ones."""
        self.cut_off.set()
        with self.lock:
            sockets = list(self.sockets)
        for sock in sockets:
            self._drop(sock)

    def mend(self) -> None:
        self.cut_off.clear()

    def close(self) -> None:
        self.closed.set()
        self.cut()
        self.listener.close()


@pytest.fixture
def db_proxy(django_db_blocker):
    """A TCP proxy to the test database that a test can cut and mend."""
    with django_db_blocker.unblock():
        parts = urlsplit(test_database_url())
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    yield proxy
    proxy.close()


def running(task_id, timeout: float = 30) -> Task:
    """Wait until the row of ``task_id`` is running and return it."""
    return wait_for(
        lambda: Task.objects.filter(pk=task_id, status="running").first(),
        timeout=timeout,
        message=f"task {task_id} to start",
    )


@pytest.fixture
def unthrottled(settings):
    """Lift the per-user launch rate limit: these tests launch thousands on purpose."""
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 0
