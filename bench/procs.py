"""Start and stop the processes a bench run needs: gunicorn, Flower, Celery workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOG_DIR = ROOT / "var" / "bench"
# Printed by bench.celery_app when its worker is ready (its log level hides Celery's own).
READY_MARK = "bench-worker-ready"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Return whether something accepts connections on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def free_port(start: int) -> int:
    """Return the first port from ``start`` on which nothing listens."""
    port = start
    while port_open(port):
        port += 1
    return port


class Proc:
    """A child process in its own session, logged to var/bench/<name>.log."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]):
        self.name, self.argv, self.env = name, argv, env
        self.proc: subprocess.Popen | None = None
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log = LOG_DIR / f"{name}.log"

    def start(self, ready: Callable[[], bool], timeout: float = 60) -> Proc:
        handle = open(self.log, "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.tail()}")
            if ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready in {timeout}s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def children(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(pid) for pid in out.split()]

    def stop(self, timeout: float = 20) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def rss_kib(pid: int) -> int:
    """Return the resident set size of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def gunicorn(name: str, port: int, env: dict[str, str], workers: int = 2) -> Proc:
    """Serve web.wsgi the production way (Procfile flags, no access log) on ``port``."""
    argv = [
        str(BIN / "gunicorn"),
        "web.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    return Proc(name, argv, env).start(lambda: port_open(port))


def flower(port: int, env: dict[str, str]) -> Proc:
    """Run Flower with its defaults (max_tasks included) and the unauthenticated API on."""
    argv = [
        str(BIN / "celery"),
        "-A",
        "web",
        "flower",
        "--address=127.0.0.1",
        f"--port={port}",
    ]
    env = {**env, "FLOWER_UNAUTHENTICATED_API": "1"}
    return Proc("flower", argv, env).start(lambda: port_open(port), timeout=90)


def worker(
    name: str, env: dict[str, str], queue: str, *, events: bool, concurrency: int = 2
) -> Proc:
    """Run a Celery worker of bench.celery_app on ``queue``; ready when it says so."""
    argv = [
        str(BIN / "celery"),
        "-A",
        "bench.celery_app",
        "worker",
        "--loglevel=WARNING",
        f"--concurrency={concurrency}",
        "-Q",
        queue,
        "-n",
        f"{name}@bench",
        "--without-mingle",
        "--without-gossip",
    ]
    if events:
        argv.append("-E")
    proc = Proc(name, argv, env)
    return proc.start(lambda: READY_MARK.encode() in proc.log.read_bytes(), timeout=90)
