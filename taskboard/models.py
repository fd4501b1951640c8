from __future__ import annotations

import uuid

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils import timezone

from taskboard.permissions import visible_filter
from taskboard.status import IN_FLIGHT, TERMINAL, Status

# Schedules are stored with django-celery-beat: say so plainly instead of Django's
# "doesn't declare an explicit app_label" when a host has not added it (README).
if not apps.is_installed("django_celery_beat"):
    raise ImproperlyConfigured(
        "Taskboard needs 'django_celery_beat' in INSTALLED_APPS: its schedules are stored "
        "there. See the README, 'Add Taskboard to your Django project'."
    )

from django_celery_beat.models import PeriodicTask  # noqa: E402 - after the check above

# Short names for the states, kept for the many writers and readers that compare a
# row's status (services, states, charts...); each is the class member itself.
SCHEDULED = Status.SCHEDULED
PENDING = Status.PENDING
RUNNING = Status.RUNNING
COMPLETED = Status.COMPLETED
FAILED = Status.FAILED
CANCELLED = Status.CANCELLED


def pending_before(moment) -> models.Q:
    """Return a filter of the rows pending since before ``moment``.

    A launch held back until ``run_at`` was sent then (or sooner, when sent now: then
    ``run_at`` is when it was sent), not when its row was created.
    """
    return models.Q(status=Status.PENDING, created_at__lt=moment) & (
        models.Q(run_at__isnull=True) | models.Q(run_at__lt=moment)
    )


# The rows that stand on their own in the table: lone tasks and workflows' roots (a
# root's root_id is its own id); a workflow's steps stand behind their root.
NOT_A_STEP = models.Q(root_id__isnull=True) | models.Q(root_id=models.F("pk"))


class TaskQuerySet(models.QuerySet):
    def pending(self) -> TaskQuerySet:
        return self.filter(status=Status.PENDING)

    def running(self) -> TaskQuerySet:
        return self.filter(status=Status.RUNNING)

    def completed(self) -> TaskQuerySet:
        return self.filter(status=Status.COMPLETED)

    def failed(self) -> TaskQuerySet:
        return self.filter(status=Status.FAILED)

    def cancelled(self) -> TaskQuerySet:
        return self.filter(status=Status.CANCELLED)

    def in_flight(self) -> TaskQuerySet:
        return self.filter(status__in=IN_FLIGHT)

    def visible_to(self, user) -> TaskQuerySet:
        """Return the tasks this user may see: all with view_all_tasks (or staff), else own."""
        return visible_filter(self, user)


