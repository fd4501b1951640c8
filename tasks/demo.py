"""The standalone site's demo account: its name and password, and whether it exists."""

from __future__ import annotations

import os
from typing import NamedTuple

from django.contrib.auth import get_user_model


class DemoAccount(NamedTuple):
    name: str
    password: str


def demo_credentials() -> DemoAccount:
    """Return the demo account's name and password (TASKBOARD_DEMO_USER, _PASSWORD)."""
    return DemoAccount(
        os.environ.get("TASKBOARD_DEMO_USER", "demo"),
        os.environ.get("TASKBOARD_DEMO_PASSWORD", "demo-taskboard"),
    )


def demo_account() -> DemoAccount | None:
    """Return the demo account when it exists and is active (`make run` creates it), else None."""
    account = demo_credentials()
    User = get_user_model()
    exists = User.objects.filter(**{User.USERNAME_FIELD: account.name, "is_active": True}).exists()
    return account if exists else None
