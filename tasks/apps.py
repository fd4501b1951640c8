from __future__ import annotations

from django.apps import AppConfig


class TasksConfig(AppConfig):
    """The standalone site's own app: its demo tasks and its management commands."""

    name = "tasks"
    verbose_name = "Demo tasks"
