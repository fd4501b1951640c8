"""Template filters that ask taskboard/permissions.py what the user may do: one place for roles."""

from __future__ import annotations

from django import template

from taskboard import permissions

register = template.Library()


@register.filter
def can_act(user, task) -> bool:
    """Return whether ``user`` may cancel, delete or pin ``task``."""
    return permissions.can_act(user, task)


@register.filter
def can_retry(user, task) -> bool:
    """Return whether ``user`` may retry ``task``."""
    return permissions.can_retry(user, task)


@register.filter
def can_view_all(user) -> bool:
    """Return whether ``user`` sees everyone's tasks (and so the owner column)."""
    return permissions.can_view_all(user)


@register.filter
def can_view_audit(user) -> bool:
    """Return whether ``user`` may read the whole audit log."""
    return permissions.can_view_audit(user)


@register.filter
def can_select(user) -> bool:
    """Return whether ``user`` may act on any task at all (rows get a checkbox)."""
    return permissions.can_select(user)


@register.filter
def hears_every_failure(user) -> bool:
    """Return whether following a task name tells ``user`` of everyone's failures of it."""
    return permissions.hears_every_failure(user)


@register.filter
def can_manage_notifications(user) -> bool:
    """Return whether ``user`` may manage failure routes and webhooks."""
    return permissions.can_manage_notifications(user)
