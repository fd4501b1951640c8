"""Roles: who may launch, see and act on which tasks. The one place every view asks.

- Launch (and retry, which launches): ``taskboard.add_task``, for instance through the
  suggested "Launchers" group (GROUPS below; ``manage.py taskboard_groups``).
- Act on own tasks (retry, cancel, delete, pin): a launcher, on the tasks they own.
- View all: ``taskboard.view_all_tasks``. Act on all: ``taskboard.act_on_all_tasks``.
- ``is_staff`` keeps its old meaning, view and act on all (an operator), and
  superusers may do everything; read-only staff hold view_all without act_on_all
  and are not ``is_staff``. See docs/operations.md, "Roles".

Permission checks go through ``user.has_perm`` so that other authentication
backends (LDAP groups, object permissions) are honoured; Django caches the
answer on the user object for the request.
"""

from __future__ import annotations

LAUNCH = "taskboard.add_task"
VIEW_ALL = "taskboard.view_all_tasks"
ACT_ON_ALL = "taskboard.act_on_all_tasks"
VIEW_AUDIT = "taskboard.view_auditlog"
MANAGE_NOTIFICATIONS = "taskboard.change_webhook"

# The suggested role groups and their permissions (codenames of the tasks app):
# `manage.py taskboard_groups` creates them; roles are read from the permissions,
# never from the group names. Migration 0002 keeps a frozen copy of its own.
LAUNCHERS = "Launchers"
GROUPS: dict[str, tuple[str, ...]] = {
    LAUNCHERS: ("add_task",),
    "Operators": ("add_task", "view_all_tasks", "act_on_all_tasks", "view_auditlog"),
    "Read-only staff": ("view_all_tasks", "view_auditlog"),
}


def _active(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def is_operator(user) -> bool:
    """Return whether ``user`` may see and act on everyone's tasks."""
    return can_view_all(user) and can_act_on_all(user)


def can_view_all(user) -> bool:
    """Return whether ``user`` may see everyone's tasks (operators and read-only staff)."""
    if not _active(user):
        return False
    # Acting on tasks one cannot see makes no sense: act_on_all implies view_all.
    return (
        user.is_staff or user.is_superuser or user.has_perm(VIEW_ALL) or user.has_perm(ACT_ON_ALL)
    )


def can_act_on_all(user) -> bool:
    """Return whether ``user`` may retry, cancel, delete or pin everyone's tasks."""
    if not _active(user):
        return False
    return user.is_staff or user.is_superuser or user.has_perm(ACT_ON_ALL)


def can_launch(user) -> bool:
    """Return whether ``user`` may launch tasks (and so retry them)."""
    if not _active(user):
        return False
    return user.is_staff or user.has_perm(LAUNCH)


def can_view_audit(user) -> bool:
    """Return whether ``user`` may read the whole audit log (/audit/)."""
    if not _active(user):
        return False
    return can_view_all(user) or user.has_perm(VIEW_AUDIT)


def can_act(user, task) -> bool:
    """Return whether ``user`` may retry, cancel, delete or pin ``task``."""
    if not _active(user):
        return False
    if can_act_on_all(user):
        return True
    return task.owner_id == user.pk and can_launch(user)


def can_retry(user, task) -> bool:
    """Return whether ``user`` may retry ``task``: act on it, and launch."""
    return can_act(user, task) and can_launch(user)


def can_select(user) -> bool:
    """Return whether ``user`` may act on any task at all (table rows get a checkbox)."""
    return can_act_on_all(user) or can_launch(user)


def can_launch_entry(user, entry) -> bool:
    """Return whether ``user`` may launch the registered ``entry`` (taskboard/registry.py)."""
    if not can_launch(user):
        return False
    # Staff-only tasks (the purge) touch everyone's rows: operators only.
    return not entry.staff_only or is_operator(user)


def can_act_on_failure_groups(user) -> bool:
    """Return whether ``user`` may retry or delete whole failure groups (/failures/).

    Operators act on every group and a launcher on their own (the only ones they
    see). Read-only staff see everyone's groups, so they act on none of them.
    """
    return can_act_on_all(user) or (not can_view_all(user) and can_launch(user))


def can_act_on_schedule(user, schedule) -> bool:
    """Return whether ``user`` may edit, enable, disable, delete or run ``schedule`` now.

    As for a task: its owner while they may launch, and operators (act on all).
    """
    return can_act(user, schedule)


def hears_every_failure(user) -> bool:
    """Return whether a follower of a task name hears of everyone's failures of it.

    Any signed-in user may follow a name; what they hear is what they may see:
    everyone's failures for those who see everyone's tasks, their own for the others.
    """
    return can_view_all(user)


def can_manage_notifications(user) -> bool:
    """Return whether ``user`` may manage failure routes and webhooks (staff pages)."""
    if not _active(user):
        return False
    return user.is_staff or user.is_superuser or user.has_perm(MANAGE_NOTIFICATIONS)


def visible_filter(queryset, user):
    """Return ``queryset`` (of tasks or schedules) narrowed to what ``user`` may see."""
    if not _active(user):
        return queryset.none()
    if can_view_all(user):
        return queryset
    return queryset.filter(owner=user)


def actionable_filter(queryset, user):
    """Return ``queryset`` (of tasks) narrowed to what ``user`` may act on."""
    if not _active(user):
        return queryset.none()
    if can_act_on_all(user):
        return queryset
    if can_launch(user):
        return queryset.filter(owner=user)
    return queryset.none()
