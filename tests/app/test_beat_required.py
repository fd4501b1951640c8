"""A host without django_celery_beat in INSTALLED_APPS is told what to add, not a riddle."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

WITHOUT_BEAT = """
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=[
        "django.contrib.auth", "django.contrib.contenttypes", "django_htmx",
        "django_tables2", "template_partials", "taskboard",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()
"""


def test_missing_django_celery_beat_names_the_app_to_add():
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_BEAT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured: Taskboard needs 'django_celery_beat' in INSTALLED_APPS" in (
        done.stderr
    )