class Task(models.Model):
    """One run of a Celery task; the primary key is the Celery task id."""

    # The seed contract: the pairs as a tuple on the model, drawn from the one vocabulary.
    STATUS_CHOICES = tuple(Status.choices)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default=Status.PENDING)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
        # task_owner_created_idx starts with owner: a second index would only slow writes.
        db_index=False,
    )
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    queue = models.CharField(max_length=200, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    result = models.JSONField(null=True, blank=True)
    result_truncated = models.BooleanField(default=False)
    error_type = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    # When a Scheduled row is due to be sent (taskboard/services/launch.py, send_due);
    # once sent, when it was sent (the reconciler counts a pending row's age from it).
    run_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    # A pinned row is kept by the retention purge whatever its age.
    pinned = models.BooleanField(default=False)
    # The bulk action that created this row (its retries, its background job): such
    # rows are not the owner's launches, so the launch rate limit does not count them.
    # No index: only read beside owner (the rate limit) or retry_of (one retry each).
    bulk = models.ForeignKey(
        "BulkAction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    # Its place in a workflow (a Celery canvas: chain, group, chord, or a task started
    # by another task), as Celery's own ids: the root's and the parent's rows may not
    # exist (untracked, purged), so these are plain ids, not foreign keys. A root has
    # none of them set, or root_id equal to its own id.
    root_id = models.UUIDField(null=True, blank=True)
    parent_id = models.UUIDField(null=True, blank=True)
    group_id = models.UUIDField(null=True, blank=True)
    # The schedule that started this run (by beat or "Run now"); indexed with
    # created_at by task_schedule_idx for the schedule's runs, so no index of its own.
    schedule = models.ForeignKey(
        "Schedule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
        db_index=False,
    )
    # On a chord's header members: the id of the chord's callback, which runs once the
    # whole group is done (docs/architecture.md, "Workflows").
    chord_id = models.UUIDField(null=True, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("view_all_tasks", "Can view everyone's tasks"),
            ("act_on_all_tasks", "Can retry/cancel/delete everyone's tasks"),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="task_created_idx"),
            models.Index(fields=["status", "-created_at", "-id"], name="task_status_created_idx"),
            models.Index(fields=["owner", "-created_at", "-id"], name="task_owner_created_idx"),
            models.Index(
                fields=["owner", "status", "-created_at", "-id"],
                name="task_owner_status_idx",
            ),
            models.Index(fields=["name", "-created_at"], name="task_name_created_idx"),
            # A workflow's tree: every node of one root, in the order they were created.
            models.Index(fields=["root_id", "created_at"], name="task_root_idx"),
            # A schedule's runs, newest first (its page, its last run on /schedules/).
            models.Index(fields=["schedule", "-created_at"], name="task_schedule_idx"),
            # The due rows the sender picks, oldest first; only Scheduled rows are in it.
            models.Index(
                fields=["run_at"],
                name="task_due_idx",
                condition=models.Q(status=Status.SCHEDULED),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.id}]"

    def get_status_display(self) -> str:
        """Return the label of the current status, as the badges and tabs read it."""
        return Status.label_of(self.status)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def is_workflow_root(self) -> bool:
        return self.root_id is not None and self.root_id == self.pk

    @property
    def workflow_root_id(self):
        """Return the id of its workflow's root (its own id for a root or a lone task)."""
        return self.root_id or self.pk

    @property
    def wait_duration(self):
        if self.started_at is None:
            return None
        return self.started_at - self.created_at

    @property
    def run_duration(self):
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


class TaskLog(models.Model):
    """What a task logged, stored when it ends: its first lines (capped), with the rest counted.

    A table of its own beside Task: the task table is read for every page and poll,
    and most rows have no log (docs/architecture.md, "Task logs").
    """

    task = models.OneToOneField(
        Task, primary_key=True, on_delete=models.CASCADE, related_name="stored_log"
    )
    # [[seconds since the epoch, level name, message], ...] in the order logged.
    entries = models.JSONField(default=list, blank=True)
    # Lines logged beyond the caps, not kept (the caps: taskboard/conf.py, LOG_MAX_*).
    dropped = models.PositiveIntegerField(default=0)
    # The messages alone, one per line: what the table's search box matches.
    text = models.TextField(blank=True)
    stored_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"log of {self.task_id} ({len(self.entries)} lines)"


class AuditLog(models.Model):
    """Who did what to which tasks, and when: one row per single or bulk action."""

    RETRY = "retry"
    CANCEL = "cancel"
    DELETE = "delete"
    LAUNCH = "launch"
    PURGE = "purge"
    PIN = "pin"
    UNPIN = "unpin"
    BULK_RETRY = "bulk_retry"
    BULK_CANCEL = "bulk_cancel"
    BULK_DELETE = "bulk_delete"
    SCHEDULE_CREATE = "schedule_create"
    SCHEDULE_EDIT = "schedule_edit"
    SCHEDULE_ENABLE = "schedule_enable"
    SCHEDULE_DISABLE = "schedule_disable"
    SCHEDULE_DELETE = "schedule_delete"
    SEND_NOW = "send_now"
    NOTIFY = "notify"
    ACTION_CHOICES = (
        (RETRY, "Retry"),
        (CANCEL, "Cancel"),
        (DELETE, "Delete"),
        (LAUNCH, "Launch"),
        (PURGE, "Purge"),
        (PIN, "Pin"),
        (UNPIN, "Unpin"),
        (BULK_RETRY, "Bulk retry"),
        (BULK_CANCEL, "Bulk cancel"),
        (BULK_DELETE, "Bulk delete"),
        (SCHEDULE_CREATE, "Schedule created"),
        (SCHEDULE_EDIT, "Schedule edited"),
        (SCHEDULE_ENABLE, "Schedule enabled"),
        (SCHEDULE_DISABLE, "Schedule disabled"),
        (SCHEDULE_DELETE, "Schedule deleted"),
        (SEND_NOW, "Sent now"),
        (NOTIFY, "Notifications"),
    )

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
    )
    action = models.CharField(max_length=20, choices=ACTION_CHOICES)
    # The exact ids acted on (strings), so the log still says which rows went after a delete.
    task_ids = models.JSONField(default=list, blank=True)
    count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} x{self.count} by {self.actor_id or 'system'}"


class BulkAction(models.Model):
    """A selection frozen for one bulk action: the exact ids, shown for confirmation.

    Created when the user asks for the action, run once when they confirm; rows
    created afterwards are never in ``task_ids``, so they are never touched.
    """

    RETRY = "retry"
    CANCEL = "cancel"
    DELETE = "delete"
    ACTION_CHOICES = ((RETRY, "Retry"), (CANCEL, "Cancel"), (DELETE, "Delete"))

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bulk_actions"
    )
    action = models.CharField(max_length=20, choices=ACTION_CHOICES)
    task_ids = models.JSONField(default=list, blank=True)
    count = models.PositiveIntegerField(default=0)
    # What the user selected ("3 selected rows", "all matching status=failed"), for the page.
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Large sets run in the background as their own task row, with its progress.
    job = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.count} tasks"


