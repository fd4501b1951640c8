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
