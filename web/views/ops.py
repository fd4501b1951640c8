"""The operators' page: workers, queues and stale pending tasks."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from tasks import ops, permissions
from web.views import HtmxHttpRequest


def _staff_only(request: HtmxHttpRequest) -> None:
    if not permissions.can_view_all(request.user):
        # The page exists for everyone to know about; only staff (operators and
        # read-only staff, tasks/permissions.py) may read it.
        raise PermissionDenied("Staff only")


@never_cache
@login_required
@require_GET
def ops_page(request: HtmxHttpRequest) -> HttpResponse:
    """Show the page at once; the snapshot, which waits for the workers, comes by htmx."""
    _staff_only(request)
    return render(request, "ops/index.html", {"refresh": settings.TASKBOARD_OPS_REFRESH})


@never_cache
@login_required
@require_GET
@vary_on_headers("HX-Request")
def ops_snapshot(request: HtmxHttpRequest) -> HttpResponse:
    """Show workers, queue depths and stale pending tasks; for htmx, only the snapshot."""
    _staff_only(request)
    context = {
        "snap": ops.snapshot(user=request.user),
        "refresh": settings.TASKBOARD_OPS_REFRESH,
    }
    template = "ops/index.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#snapshot"
    return render(request, template, context)
