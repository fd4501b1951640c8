"""Start and stop the processes a bench run needs: gunicorn, Flower, Celery workers."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from web.devtools import ROOT, ChildProcess

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


class Proc(ChildProcess):
    """A child process in its own session, logged to var/bench/<name>.log."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]):
        super().__init__(name, argv, env, LOG_DIR / f"{name}.log")
        self.name = name


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
