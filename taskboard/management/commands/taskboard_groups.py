"""Create or update the suggested role groups (docs/operations.md, "Roles")."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from taskboard import permissions, services


class Command(BaseCommand):
    help = (
        "Create the suggested role groups (Launchers, Operators, Read-only staff) or give "
        "them their permissions; run again at will. Users' groups are left alone unless "
        "--add-users-to-launchers is given."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--add-users-to-launchers",
            action="store_true",
            help="Also put every existing user in Launchers (they may then launch tasks).",
        )

    def handle(self, *args, add_users_to_launchers: bool = False, **options) -> None:
        groups = services.role_groups_install(add_users_to_launchers=add_users_to_launchers)
        if options["verbosity"] < 1:
            return
        for group in groups:
            codenames = ", ".join(permissions.GROUPS[group.name])
            self.stdout.write(f"{group.name}: {codenames}")
        if add_users_to_launchers:
            self.stdout.write(f"Every user is in {permissions.LAUNCHERS}.")
