from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from web.views import api as api_views
from web.views import audit, bulk, charts, detail, failures, health, launch, login
from web.views import metrics as metrics_views
from web.views import ops as ops_views
from web.views import tasks as task_views
from web.views import tokens as token_views

urlpatterns = [
    path("", RedirectView.as_view(url="/tasks/", permanent=False)),
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
    path("audit/", audit.audit_list, name="audit_list"),
    path("tasks/failures/", failures.failure_list, name="failure_list"),
    path("tasks/charts/", charts.chart_page, name="charts"),
    path("tasks/failures/<str:action>/", failures.failure_act, name="failure_act"),
    path("tasks/<uuid:task_id>/", detail.task_detail, name="task_detail"),
    path("tasks/<uuid:task_id>/retry/", detail.task_retry, name="task_retry"),
    path("tasks/<uuid:task_id>/cancel/", detail.task_cancel, name="task_cancel"),
    path("tasks/<uuid:task_id>/download/", detail.task_download, name="task_download"),
    path("launch/", launch.catalog, name="launch_catalog"),
    path("launch/<str:name>/", launch.launch, name="launch"),
    path("accounts/login/", login.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/tokens/", token_views.token_list, name="token_list"),
    path("accounts/tokens/<int:token_id>/revoke/", token_views.token_revoke, name="token_revoke"),
    path("ops/", ops_views.ops_page, name="ops"),
    path("ops/snapshot/", ops_views.ops_snapshot, name="ops_snapshot"),
    path("api/tasks/", api_views.task_list, name="api_task_list"),
    path("api/tasks/<str:task_id>/", api_views.task_detail, name="api_task_detail"),
    path("metrics", metrics_views.metrics_view, name="metrics"),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
