"""One run at a time for redeliverable (acks_late) tasks: the run lease.

A run holds a short lease in the result backend and renews it while it is
alive. A copy of its message that arrives meanwhile waits for the lease: if
the holder died (killed pool child or worker) the lease runs out and the copy
runs; if the holder is alive it keeps renewing, and the copy is dropped.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from taskboard.conf import app_settings

logger = logging.getLogger(__name__)

# The renewal thread of each run this process holds, stopped by release_run.
_renewals: dict[str, threading.Event] = {}


def run_key(backend, task_id):
    """Return the result-backend key that holds the run lease of ``task_id``."""
    return backend.get_key_for_task(str(task_id), key="-run")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _try_claim(client, key: str, me: str, host: str, ttl: int) -> bool:
    if client.set(key, me, nx=True, ex=ttl):
        return True
    held = (client.get(key) or b"").decode(errors="replace")
    holder_host, _, pid = held.partition("|")
    # A pool process runs one task at a time, so its own lease is a leftover;
    # on this node, a holder whose process is gone (a killed child) is dead.
    if held == me or (holder_host == host and pid.isdigit() and not _pid_alive(int(pid))):
        client.set(key, me, ex=ttl)
        return True
    return False


def _renew(client, key: str, me: str, ttl: int, stop: threading.Event) -> None:
    while not stop.wait(ttl / 3):
        try:
            if (client.get(key) or b"").decode(errors="replace") == me:
                client.expire(key, ttl)
        except Exception:  # the backend is briefly down: the next tick tries again
            continue


def claim_run(task) -> bool:
    """Take the run lease of the running ``task``; return False if a live run holds it.

    Waits up to one lease period for a holder that may have died, then keeps
    the lease renewed from a background thread until ``release_run``.
    """
    backend = task.backend
    if not hasattr(backend, "client"):
        return True  # no shared store (embedded mode): one worker, nothing to guard
    ttl = max(1, int(app_settings.RUN_LEASE))
    host = task.request.hostname or ""
    key, me = run_key(backend, task.request.id), f"{host}|{os.getpid()}"
    deadline = time.monotonic() + ttl + 1
    while not _try_claim(backend.client, key, me, host, ttl):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    stop = threading.Event()
    _renewals[str(task.request.id)] = stop
    threading.Thread(target=_renew, args=(backend.client, key, me, ttl, stop), daemon=True).start()
    return True


def release_run(task) -> None:
    """Give up the run lease of ``task`` (it finished, or will be retried)."""
    stop = _renewals.pop(str(task.request.id), None)
    if stop is None:
        return
    stop.set()
    backend = task.backend
    try:
        backend.client.delete(run_key(backend, task.request.id))
    except Exception as exc:  # it runs out by itself within one lease period
        logger.warning("could not release the run lease of %s: %s", task.request.id, exc)
