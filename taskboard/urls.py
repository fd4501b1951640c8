"""Taskboard's URLs, mounted by a host with ``path("jobs/", include("taskboard.urls"))``."""

from __future__ import annotations

from django.urls import path
from django.views.generic import RedirectView

from taskboard.views import api as api_views
from taskboard.views import (
    audit,
    bulk,
    charts,
    detail,
    failures,
    health,
    launch,
    logs,
    workflows,
)
from taskboard.views import metrics as metrics_views
from taskboard.views import notify as notify_views
from taskboard.views import ops as ops_views
from taskboard.views import schedules as schedule_views
from taskboard.views import tasks as task_views
from taskboard.views import tokens as token_views

app_name = "taskboard"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="taskboard:task_list"), name="index"),
    path("tasks/", task_views.task_list, name="task_list"),
    path("tasks/status/", task_views.task_status, name="task_status"),
    path("tasks/bulk/", bulk.bulk_prepare, name="bulk_prepare"),
    path("tasks/bulk/<uuid:bulk_id>/", bulk.bulk_confirm, name="bulk_confirm"),
    path(
        "tasks/bulk/<uuid:bulk_id>/include-retried/",
        bulk.bulk_include_retried,
        name="bulk_include_retried",
    ),
    path("tasks/<uuid:task_id>/pin/", detail.task_pin, name="task_pin"),
    path("tasks/<uuid:task_id>/bell/", detail.task_bell, name="task_bell"),
    path("audit/", audit.audit_list, name="audit_list"),
    path("tasks/failures/", failures.failure_list, name="failure_list"),
    path("tasks/charts/", charts.chart_page, name="charts"),
    path("tasks/failures/<str:action>/", failures.failure_act, name="failure_act"),
    path("tasks/<uuid:task_id>/", detail.task_detail, name="task_detail"),
    path("tasks/<uuid:task_id>/retry/", detail.task_retry, name="task_retry"),
    path("tasks/<uuid:task_id>/cancel/", detail.task_cancel, name="task_cancel"),
    path("tasks/<uuid:task_id>/send-now/", detail.task_send_now, name="task_send_now"),
    path("tasks/<uuid:task_id>/download/", detail.task_download, name="task_download"),
    path(
        "tasks/<uuid:task_id>/cancel-workflow/",
        workflows.workflow_cancel,
        name="workflow_cancel",
    ),
    path("workflows/<uuid:root_id>/status/", workflows.workflow_status, name="workflow_status"),
    path("tasks/<uuid:task_id>/log/", logs.task_log, name="task_log"),
    path("tasks/<uuid:task_id>/log/download/", logs.task_log_download, name="task_log_download"),
    path("launch/", launch.catalog, name="launch_catalog"),
    path("launch/<str:name>/", launch.launch, name="launch"),
    path("schedules/", schedule_views.schedule_list, name="schedule_list"),
    path("schedules/new/<str:name>/", schedule_views.schedule_create, name="schedule_create"),
    path("schedules/<int:schedule_id>/", schedule_views.schedule_detail, name="schedule_detail"),
    path("schedules/<int:schedule_id>/edit/", schedule_views.schedule_edit, name="schedule_edit"),
    path(
        "schedules/<int:schedule_id>/enable/",
        schedule_views.schedule_toggle,
        {"enabled": True},
        name="schedule_enable",
    ),
    path(
        "schedules/<int:schedule_id>/disable/",
        schedule_views.schedule_toggle,
        {"enabled": False},
        name="schedule_disable",
    ),
    path(
        "schedules/<int:schedule_id>/delete/",
        schedule_views.schedule_delete,
        name="schedule_delete",
    ),
    path("schedules/<int:schedule_id>/run/", schedule_views.schedule_run_now, name="schedule_run"),
    path("tokens/", token_views.token_list, name="token_list"),
    path("tokens/<int:token_id>/revoke/", token_views.token_revoke, name="token_revoke"),
    path("notifications/", notify_views.notification_list, name="notification_list"),
    path(
        "notifications/<int:subscription_id>/delete/",
        notify_views.subscription_delete,
        name="subscription_delete",
    ),
    path("notifications/routes/", notify_views.route_list, name="route_list"),
    path("notifications/routes/<int:route_id>/", notify_views.route_act, name="route_act"),
    path("notifications/webhooks/", notify_views.webhook_list, name="webhook_list"),
    path(
        "notifications/webhooks/<int:webhook_id>/",
        notify_views.webhook_detail,
        name="webhook_detail",
    ),
    path("ops/", ops_views.ops_page, name="ops"),
    path("ops/snapshot/", ops_views.ops_snapshot, name="ops_snapshot"),
    path("api/tasks/", api_views.task_list, name="api_task_list"),
    path("api/tasks/<str:task_id>/", api_views.task_detail, name="api_task_detail"),
    path("metrics", metrics_views.metrics_view, name="metrics"),
    path("healthz", health.healthz, name="healthz"),
]
