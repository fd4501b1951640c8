"""What the tests and the bench both use: a logged child process, Chromium's flags."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class ChildProcess:
    """A command run from the project root in its own session, its output in ``log``.

    Its own session: a kill reaches its children too (a worker's pool processes).
    """

    def __init__(
        self, label: str, argv: list[str], env: dict[str, str], log: Path, *, append: bool = False
    ):
        self.label, self.argv, self.env, self.log, self.append = label, argv, env, log, append
        self.proc: subprocess.Popen | None = None

    def start(self, ready: Callable[[], bool], timeout: float = 60) -> Self:
        """Start the command and return once ``ready()`` is true; raise if it exits first."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.log, "ab" if self.append else "wb")  # noqa: SIM115 - closed with the process
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
                raise RuntimeError(f"{self.label} exited early:\n{self.tail()}")
            if ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.label} not ready in {timeout}s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines of the log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def children(self) -> list[int]:
        """Return the pids of the process's direct children."""
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(pid) for pid in out.split()]

    def kill(self) -> None:
        """SIGKILL the whole session (the process and its children)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the process; SIGKILL its session if it is still there after ``timeout``."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
