"""The operators' page: workers, queues and stale pending tasks."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from taskboard import ops, permissions
from taskboard.conf import app_settings
from taskboard.views import HtmxHttpRequest, dashboard_view


def _staff_only(request: HtmxHttpRequest) -> None:
    if not permissions.can_view_all(request.user):
        # The page exists for everyone to know about; only staff (operators and
        # read-only staff, taskboard/permissions.py) may read it.
        raise PermissionDenied("Staff only")


@never_cache
@dashboard_view
@require_GET
def ops_page(request: HtmxHttpRequest) -> HttpResponse:
    """Show the page at once; the snapshot, which waits for the workers, comes by htmx."""
    _staff_only(request)
    return render(request, "taskboard/ops/index.html", {"refresh": app_settings.OPS_REFRESH})


@never_cache
@dashboard_view
@require_GET
@vary_on_headers("HX-Request")
def ops_snapshot(request: HtmxHttpRequest) -> HttpResponse:
    """Show workers, queue depths and stale pending tasks; for htmx, only the snapshot."""
    _staff_only(request)
    context = {
        "snap": ops.snapshot(user=request.user),
        "refresh": app_settings.OPS_REFRESH,
    }
    template = "taskboard/ops/index.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#snapshot"
    return render(request, template, context)
