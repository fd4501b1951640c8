from __future__ import annotations

from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"
    verbose_name = "Tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # signals: connect the Celery tracking handlers in every process that
        # loads Django: web (publish), worker (prerun..revoked) and beat.
        # tasks: fill the registry of launchable tasks in every process, not
        # only in workers (where Celery's autodiscovery imports it anyway).
        from django.conf import settings
        from django.db.models.signals import post_save

        from tasks import services, tasks  # noqa: F401
        from tasks.worker import signals  # noqa: F401

        # A site that sets TASKBOARD_DEFAULT_GROUP puts its new users there (the
        # standalone site: Launchers); without it nothing is done (docs/operations.md).
        post_save.connect(
            services.on_user_saved,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="taskboard-default-group",
        )

        # A task registered before Django's apps were loaded could not have its
        # result template looked up then: refuse a missing one now (tasks/registry.py).
        from tasks.registry import check_result_templates

        check_result_templates()
