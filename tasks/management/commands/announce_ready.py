from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request

from celery import current_app
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from taskboard import ops
from tasks.demo import demo_credentials


def _stop(signum, frame) -> None:
    sys.exit(0)


class Command(BaseCommand):
    help = "Wait until web and a worker answer, print where to log in, then wait to be stopped."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--timeout", type=float, default=120)

    def handle(self, *args, timeout: float, **options) -> None:
        # `make run` starts this beside web, worker and beat: the URL printed before them
        # scrolls away under their start-up output, so it is printed again once they are up.
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        url = f"http://127.0.0.1:{os.environ.get('TASKBOARD_PORT', '8000')}/"
        deadline = time.monotonic() + timeout
        while not (_healthy(url) and _worker_answers()):
            if time.monotonic() > deadline:
                self.stderr.write(f"Taskboard did not come up within {timeout:.0f} s.")
                break
            time.sleep(0.5)
        else:
            username, password = demo_credentials()
            User = get_user_model()
            user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
            # The password only while it is still the demo one.
            known = user is not None and user.check_password(password)
            account = f"{username} / {password}" if known else username
            self.stdout.write(f"Taskboard is ready: {url}  (log in as {account})")
            self.stdout.write("Ctrl-C stops web, worker and beat.")
            self.stdout.flush()
        while True:
            signal.pause()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "healthz", timeout=2) as response:
            return json.load(response).get("status") == "ok"
    except (OSError, ValueError):
        return False


def _worker_answers() -> bool:
    try:
        conn = ops.broker_connection(1)
    except ops.BrokerUnreachable:
        return False
    try:
        return bool(current_app.control.inspect(timeout=1, connection=conn).ping())
    finally:
        conn.release()
