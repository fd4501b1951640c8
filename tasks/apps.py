from __future__ import annotations

from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"
    verbose_name = "Tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connect the Celery tracking signal handlers in every process that
        # loads Django: web (publish), worker (prerun..revoked) and beat.
        from tasks import signals  # noqa: F401
