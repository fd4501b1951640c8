from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


def demo_credentials() -> tuple[str, str]:
    """Return the demo account's username and first password."""
    return (
        os.environ.get("TASKBOARD_DEMO_USER", "demo"),
        os.environ.get("TASKBOARD_DEMO_PASSWORD", "demo-taskboard"),
    )


class Command(BaseCommand):
    help = "Create the demo account (if missing) and print how to log in."

    def handle(self, *args, **options) -> None:
        username, password = demo_credentials()
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.is_staff = True
            user.is_superuser = True
            user.set_password(password)
            user.save()
            self.stdout.write(f"Created the demo account: {username} / {password}")
        else:
            self.stdout.write(f"Log in as {username} (password {password}, unless you changed it)")
