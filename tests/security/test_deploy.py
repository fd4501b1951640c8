"""Production settings pass Django's deployment checks; security headers are set."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def production_env() -> dict[str, str]:
    # The test process itself sets DJANGO_ALLOW_ASYNC_UNSAFE for Playwright.
    drop = {"DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        # The project's settings, not the suite's (tests/settings.py sets a key).
        DJANGO_SETTINGS_MODULE="web.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        HTTPS="1",
        ALLOWED_HOSTS="taskboard.example.com",
        TASKBOARD_PRODUCTION="1",
    )
    return env


def test_check_deploy_reports_nothing_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key():
    env = production_env()
    del env["SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


SETUP = "import django; django.setup(); print('started')"


def django_setup(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SETUP], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_debug_off_without_secret_key_refuses_to_start():
    env = production_env()
    del env["SECRET_KEY"], env["TASKBOARD_PRODUCTION"]
    result = django_setup(env)
    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured: SECRET_KEY must be set" in result.stderr


def test_debug_unset_without_secret_key_refuses_to_start():
    env = production_env()
    del env["SECRET_KEY"], env["DEBUG"], env["TASKBOARD_PRODUCTION"]
    result = django_setup(env)
    assert "ImproperlyConfigured: SECRET_KEY must be set" in result.stderr


def test_debug_off_with_the_development_key_refuses_to_start():
    from web.settings import DEVELOPMENT_SECRET_KEY

    env = production_env() | {"SECRET_KEY": DEVELOPMENT_SECRET_KEY}
    result = django_setup(env)
    assert "ImproperlyConfigured: SECRET_KEY must be set" in result.stderr


def test_debug_on_starts_on_the_development_key():
    env = production_env() | {"DEBUG": "1"}
    del env["SECRET_KEY"]
    result = django_setup(env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"


@pytest.mark.django_db
def test_security_headers_on_pages(client, user):
    client.force_login(user)
    response = client.get("/tasks/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_no_inline_script_in_pages(client, user):
    client.force_login(user)
    for url in ("/tasks/", "/launch/", "/accounts/login/"):
        body = client.get(url).content.decode()
        for chunk in body.split("<script")[1:]:
            tag = chunk.split(">", 1)[0]
            assert "src=" in tag, f"inline <script> on {url}: {tag[:80]}"
        assert " hx-on" not in body and "hx-on:" not in body, f"hx-on needs eval ({url})"
