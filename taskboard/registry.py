"""The registry of launchable tasks: a Celery task bound to a form, a title and a description."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from taskboard import permissions


class UnknownTask(LookupError):
    """No launchable task is registered under that name."""


@dataclass(frozen=True)
class Launchable:
    name: str
    # The Celery task, or for a workflow the function that builds its canvas
    # (a chain or a chord) from the form's cleaned data.
    task: object
    form_class: type[forms.Form]
    title: str
    description: str = ""
    staff_only: bool = False
    # A template that draws the result on the detail page (docs in the README);
    # empty: the result is shown as JSON.
    result_template: str = ""

    @property
    def is_workflow(self) -> bool:
        """Return whether launching this builds a canvas (a chain or a chord) of many tasks."""
        return not hasattr(self.task, "apply_async")

    def allowed_for(self, user) -> bool:
        """Return whether ``user`` may launch this task (taskboard/permissions.py)."""
        return permissions.can_launch_entry(user, self)


_registry: dict[str, Launchable] = {}
# Registered before Django's apps were loaded, when no template can be looked up yet:
# checked by TaskboardConfig.ready.
_unchecked: list[Launchable] = []


def _check_result_template(entry: Launchable) -> None:
    """Refuse a result template that does not exist, naming the task and the template."""
    from django.template import TemplateDoesNotExist
    from django.template.loader import get_template

    try:
        get_template(entry.result_template)
    except TemplateDoesNotExist as exc:
        raise ImproperlyConfigured(
            f"Launchable task {entry.name!r}: its result_template "
            f"{entry.result_template!r} does not exist."
        ) from exc


def check_result_templates() -> None:
    """Check the result templates of the tasks registered before Django's apps were loaded."""
    while _unchecked:
        _check_result_template(_unchecked.pop())


def register(
    task,
    *,
    form: type[forms.Form],
    title: str,
    description: str = "",
    staff_only: bool = False,
    result_template: str = "",
    name: str = "",
) -> Launchable:
    """Register a Celery task as launchable from the web with ``form`` for its parameters.

    ``task`` may instead be a function that returns a canvas signature (a chain or a
    chord) built from the form's cleaned data, as keyword arguments: a workflow,
    registered under ``name`` (by default the function's module and name).
    ``result_template`` names a template that draws a completed task's result on its
    detail page (given ``task`` and ``result``); a missing one is refused here.
    """
    if not name:
        name = getattr(task, "name", "") or f"{task.__module__}.{task.__name__}"
    entry = Launchable(
        name=name,
        task=task,
        form_class=form,
        title=title,
        description=description,
        staff_only=staff_only,
        result_template=result_template,
    )
    if result_template:
        if apps.apps_ready:
            _check_result_template(entry)
        else:
            _unchecked.append(entry)
    _registry[entry.name] = entry
    return entry


def launchable(**options) -> Callable:
    """Register the decorated Celery task or canvas-building function; see ``register``."""

    def decorator(task):
        register(task, **options)
        return task

    return decorator


def unregister(name: str) -> None:
    """Remove the launchable registered as ``name``, if any (a test's own, once it ends)."""
    _registry.pop(name, None)


def get(name: str) -> Launchable:
    """Return the launchable registered as ``name`` or raise UnknownTask."""
    try:
        return _registry[name]
    except KeyError:
        raise UnknownTask(name) from None


def all_launchables() -> list[Launchable]:
    """Return every registered launchable, ordered by title."""
    return sorted(_registry.values(), key=lambda entry: entry.title.lower())
