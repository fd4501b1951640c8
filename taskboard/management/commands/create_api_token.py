"""Create an API token for a user and print its key once, or revoke one by its prefix."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from taskboard import selectors
from taskboard.tokens import TooManyTokens, token_create, token_revoke


class Command(BaseCommand):
    help = (
        "Create a bearer token for the read-only API (/api/tasks/) and print it once; "
        "with --revoke PREFIX, revoke the user's token whose key starts so."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label to tell tokens apart.")
        parser.add_argument(
            "--revoke",
            metavar="PREFIX",
            help="Revoke the token shown as PREFIX… (on the user's API tokens page).",
        )

    def handle(self, *args, username: str, name: str, revoke: str | None, **options) -> None:
        model = get_user_model()
        try:
            user = model.objects.get(**{model.USERNAME_FIELD: username})
        except model.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if revoke is not None:
            return self.revoke(user, username, revoke.rstrip("…"))
        try:
            token, key = token_create(user=user, name=name)
        except TooManyTokens as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"Token {token.prefix}… for {username}; it is not shown again:")
        self.stdout.write(key)

    def revoke(self, user, username: str, prefix: str) -> None:
        matches = list(selectors.api_tokens(user=user).filter(prefix=prefix)[:2])
        if not matches:
            raise CommandError(f"{username} has no token {prefix}….")
        if len(matches) > 1:
            # Nine random characters make this unlikely; the admin tells them apart.
            raise CommandError(f"{username} has several tokens {prefix}…: revoke in the admin.")
        token_revoke(token=matches[0])
        self.stderr.write(f"Revoked {prefix}… of {username}.")
