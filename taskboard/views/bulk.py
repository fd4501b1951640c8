"""Bulk actions on the task table: freeze a selection, confirm it, run it once."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from taskboard import selectors, services
from taskboard.conf import app_settings
from taskboard.filters import TaskFilter
from taskboard.models import BulkAction
from taskboard.views import HtmxHttpRequest, dashboard_view, redirect_after_post, safe_next

# Shown on the confirmation page; the rest is counted.
PREVIEW = 20
# Parameters of the table's URL that do not change which tasks match.
NOT_FILTERS = {"page", "sort"}


def _next(request: HtmxHttpRequest) -> str:
    """Return a safe ``next`` (the table the user came from), or the table."""
    return safe_next(request, reverse("taskboard:task_list"))


def _describe(params) -> str:
    """Return the filter of an "all matching" selection as the user wrote it."""
    shown = [f"{key}={value}" for key, value in params.items() if value and key not in NOT_FILTERS]
    return "all matching " + (", ".join(shown) if shown else "no filter (every task)")


def freeze(
    request: HtmxHttpRequest,
    *,
    action: str,
    queryset,
    selected: int | None,
    description: str,
    back: str,
) -> HttpResponse:
    """Freeze a selection as a bulk action and send the user to confirm it, or back with why not.

    The one way into a bulk action: the table's selection and a failure group both come here.
    """
    try:
        bulk = services.bulk_prepare(
            user=request.user,
            action=action,
            queryset=queryset,
            selected=selected,
            description=description,
        )
    except services.ActionNotAllowed as exc:
        messages.error(request, str(exc))
        return redirect_after_post(request, back)
    url = reverse("taskboard:bulk_confirm", args=[bulk.pk])
    return redirect_after_post(request, f"{url}?{urlencode({'next': back})}")


@dashboard_view
@require_POST
def bulk_prepare(request: HtmxHttpRequest) -> HttpResponse:
    """Freeze the selected ids (or all matching the table's filter) and ask to confirm."""
    back = _next(request)
    if request.POST.get("all") == "1":
        # The table's filter rides in the query string of the form's action; the
        # service counts it with a LIMIT and refuses more than TASKBOARD_BULK_MAX.
        filterset = TaskFilter(
            request.GET, queryset=selectors.visible_tasks(request.user), user=request.user
        )
        queryset = filterset.queryset_without()
        selected = None
        description = _describe(request.GET)
    else:
        cap = app_settings.BULK_MAX
        raw = _ticked(request, cap)
        if len(raw) > cap:
            messages.error(
                request,
                f"More than {cap:,} rows are ticked, the most one bulk action takes. Nothing "
                "was done: use “All N matching this filter” instead, or narrow the filter.",
            )
            return redirect_after_post(request, back)
        try:
            ids = {uuid.UUID(value) for value in raw}
        except ValueError:
            return HttpResponseBadRequest("Malformed task id.", content_type="text/plain")
        if not ids:
            messages.error(request, "Select some rows first (x toggles the current row).")
            return redirect_after_post(request, back)
        # Others' ids are dropped: only what the user may act on is frozen.
        queryset = selectors.selected_tasks(user=request.user, ids=ids)
        selected = len(ids)
        description = f"{selected} selected row{'s' if selected != 1 else ''}"
    return freeze(
        request,
        action=request.POST.get("action", ""),
        queryset=queryset,
        selected=selected,
        description=description,
        back=back,
    )


def _ticked(request: HtmxHttpRequest, cap: int) -> list[str]:
    """Return the ticked ids, at most ``cap + 1`` of them (more are refused anyway).

    The page sends them as one comma-separated field (static/taskboard/js/bulk.js): one field
    per row would stop at DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000) with a bare 400.
    Without JavaScript a page's rows come as separate fields, which fit.
    """
    ids: list[str] = []
    for field in request.POST.getlist("ids"):
        ids.extend(value for value in field.split(",", cap + 1) if value)
        if len(ids) > cap:
            break
    return ids[: cap + 1]


@dashboard_view
@require_POST
def bulk_include_retried(request: HtmxHttpRequest, bulk_id) -> HttpResponse:
    """Freeze the selection again with its already retried tasks, and ask to confirm that."""
    bulk = selectors.bulk_get(user=request.user, bulk_id=bulk_id)
    back = _next(request)
    try:
        bulk = services.bulk_include_retried(user=request.user, bulk=bulk)
    except services.ActionNotAllowed as exc:
        messages.error(request, str(exc))
        back = reverse("taskboard:bulk_confirm", args=[bulk.pk]) + "?" + urlencode({"next": back})
        return redirect_after_post(request, back)
    url = reverse("taskboard:bulk_confirm", args=[bulk.pk])
    return redirect_after_post(request, f"{url}?{urlencode({'next': back})}")


@dashboard_view
@require_http_methods(["GET", "POST"])
def bulk_confirm(request: HtmxHttpRequest, bulk_id) -> HttpResponse:
    """Show the frozen selection (GET) or run it (POST): small sets now, large in the background."""
    bulk = selectors.bulk_get(user=request.user, bulk_id=bulk_id)
    back = _next(request)
    if request.method == "POST":
        try:
            bulk = services.bulk_confirm(user=request.user, bulk=bulk)
        except services.ActionNotAllowed as exc:
            messages.error(request, str(exc))
            return redirect_after_post(request, request.get_full_path())
        except services.LaunchUnavailable as exc:
            return _render(request, bulk, back, status=503, error=str(exc))
        if bulk.job_id:
            messages.info(
                request,
                f"{bulk.get_action_display()} of {bulk.count} tasks runs in the background; "
                "its progress is below.",
            )
            return redirect_after_post(
                request, reverse("taskboard:task_detail", args=[bulk.job_id])
            )
        messages.success(request, summary(bulk))
        return redirect_after_post(request, back)
    return _render(request, bulk, back)


def _render(
    request: HtmxHttpRequest, bulk: BulkAction, back: str, status: int = 200, error: str = ""
) -> HttpResponse:
    preview = selectors.bulk_preview(user=request.user, bulk=bulk, limit=PREVIEW)
    retried = len(bulk.outcome.get("retried_ids") or [])
    selected = bulk.outcome.get("selected", bulk.count)
    context = {
        "bulk": bulk,
        "verb": services.BULK_VERBS[bulk.action],
        "preview": preview,
        "more": max(bulk.count - PREVIEW, 0),
        "selected": selected,
        "left_out": max(selected - bulk.count - retried, 0),
        "retried": retried,
        "include_retried": bulk.outcome.get("include_retried", False),
        "next": back,
        "back_label": "Failures" if back.startswith(reverse("taskboard:failure_list")) else "Tasks",
        "error": error,
        "summary": summary(bulk) if bulk.finished_at else "",
        "inline_max": app_settings.BULK_INLINE_MAX,
    }
    return render(request, "taskboard/tasks/bulk_confirm.html", context, status=status)


def summary(bulk: BulkAction) -> str:
    """Return what a finished bulk action did, in one sentence or two."""
    outcome = bulk.outcome
    verb = services.BULK_VERBS[bulk.action].capitalize()
    acted = outcome.get("acted", 0)
    text = f"{verb} {acted} task{'s' if acted != 1 else ''}."
    if outcome.get("already_retried"):
        count = outcome["already_retried"]
        text += f" {count} skipped: already retried meanwhile (each has its new run)."
    if outcome.get("skipped"):
        text += f" {outcome['skipped']} skipped: they changed or went away since the selection."
    if outcome.get("stopped"):
        text += f" Stopped with {outcome.get('left', 0)} left: {outcome['stopped']}"
    return text
