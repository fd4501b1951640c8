"""Role groups: install the suggested groups, put new users in the site's default one."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from taskboard import permissions
from taskboard.conf import app_settings


def role_groups_install(*, add_users_to_launchers: bool = False) -> list:
    """Create the suggested role groups (permissions.GROUPS) or give them their permissions.

    Idempotent: a group that exists gets the permissions it lacks; permissions an
    admin added are kept. With ``add_users_to_launchers`` every existing user joins
    Launchers, as a site opening launching to all its users chooses to.
    """
    from django.contrib.auth.models import Group, Permission

    groups = []
    with transaction.atomic():
        for name, codenames in permissions.GROUPS.items():
            group, _ = Group.objects.get_or_create(name=name)
            group.permissions.add(
                *Permission.objects.filter(
                    content_type__app_label="taskboard", codename__in=codenames
                )
            )
            groups.append(group)
        if add_users_to_launchers:
            launchers = next(g for g in groups if g.name == permissions.LAUNCHERS)
            launchers.user_set.add(*get_user_model().objects.all())
    return groups


def user_join_default_group(user) -> None:
    """Put ``user`` in TASKBOARD_DEFAULT_GROUP, a site's opt-in; unset (a host's default): nothing.

    A suggested group (permissions.GROUPS) missing is created with its permissions.
    """
    from django.contrib.auth.models import Group, Permission

    # getattr: a host that adds Taskboard does not set it, and its users' groups are its own.
    name = app_settings.DEFAULT_GROUP
    if not name:
        return
    group, created = Group.objects.get_or_create(name=name)
    if created and name in permissions.GROUPS:
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="taskboard", codename__in=permissions.GROUPS[name]
            )
        )
    user.groups.add(group)


def on_user_saved(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """Put a newly created user in the site's default group, if it names one (post_save)."""
    if created and not raw:
        user_join_default_group(instance)
