"""The audit log for staff: who retried, cancelled, deleted, pinned or purged what, and when."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from taskboard import permissions, selectors
from taskboard.models import AuditLog
from taskboard.views import HtmxHttpRequest, dashboard_view

PER_PAGE = 50
# Ids shown per entry; the detail page of each task lists its own entries.
IDS_SHOWN = 5


@dashboard_view
@require_GET
def audit_list(request: HtmxHttpRequest) -> HttpResponse:
    """Show the audit log, newest first, optionally one action; staff only."""
    if not permissions.can_view_audit(request.user):
        raise PermissionDenied("The audit log is for staff.")
    action = request.GET.get("action", "")
    if action not in dict(AuditLog.ACTION_CHOICES):
        action = ""
    entries = selectors.audit_entries(user=request.user, action=action)
    page = Paginator(entries, PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "action": action,
        "actions": AuditLog.ACTION_CHOICES,
        "ids_shown": IDS_SHOWN,
    }
    return render(request, "taskboard/audit/list.html", context)
