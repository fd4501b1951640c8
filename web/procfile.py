"""Run the Procfile's processes together for `make run`; Ctrl-C stops each one cleanly.

honcho did this before, but it sends SIGTERM to each process's whole group (so a
Celery worker's pool children died before their parent and it logged ERROR lines)
and force-kills whatever still runs after a fixed 5 s, less than a worker on the
embedded filesystem broker needs for its warm shutdown (about 7 s). Here each
process gets SIGTERM alone, the way a process supervisor stops it, and is given
``--stop-timeout`` seconds before anything is killed.

    python -m web.procfile [--stop-timeout 30] [Procfile]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass
class Entry:
    name: str
    command: str


def parse(text: str) -> list[Entry]:
    """Return the ``name: command`` lines of a Procfile (blank lines and # comments skipped)."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip() or not command.strip():
            raise ValueError(f"Procfile line {number} is not 'name: command': {line!r}")
        entries.append(Entry(name.strip(), command.strip()))
    if not entries:
        raise ValueError("the Procfile names no process")
    return entries


class Runner:
    """The Procfile's processes, their output prefixed with their names, stopped together."""

    def __init__(self, entries: list[Entry], out=sys.stdout):
        self.entries, self.out = entries, out
        self.width = max(len(entry.name) for entry in entries)
        self.procs: dict[str, subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def say(self, name: str, line: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        with self.lock:
            self.out.write(f"{stamp} {name:<{self.width}} | {line}\n")
            self.out.flush()

    def start(self) -> None:
        for entry in self.entries:
            # Each in a session of its own: the terminal's Ctrl-C reaches only this
            # runner, which then stops each process in order.
            proc = subprocess.Popen(
                ["/bin/sh", "-c", entry.command],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.procs[entry.name] = proc
            self.say("system", f"{entry.name} started (pid {proc.pid})")
            threading.Thread(target=self._relay, args=(entry.name, proc), daemon=True).start()

    def _relay(self, name: str, proc: subprocess.Popen) -> None:
        for raw in proc.stdout:
            self.say(name, raw.decode(errors="replace").rstrip("\n"))

    def wait(self) -> str | None:
        """Return the name of the first process that exited, once one has (or on a stop)."""
        while not self.stopping.is_set():
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    self.say("system", f"{name} exited with code {proc.returncode}")
                    return name
            self.stopping.wait(0.2)
        return None

    def stop(self, timeout: float) -> bool:
        """SIGTERM each running process alone; kill what still runs after ``timeout`` s.

        Return whether every process stopped by itself.
        """
        for name, proc in self.procs.items():
            if proc.poll() is None:
                self.say("system", f"stopping {name}")
                proc.terminate()
        deadline = time.monotonic() + timeout
        clean = True
        for name, proc in self.procs.items():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                clean = False
                self.say("system", f"{name} still running after {timeout:.0f} s: killed")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            else:
                self.say("system", f"{name} stopped (exit code {proc.returncode})")
                # Anything it left behind in its session (a pool child) goes with it.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        return clean


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("procfile", nargs="?", default="Procfile", type=Path)
    parser.add_argument("--stop-timeout", type=float, default=30)
    args = parser.parse_args(argv)
    try:
        entries = parse(args.procfile.read_text())
    except (OSError, ValueError) as exc:
        print(f"procfile: {exc}", file=sys.stderr)
        return 2
    runner = Runner(entries)

    def on_signal(signum, frame) -> None:
        runner.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    runner.start()
    exited = runner.wait()
    clean = runner.stop(args.stop_timeout)
    # Stopped on request with every process gone by itself: success.
    return 0 if exited is None and clean else 1


if __name__ == "__main__":
    sys.exit(main())
