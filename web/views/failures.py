"""Failure groups: failed tasks grouped by name, error type and normalised message."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from tasks import failures, permissions, services

ACTIONS = {"retry": "Retry", "delete": "Delete"}
PREVIEW = 10


@login_required
@require_GET
@vary_on_headers("HX-Request")
def failure_list(request: HttpRequest) -> HttpResponse:
    """Show the failure groups of the last days, biggest first."""
    days = failures.parse_days(request.GET.get("days"))
    report = failures.failure_groups(user=request.user, days=days)
    user = request.user
    context = {
        "report": report,
        "days": days,
        "windows": failures.WINDOW_DAYS,
        "can_view_all": permissions.can_view_all(user),
        # Read-only staff see every group but may act on none of them.
        "can_act": permissions.can_act_on_all(user)
        or (not permissions.can_view_all(user) and permissions.can_launch(user)),
    }
    return render(request, "tasks/failures.html", context)


@login_required
@require_GET
def failure_confirm(request: HttpRequest, key: str, action: str) -> HttpResponse:
    """Show what a group action would touch: the exact ids, frozen into the form."""
    if action not in ACTIONS:
        raise Http404("No such action.")
    days = failures.parse_days(request.GET.get("days"))
    group = failures.find_group(user=request.user, key=key, days=days)
    if group is None:
        raise Http404("This group has no failures left in the window.")
    context = {
        "group": group,
        "action": action,
        "verb": ACTIONS[action],
        "days": days,
        "ids": ",".join(str(i) for i in group.ids),
        "preview": group.ids[:PREVIEW],
        "more": max(group.count - PREVIEW, 0),
    }
    return render(request, "tasks/failure_confirm.html", context)


def _parse_ids(raw: str) -> list[uuid.UUID]:
    """Return the ids of a confirmed action, skipping anything that is not a UUID."""
    ids: list[uuid.UUID] = []
    for item in raw.split(",")[: failures.WINDOW_ROWS]:
        try:
            ids.append(uuid.UUID(item.strip()))
        except ValueError:
            continue
    return list(dict.fromkeys(ids))


@login_required
@require_POST
def failure_act(request: HttpRequest, action: str) -> HttpResponse:
    """Retry or delete exactly the ids the user confirmed, among those they may act on."""
    if action not in ACTIONS:
        raise Http404("No such action.")
    ids = _parse_ids(request.POST.get("ids", ""))
    if action == "retry":
        outcome = services.tasks_retry_many(user=request.user, ids=ids, note="failure group")
        text = f"Retried {outcome['retried']} task{'s' if outcome['retried'] != 1 else ''}."
        if outcome["skipped"]:
            text += f" Skipped {outcome['skipped']} (gone, not finished or not allowed)."
        if outcome["left"]:
            text += (
                f" Stopped with {outcome['left']} left: the queue is unreachable "
                "or the launch rate limit was reached; try again in a minute."
            )
        level = messages.WARNING if outcome["left"] else messages.SUCCESS
    else:
        deleted = services.tasks_delete(user=request.user, ids=ids, note="failure group")
        text = f"Deleted {deleted} task{'s' if deleted != 1 else ''}."
        if deleted < len(ids):
            text += f" {len(ids) - deleted} were gone, not finished or not yours."
        level = messages.SUCCESS
    messages.add_message(request, level, text)
    url = reverse("failure_list") + f"?days={failures.parse_days(request.POST.get('days'))}"
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response
