"""The wheel: it carries the whole app and nothing of the site, and runs in a bare host.

The wheel is built from this checkout, installed into a fresh virtual environment with
the versions requirements.txt pins, and used by a host written here the way a newcomer
would write it after ``startproject``: the host's own directory is the working directory,
so the checkout's ``taskboard`` cannot be imported in its place.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

PACKAGE = ROOT / "taskboard"


def source_files() -> list[str]:
    """The package's files as the wheel names them, less bytecode."""
    return sorted(
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def run(command: list, cwd: Path, env: dict | None = None) -> str:
    """Run ``command``; on failure the test fails with everything it printed."""
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (
        f"{' '.join(map(str, command))} exited {done.returncode}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    return done.stdout


SETTINGS = """\
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "packaging-test-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tables2",
    "template_partials",
    "django_celery_beat",
    "taskboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "host.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
"""

URLS = """\
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("jobs/", include("taskboard.urls")),
]
"""

MANAGE = """\
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "host.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

# Run in the host: every template and static file of the checkout is found through
# Django's loaders and finders, and a logged-in user gets the task page.
SMOKE = """\
import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "host.settings")
import django

django.setup()

from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.template.loader import get_template
from django.test import Client

import taskboard

with open(sys.argv[1]) as handle:
    expected = json.load(handle)
for name in expected["templates"]:
    get_template(name)
user = get_user_model().objects.create_user("newcomer", is_staff=True)
client = Client()
client.force_login(user)
response = client.get("/jobs/tasks/")
print(json.dumps({
    "taskboard": taskboard.__file__,
    "status": response.status_code,
    "body": response.content.decode(),
    "poll_js": finders.find("taskboard/js/poll.js"),
    "static_missing": [name for name in expected["static"] if finders.find(name) is None],
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # No build isolation: hatchling comes from requirements-dev.txt, no network needed.
    out = tmp_path_factory.mktemp("dist")
    pip = [sys.executable, "-m", "pip"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", out, ROOT], cwd=out)
    (built,) = out.glob("taskboard-*.whl")
    return built


def test_the_wheel_carries_the_app_and_nothing_else(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    package = sorted(name for name in names if not re.match(r"taskboard-[^/]+\.dist-info/", name))
    # Templates, static files and migrations among them.
    assert package == source_files()
    assert any(name.startswith("taskboard/templates/taskboard/") for name in package)
    assert any(name.startswith("taskboard/static/taskboard/") for name in package)
    assert "taskboard/migrations/0001_initial.py" in package
    for site in ("web/", "tasks/", "tests/", "bench/", "templates/", "static/", "manage.py"):
        assert not [name for name in names if name.startswith(site)], site
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_the_metadata_names_the_apps_runtime_libraries(wheel):
    (metadata,) = [
        name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".dist-info/METADATA")
    ]
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    required = {
        re.match(r"[A-Za-z0-9_.-]+", line.removeprefix("Requires-Dist: ")).group().lower()
        for line in text.splitlines()
        if line.startswith("Requires-Dist: ")
    }
    assert {"django", "celery", "redis", "django-htmx", "django-tables2"} <= required
    assert {"django-filter", "django-template-partials", "prometheus-client"} <= required
    # The standalone site's own choices are not forced on a host.
    assert not required & {"gunicorn", "whitenoise", "psycopg", "django-axes", "django-csp"}


def constraints(tmp_path: Path) -> Path:
    """requirements.txt as a constraints file: pip refuses extras ("celery[redis]") there."""
    lines = [
        re.sub(r"\[[^\]]*\]", "", line)
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    ]
    path = tmp_path / "constraints.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_fresh_host_checks_migrates_and_serves_the_task_page(wheel, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    run(
        [python, "-m", "pip", "install", "--quiet", "-c", constraints(tmp_path), wheel],
        cwd=tmp_path,
    )

    site = tmp_path / "site"
    (site / "host").mkdir(parents=True)
    (site / "host" / "__init__.py").write_text("")
    (site / "host" / "settings.py").write_text(SETTINGS)
    (site / "host" / "urls.py").write_text(URLS)
    (site / "manage.py").write_text(MANAGE)
    (site / "smoke.py").write_text(SMOKE)
    # Only the host's own settings: never this suite's, nor the checkout on the path.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "VIRTUAL_ENV"}
    }

    run([python, "manage.py", "check", "--fail-level", "WARNING"], cwd=site, env=env)
    run([python, "manage.py", "migrate", "--noinput", "-v0"], cwd=site, env=env)
    # A schema migration missing from the wheel shows up as changes to make; a data
    # migration (the role groups) only as one missing from the applied list.
    run([python, "manage.py", "makemigrations", "--check", "--dry-run", "taskboard"], site, env)
    applied = run([python, "manage.py", "showmigrations", "taskboard"], cwd=site, env=env)
    files = source_files()
    migrations = [
        Path(name).stem
        for name in files
        if re.fullmatch(r"taskboard/migrations/\d{4}_\w+\.py", name)
    ]
    assert re.findall(r"\[X\] (\w+)", applied) == migrations, applied
    expected = {
        "templates": [
            name.removeprefix("taskboard/templates/")
            for name in files
            if name.startswith("taskboard/templates/")
        ],
        "static": [
            name.removeprefix("taskboard/static/")
            for name in files
            if name.startswith("taskboard/static/")
        ],
    }
    (site / "expected.json").write_text(json.dumps(expected))
    smoke = json.loads(run([python, "smoke.py", "expected.json"], cwd=site, env=env))

    assert Path(smoke["taskboard"]).is_relative_to(venv), smoke["taskboard"]
    assert smoke["status"] == 200, smoke["body"][:2000]
    assert 'id="task-table"' in smoke["body"]
    assert "/jobs/tasks/" in smoke["body"]
    assert smoke["poll_js"] is not None
    assert Path(smoke["poll_js"]).is_relative_to(venv)
    assert smoke["static_missing"] == []
