"""Create an API token for a user and print its key once."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tasks.tokens import token_create


class Command(BaseCommand):
    help = "Create a bearer token for the read-only API (/api/tasks/) and print it once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label to tell tokens apart.")

    def handle(self, *args, username: str, name: str, **options) -> None:
        model = get_user_model()
        try:
            user = model.objects.get(**{model.USERNAME_FIELD: username})
        except model.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        token, key = token_create(user=user, name=name)
        self.stderr.write(f"Token {token.prefix}… for {username}; it is not shown again:")
        self.stdout.write(key)
