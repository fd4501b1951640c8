"""Writes, one module per subsystem; this package re-exports them for its callers.

``from taskboard import services; services.task_launch(...)`` stays the one way in. The
worker side of tracking (signal handlers, their writes, the reconciler) lives in
taskboard/worker/ and is re-exported here only for callers outside the worker.
"""

from taskboard.services.audit import audit_record, task_pin
from taskboard.services.bulk import (
    BULK_BATCH,
    BULK_TASK,
    BULK_VERBS,
    bulk_applicable,
    bulk_confirm,
    bulk_include_retried,
    bulk_prepare,
    bulk_run,
)
from taskboard.services.launch import (
    ActionNotAllowed,
    AlreadyRetried,
    LaunchError,
    LaunchInvalid,
    LaunchUnavailable,
    RateLimited,
    task_cancel,
    task_launch,
    task_retry,
    workflow_cancel,
)
from taskboard.services.retention import AUDIT_MAX_IDS, purge_older_than, retention_purge
from taskboard.services.roles import on_user_saved, role_groups_install, user_join_default_group
from taskboard.services.schedules import (
    ScheduleBroken,
    Timing,
    describe_timing,
    schedule_create,
    schedule_delete,
    schedule_problem,
    schedule_run,
    schedule_run_now,
    schedule_set_enabled,
    schedule_update,
)
from taskboard.worker.reconcile import apply_backend_meta, failure_fields, reconcile
from taskboard.worker.tracking import (
    TRACKED_HEADER,
    Completion,
    completion,
    task_finished,
    track_failed,
    track_published,
    track_retrying,
    track_revoked,
    track_started,
    track_succeeded,
    track_succeeded_many,
)

__all__ = [
    "AUDIT_MAX_IDS",
    "BULK_BATCH",
    "BULK_TASK",
    "BULK_VERBS",
    "TRACKED_HEADER",
    "ActionNotAllowed",
    "AlreadyRetried",
    "Completion",
    "LaunchError",
    "LaunchInvalid",
    "LaunchUnavailable",
    "RateLimited",
    "ScheduleBroken",
    "Timing",
    "apply_backend_meta",
    "audit_record",
    "bulk_applicable",
    "bulk_confirm",
    "bulk_include_retried",
    "bulk_prepare",
    "bulk_run",
    "completion",
    "describe_timing",
    "failure_fields",
    "on_user_saved",
    "purge_older_than",
    "reconcile",
    "retention_purge",
    "role_groups_install",
    "schedule_create",
    "schedule_delete",
    "schedule_problem",
    "schedule_run",
    "schedule_run_now",
    "schedule_set_enabled",
    "schedule_update",
    "task_cancel",
    "task_finished",
    "task_launch",
    "task_pin",
    "task_retry",
    "track_failed",
    "track_published",
    "track_retrying",
    "track_revoked",
    "track_started",
    "track_succeeded",
    "track_succeeded_many",
    "user_join_default_group",
    "workflow_cancel",
]