class ApiToken(models.Model):
    """A bearer token for the read-only API; only a SHA-256 of the key is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    # The key's first characters, to tell tokens apart without revealing them.
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id})"


class ScheduleQuerySet(models.QuerySet):
    def visible_to(self, user) -> ScheduleQuerySet:
        """Return the schedules this user may see (owner rules as for tasks)."""
        return visible_filter(self, user)


class Schedule(models.Model):
    """A launchable task run on a schedule: its name, parameters and owner.

    When it runs (a crontab or an interval) and whether it is enabled live on its
    django-celery-beat PeriodicTask, which beat's DatabaseScheduler reads; that
    periodic task only sends ``taskboard.run_schedule`` with this row's id, which
    validates the parameters again and launches as the owner (docs/operations.md,
    "Schedules").
    """

    name = models.CharField(max_length=100)
    params = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="schedules"
    )
    periodic_task = models.OneToOneField(
        PeriodicTask, on_delete=models.CASCADE, related_name="taskboard_schedule"
    )
    # Why the last attempt to run it did not launch (task gone, parameters no longer
    # valid, owner may no longer launch); empty when it is healthy.
    broken_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ScheduleQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} schedule #{self.pk}"

    @property
    def enabled(self) -> bool:
        return self.periodic_task.enabled


# --- notifications (docs/operations.md, "Notifications") ---------------------


class Subscription(models.Model):
    """A user's wish to hear about one task (the bell) or about failures of a task name."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="task_subscriptions"
    )
    # The bell: one task, told when it completes or fails. Else ``task_name``: its failures.
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.CASCADE, related_name="subscriptions"
    )
    task_name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "task"], name="subscription_user_task_uniq"),
            models.UniqueConstraint(
                fields=["user", "task_name"],
                condition=models.Q(task__isnull=True),
                name="subscription_user_name_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.task_id or self.task_name}"


class Webhook(models.Model):
    """An HTTPS endpoint that receives signed JSON failure messages (staff-managed)."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    # Generated server-side (taskboard/services/notify.py); signs every body sent.
    secret = models.CharField(max_length=64, editable=False)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class WebhookAttempt(models.Model):
    """One POST of one message to a webhook: its answer's status code, or the error."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="attempts")
    # The message's id (the X-Taskboard-Delivery header): its attempts share it.
    delivery = models.UUIDField()
    attempt = models.PositiveIntegerField(default=1)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["webhook", "-created_at"], name="webhook_attempt_idx")]

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class NotifyRoute(models.Model):
    """Failures of a task name (empty: of any task) sent to email addresses or a webhook."""

    task_name = models.CharField(max_length=100, blank=True)
    # Addresses, one per line; or a webhook (a route has exactly one of the two).
    emails = models.TextField(blank=True)
    webhook = models.ForeignKey(
        Webhook, null=True, blank=True, on_delete=models.CASCADE, related_name="routes"
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["task_name", "id"]
        indexes = [models.Index(fields=["task_name"], name="notify_route_name_idx")]

    def __str__(self) -> str:
        return f"{self.task_name or 'any task'} → {self.webhook or 'email'}"

    @property
    def email_list(self) -> list[str]:
        return [line.strip() for line in self.emails.splitlines() if line.strip()]


class NotificationWindow(models.Model):
    """One failure group's window: its failures counted, one message sent when it closes.

    ``group`` names the failure group (task name, error type, normalised message and,
    for one owner's own failures, the owner); ``key`` the group and the slot its first
    failure fell in, so one INSERT opens it (the unique key). One conditional UPDATE
    claims its sending (docs/operations.md, "Notifications").
    """

    key = models.CharField(max_length=64, unique=True)
    group = models.CharField(max_length=64, default="")
    task_name = models.CharField(max_length=100)
    error_type = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    # Set: the failures of this owner's tasks only, for their follow of the name (they
    # do not see everyone's tasks). Null: everyone's, for routes and staff followers.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    opened_at = models.DateTimeField(default=timezone.now)
    closes_at = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)
    # The task whose failure opened the window (the message names it).
    first_task_id = models.UUIDField(null=True, blank=True)
    # A sender holds the window until then (a crashed one's claim lapses); sent_at
    # is set once its message went out.
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(fields=["closes_at"], name="notify_window_closes_idx"),
            # The open window of a group, asked for by every failure someone hears of.
            models.Index(fields=["group", "closes_at"], name="notify_window_group_idx"),
        ]
