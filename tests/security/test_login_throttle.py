"""Login throttling (django-axes): five failures lock a username from one address for a while."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
LOCKED = "Too many failed logins"


def attempt(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def fail_until_locked(client: Client, username: str) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = attempt(client, username, "wrong-password")
    assert response.status_code == 429


def logged_in(client: Client) -> bool:
    return client.get("/tasks/").status_code == 200


def test_right_password_after_five_failures_is_refused_with_a_message(user):
    client = Client(REMOTE_ADDR="203.0.113.5")
    for _ in range(4):
        response = attempt(client, "alice", "wrong-password")
        assert response.status_code == 200
        assert LOCKED not in response.text
    response = attempt(client, "alice", "wrong-password")
    assert response.status_code == 429
    response = attempt(client, "alice", "alice-secret-pw")
    assert response.status_code == 429
    assert f"{LOCKED} for this account from your address." in response.text
    assert "Try again in 15 minutes." in response.text
    assert 'href="/accounts/login/"' in response.text
    assert not logged_in(client)


def test_lockout_leaves_another_user_from_the_same_address_alone(user, other_user):
    client = Client(REMOTE_ADDR="203.0.113.5")
    fail_until_locked(client, "alice")
    response = attempt(client, "bob", "bob-secret-pw")
    assert response.status_code == 302
    assert logged_in(client)


def test_lockout_leaves_the_same_user_from_another_address_alone(user):
    fail_until_locked(Client(REMOTE_ADDR="203.0.113.5"), "alice")
    client = Client(REMOTE_ADDR="198.51.100.7")
    assert attempt(client, "alice", "alice-secret-pw").status_code == 302
    assert logged_in(client)


def test_login_works_again_after_the_cool_off(user):
    client = Client(REMOTE_ADDR="203.0.113.5")
    fail_until_locked(client, "alice")
    # The failures as if made a cool-off period ago (no waiting in a test).
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert attempt(client, "alice", "alice-secret-pw").status_code == 302
    assert logged_in(client)


def test_success_resets_the_count(user):
    client = Client(REMOTE_ADDR="203.0.113.5")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "alice", "wrong-password")
    assert attempt(client, "alice", "alice-secret-pw").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "alice", "wrong-password").status_code == 200
    assert attempt(client, "alice", "alice-secret-pw").status_code == 302


def test_force_login_is_not_throttled(client, user):
    fail_until_locked(Client(), "alice")
    client.force_login(user)
    assert logged_in(client)
