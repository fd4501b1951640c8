"""Taskboard in a separate host project (tests/host_project), run by its own pytest.

The host has an app named ``tasks`` as this repository's site does, so it runs in a
subprocess that can import Taskboard's package and nothing else of the repository:
its path holds only a link to taskboard/. Its tests and what each checks are in
tests/host_project/host_tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import pytest
from django.conf import settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HOST = ROOT / "tests" / "host_project"


def test_host_project_suite_passes(tmp_path):
    (tmp_path / "taskboard").symlink_to(ROOT / "taskboard", target_is_directory=True)
    # The host's database is this run's, suffixed: parallel runs never share one.
    url = os.environ["DATABASE_URL"]
    name = dj_database_url.parse(url)["NAME"]
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env |= {
        "PYTHONPATH": str(tmp_path),
        "DATABASE_URL": urlsplit(url)._replace(path=f"/{name}_host").geturl(),
        "REDIS_URL": settings.REDIS_URL,
    }
    argv = [sys.executable, "-m", "pytest", "host_tests", "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(
        argv, cwd=HOST, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        output = done.stdout + done.stderr
        pytest.fail(f"the host project's tests failed:\n{output}", pytrace=False)
