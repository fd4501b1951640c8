"""Reads: every query the pages, the poll and the API make goes through here."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from tasks.models import Task


def completed_tasks() -> QuerySet[Task]:
    """Return the completed tasks."""
    return Task.objects.completed()


def failed_tasks() -> QuerySet[Task]:
    """Return the failed tasks."""
    return Task.objects.failed()


def running_tasks() -> QuerySet[Task]:
    """Return the running tasks."""
    return Task.objects.running()


def pending_tasks() -> QuerySet[Task]:
    """Return the pending tasks."""
    return Task.objects.pending()


def visible_tasks(user) -> QuerySet[Task]:
    """Return the tasks ``user`` may see."""
    return Task.objects.visible_to(user)


def task_get(*, user, task_id) -> Task:
    """Return the task ``user`` may see with this id, or raise Http404."""
    return get_object_or_404(visible_tasks(user).select_related("owner", "retry_of"), pk=task_id)
