from __future__ import annotations

from django.apps import AppConfig


class TaskboardConfig(AppConfig):
    name = "taskboard"
    label = "taskboard"
    verbose_name = "Taskboard"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # signals: connect the Celery tracking handlers in every process that
        # loads Django: web (publish), worker (prerun..revoked) and beat.
        # autodiscover_modules("tasks"): import every installed app's tasks module, as
        # the admin does for admin.py, so the launch catalog is full in web processes
        # too, not only in workers (where Celery's autodiscovery imports them).
        from django.conf import settings
        from django.db.models.signals import post_save
        from django.utils.module_loading import autodiscover_modules

        from taskboard import services, tasks  # noqa: F401
        from taskboard.registry import check_result_templates
        from taskboard.worker import signals  # noqa: F401

        autodiscover_modules("tasks")

        # A site that sets TASKBOARD_DEFAULT_GROUP puts its new users there (the
        # standalone site: Launchers); without it nothing is done (docs/operations.md).
        post_save.connect(
            services.on_user_saved,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="taskboard-default-group",
        )

        # A task registered before Django's apps were loaded could not have its
        # result template looked up then: refuse a missing one now.
        check_result_templates()
