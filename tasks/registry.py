"""The registry of launchable tasks: a Celery task bound to a form, a title and a description."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms

from tasks import permissions


class UnknownTask(LookupError):
    """No launchable task is registered under that name."""


@dataclass(frozen=True)
class Launchable:
    name: str
    task: object
    form_class: type[forms.Form]
    title: str
    description: str = ""
    staff_only: bool = False

    def allowed_for(self, user) -> bool:
        """Return whether ``user`` may launch this task (tasks/permissions.py)."""
        return permissions.can_launch_entry(user, self)


_registry: dict[str, Launchable] = {}


def register(
    task,
    *,
    form: type[forms.Form],
    title: str,
    description: str = "",
    staff_only: bool = False,
) -> Launchable:
    """Register a Celery task as launchable from the web with ``form`` for its parameters."""
    entry = Launchable(
        name=task.name,
        task=task,
        form_class=form,
        title=title,
        description=description,
        staff_only=staff_only,
    )
    _registry[entry.name] = entry
    return entry


def launchable(**options) -> Callable:
    """Register the decorated Celery task; see ``register`` for the options."""

    def decorator(task):
        register(task, **options)
        return task

    return decorator


def get(name: str) -> Launchable:
    """Return the launchable registered as ``name`` or raise UnknownTask."""
    try:
        return _registry[name]
    except KeyError:
        raise UnknownTask(name) from None


def all_launchables() -> list[Launchable]:
    """Return every registered launchable, ordered by title."""
    return sorted(_registry.values(), key=lambda entry: entry.title.lower())
