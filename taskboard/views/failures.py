"""Failure groups: failed tasks grouped by name, error type and normalised message."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from taskboard import failures, permissions, selectors
from taskboard.models import BulkAction
from taskboard.views import HtmxHttpRequest, dashboard_view, redirect_after_post
from taskboard.views.bulk import freeze

# A whole group can be retried or deleted (cancel does not apply: they have failed).
ACTIONS = (BulkAction.RETRY, BulkAction.DELETE)


def _list_url(days: int) -> str:
    return reverse("taskboard:failure_list") + f"?days={days}"


@dashboard_view
@require_GET
@vary_on_headers("HX-Request")
def failure_list(request: HttpRequest) -> HttpResponse:
    """Show the failure groups of the last days, biggest first."""
    days = failures.parse_days(request.GET.get("days"))
    report = failures.failure_groups(user=request.user, days=days)
    context = {
        "report": report,
        "days": days,
        "windows": failures.WINDOW_DAYS,
        "can_view_all": permissions.can_view_all(request.user),
        "can_act": permissions.can_act_on_failure_groups(request.user),
    }
    return render(request, "taskboard/tasks/failures.html", context)


@dashboard_view
@require_POST
def failure_act(request: HtmxHttpRequest, action: str) -> HttpResponse:
    """Freeze a whole group's ids as a bulk action, then confirm it on the bulk page.

    The group is read again now: the ids frozen are the ones the confirmation page
    shows, and the bulk action touches exactly those, never a failure that arrives later.
    """
    if action not in ACTIONS:
        raise Http404("No such action.")
    if not permissions.can_act_on_failure_groups(request.user):
        raise PermissionDenied("You may not retry or delete failure groups.")
    days = failures.parse_days(request.POST.get("days"))
    back = _list_url(days)
    group = failures.find_group(user=request.user, key=request.POST.get("key", ""), days=days)
    if group is None:
        messages.error(request, "That group has no failures left in this window.")
        return redirect_after_post(request, back)
    return freeze(
        request,
        action=action,
        queryset=selectors.selected_tasks(user=request.user, ids=group.ids),
        selected=group.count,
        description=failures.describe(group, days),
        back=back,
    )
