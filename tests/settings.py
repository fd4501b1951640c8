"""The project's settings, with a secret key of the test suite's own.

DEBUG is off in tests (as in production), and web/settings.py refuses to start
with DEBUG off and no SECRET_KEY. Set in the environment, the key reaches the
workers, `manage.py` and `make run` that the tests start too.
"""

from __future__ import annotations

import os

if not os.environ.get("SECRET_KEY"):
    os.environ["SECRET_KEY"] = "taskboard-tests-only-secret-key-" + "t" * 32

from web.settings import *  # noqa: E402, F403

# Notifications: webhooks reach the tests' local HTTP servers on 127.0.0.1, the
# workers started by the tests (they read these settings too) see a new route or
# subscription within half a second, and retry a failed webhook quickly.
TASKBOARD_WEBHOOK_ALLOW_PRIVATE = True
TASKBOARD_NOTIFY_REFRESH_SECONDS = 0.5
# A failure group's window, short so that the worker tests hear its one message soon;
# unit tests that count several failures in one window give them one fixed time.
TASKBOARD_NOTIFY_WINDOW_SECONDS = 2
TASKBOARD_WEBHOOK_BACKOFF = 0.2
TASKBOARD_WEBHOOK_ATTEMPTS = 3
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
