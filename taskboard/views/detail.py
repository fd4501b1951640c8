"""Task detail and its actions: retry, cancel, pin, download."""

from __future__ import annotations

import json
import logging
import os

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from taskboard import permissions, registry, selectors, services
from taskboard.conf import app_settings
from taskboard.live import Badge, badges_for
from taskboard.maintenance import export_path
from taskboard.models import Task
from taskboard.services import notify
from taskboard.status import Status
from taskboard.templatetags.taskboard_table import duration
from taskboard.views import HtmxHttpRequest, dashboard_view, safe_next, see_other
from taskboard.views.launch import ROWS_HEADER, new_row
from taskboard.views.workflows import workflow_context

logger = logging.getLogger(__name__)


def _pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _result_file(task: Task) -> str | None:
    """Return the download name of a file result (the CSV export's), or None."""
    if isinstance(task.result, dict) and isinstance(task.result.get("file"), str):
        # The path on disk comes from the task id only; the stored name is a label.
        return os.path.basename(task.result["file"]) or None
    return None


def _drawn_result(
    request: HtmxHttpRequest, task: Task, entry: registry.Launchable | None
) -> tuple[str, bool]:
    """Return the result drawn by the task's result template ("" for the JSON view), and
    whether that template failed.

    The one place that decides how a result is drawn, for the page and its htmx
    refresh alike. A truncated result is a preview, not what the template expects.
    A template that raises must not take the page with it: the JSON is shown instead.
    """
    if entry is None or not entry.result_template or task.result is None or task.result_truncated:
        return "", False
    context = {"task": task, "result": task.result}
    try:
        # Autoescaped like any template; the request brings ``user`` and ``request``.
        return render_to_string(entry.result_template, context, request=request), False
    except Exception:
        logger.exception(
            "Result template %s of %s failed for task %s", entry.result_template, task.name, task.pk
        )
        return "", True


def _stamp(task: Task, badge: Badge, live: bool) -> str:
    """Return what the detail fragment shows, so an unchanged poll can answer 204."""
    return f"{task.version}-{badge.key}-{int(live)}"


def _live_badge(task: Task) -> tuple[Badge, bool]:
    """Return the task's badge (live while in flight) and whether live state was read."""
    badges, live = badges_for([task])
    return badges[str(task.pk)], live


def _detail_context(
    request: HtmxHttpRequest, task: Task, live_badge: tuple[Badge, bool] | None = None, **extra
) -> dict:
    badge, live = live_badge or _live_badge(task)
    earlier, retries = selectors.retry_chain(user=request.user, task=task)
    try:
        entry = registry.get(task.name)
    except registry.UnknownTask:
        entry = None
    now = timezone.now()
    running_for = None
    if task.started_at and not task.finished_at:
        running_for = now - task.started_at
    waiting_for = None
    # A scheduled row does not wait in a queue yet: its due time is shown instead.
    if not task.started_at and not task.is_terminal and task.status != Status.SCHEDULED:
        waiting_for = now - task.created_at
    result_file = _result_file(task)
    result_html, result_template_failed = _drawn_result(request, task, entry)
    result_preview = ""
    if task.result_truncated and isinstance(task.result, dict):
        result_preview = str(task.result.get("preview", ""))
    return {
        "task": task,
        "badge": badge,
        "live": live,
        "stamp": _stamp(task, badge, live),
        "poll_interval": app_settings.POLL_INTERVAL,
        "entry": entry,
        # Tasks sent from code (not in the registry) can still be retried as they were.
        "can_retry": permissions.can_retry(request.user, task)
        and (entry is None or entry.allowed_for(request.user)),
        "can_edit_retry": entry is not None
        and permissions.can_retry(request.user, task)
        and entry.allowed_for(request.user),
        "can_act": permissions.can_act(request.user, task),
        "subscribed": bool(selectors.subscribed_task_ids(user=request.user, task_ids=[task.pk])),
        "activity": selectors.task_activity(task=task),
        "earlier": earlier,
        "retries": retries,
        "retry_count": selectors.retry_count(task=task) if task.is_terminal else 0,
        "arguments": _pretty({"args": task.args, "kwargs": task.kwargs})
        if task.args
        else _pretty(task.kwargs),
        "result_json": "" if task.result is None or result_preview else _pretty(task.result),
        "result_preview": result_preview,
        "result_html": result_html,
        "result_template_failed": result_template_failed,
        "result_file": result_file,
        # "CSV", from the file's extension: a short button label beside the full name.
        "result_kind": (os.path.splitext(result_file or "")[1][1:].upper() or "file"),
        "wait": duration(task.wait_duration or waiting_for),
        "waiting": waiting_for is not None,
        "run": duration(task.run_duration or running_for),
        "running": running_for is not None,
        **extra,
    }


def _render_detail(
    request: HtmxHttpRequest,
    task: Task,
    status: int = 200,
    live_badge: tuple[Badge, bool] | None = None,
    **extra,
) -> HttpResponse:
    template = "taskboard/tasks/detail.html"
    if request.htmx:
        template += "#detail"
    else:
        # The whole page draws the log so far; its own poll appends the rest.
        extra = {"log": selectors.task_log(task=task), **extra}
    context = _detail_context(request, task, live_badge, **extra)
    return render(request, template, context, status=status)


@dashboard_view
@require_GET
@vary_on_headers("HX-Request")
def task_detail(request: HtmxHttpRequest, task_id) -> HttpResponse:
    """Show one task; for htmx, the detail fragment that polls itself while in flight."""
    task = selectors.task_get(user=request.user, task_id=task_id)
    live_badge = _live_badge(task)
    if request.htmx and request.GET.get("since") == _stamp(task, *live_badge):
        # Nothing changed: htmx keeps the element, and with it the poll.
        return HttpResponse(status=204)
    # The workflow's tree is drawn with the page and keeps itself live (its own poll).
    extra = {} if request.htmx else {"workflow": workflow_context(request, task)}
    return _render_detail(request, task, live_badge=live_badge, **extra)


def _back(request: HtmxHttpRequest, task: Task, default: str = "") -> str:
    """Return where a no-JS action goes back to: a safe ``next`` or the task's page."""
    return safe_next(request, default or reverse("taskboard:task_detail", args=[task.pk]))


def _confirm_page(request: HtmxHttpRequest, task: Task, action: str) -> HttpResponse:
    """Ask to confirm ``action`` ("retry", "cancel", "send_now") on a page of its own; never write.

    Where the Retry and Cancel buttons lead without JavaScript; with it, the same
    question is asked in the page's dialog (static/taskboard/js/confirm.js) and the form posts.
    """
    if action == "retry":
        if not permissions.can_retry(request.user, task):
            raise PermissionDenied("You may not retry this task.")
        refusal = "" if task.is_terminal else "Only a finished task can be retried."
    elif action == "send_now":
        if not permissions.can_act(request.user, task):
            raise PermissionDenied("You may not send this task.")
        refusal = "" if task.status == Status.SCHEDULED else services.NOT_SCHEDULED
    else:
        if not permissions.can_act(request.user, task):
            raise PermissionDenied("You may not cancel this task.")
        refusal = "This task has already finished." if task.is_terminal else ""
    context = {
        "task": task,
        "action": action,
        "refusal": refusal,
        # Where "Back" leads, and where the POST returns to: a safe ``next`` or the task.
        "back": _back(request, task),
        # The retries this page knows of, so that submitting it twice launches once.
        "retry_count": selectors.retry_count(task=task) if action == "retry" else 0,
    }
    return render(
        request, "taskboard/tasks/confirm_action.html", context, status=409 if refusal else 200
    )


@dashboard_view
@require_http_methods(["GET", "POST"])
def task_retry(request: HtmxHttpRequest, task_id) -> HttpResponse:
    """Ask to confirm (GET), or launch a new run with the same arguments, linked to it (POST)."""
    task = selectors.task_get(user=request.user, task_id=task_id)
    if request.method == "GET":
        return _confirm_page(request, task, "retry")
    known = request.POST.get("retries", "")
    try:
        new = services.task_retry(
            user=request.user,
            task=task,
            known_retries=int(known) if known.isdigit() and len(known) < 7 else None,
        )
    except services.AlreadyRetried as exc:
        # A double submit (or a retry from another tab): show the run already launched.
        new = exc.retry
        messages.info(request, "Already retried: this is its newest run.")
        url = reverse("taskboard:task_detail", args=[new.pk])
        if request.htmx:
            return HttpResponseClientRedirect(url)
        return see_other(url)
    except services.ActionNotAllowed as exc:
        return _refused(request, task, str(exc), 409)
    except services.LaunchInvalid:
        message = "Its arguments are no longer valid; use “Retry with changes”."
        return _refused(request, task, message, 409)
    except services.LaunchUnavailable as exc:
        return _refused(request, task, str(exc), 503)
    except services.RateLimited as exc:
        return _refused(request, task, str(exc), 429)
    url = reverse("taskboard:task_detail", args=[new.pk])
    if request.htmx and ROWS_HEADER in request.headers:
        # Retried from the table: the new run joins it at the top, like a launch.
        return new_row(request, new, url, "Retry launched.")
    messages.success(request, "Retry launched.")
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return see_other(_back(request, new, default=url))


@dashboard_view
@require_http_methods(["GET", "POST"])
def task_cancel(request: HtmxHttpRequest, task_id) -> HttpResponse:
    """Ask to confirm (GET), or revoke a pending task / ask a running one to stop (POST)."""
    task = selectors.task_get(user=request.user, task_id=task_id)
    if request.method == "GET":
        return _confirm_page(request, task, "cancel")
    try:
        cancelled = services.task_cancel(task=task, user=request.user)
    except services.ActionNotAllowed as exc:
        return _refused(request, task, str(exc), 409)
    task.refresh_from_db()
    if cancelled:
        notice = "Cancelled."
    else:
        notice = "Asked the task to stop; it stops at its next progress report."
    if request.htmx:
        if _from_row(request, task):
            response = _row(request, task)
            response["HX-Trigger"] = "tasks-changed"  # the status tab counts moved
            return response
        return _render_detail(request, task, notice=notice)
    messages.info(request, notice)
    return see_other(_back(request, task))


@dashboard_view
@require_http_methods(["GET", "POST"])
def task_send_now(request: HtmxHttpRequest, task_id) -> HttpResponse:
    """Ask to confirm (GET), or send a Scheduled task now instead of when it is due (POST)."""
    task = selectors.task_get(user=request.user, task_id=task_id)
    if request.method == "GET":
        return _confirm_page(request, task, "send_now")
    try:
        services.task_send_now(user=request.user, task=task)
    except services.ActionNotAllowed as exc:
        return _refused(request, task, str(exc), 409)
    except services.LaunchUnavailable as exc:
        return _refused(request, task, str(exc), 503)
    task.refresh_from_db()
    notice = "Sent now."
    if request.htmx:
        response = _render_detail(request, task, notice=notice)
        response["HX-Trigger"] = "tasks-changed"
        return response
    messages.info(request, notice)
    return see_other(_back(request, task))


@dashboard_view
@require_POST
def task_pin(request: HtmxHttpRequest, task_id) -> HttpResponse:
    """Pin the task so that the retention purge keeps it (``pinned=0`` unpins it)."""
    task = selectors.task_get(user=request.user, task_id=task_id)
    pinned = request.POST.get("pinned", "1") != "0"
    services.task_pin(user=request.user, task=task, pinned=pinned)
    notice = "Pinned: the retention purge keeps this task." if pinned else "Unpinned."
    if request.htmx:
        return _render_detail(request, task, notice=notice)
    messages.info(request, notice)
    return see_other(_back(request, task))


@dashboard_view
@require_POST
@vary_on_headers("HX-Request")
def task_bell(request: HtmxHttpRequest, task_id) -> HttpResponse:
    """Ring the bell of a task the user may see (told when it finishes), or silence it."""
    task = selectors.task_get(user=request.user, task_id=task_id)
    try:
        on = notify.subscription_toggle(user=request.user, task=task)
    except services.ActionNotAllowed as exc:
        return _refused(request, task, str(exc), 409)
    notice = (
        "You will be emailed when this task completes or fails."
        if on
        else "You will not be told when this task finishes."
    )
    if request.htmx:
        if _from_row(request, task):
            return _row(request, task)
        return _render_detail(request, task, notice=notice)
    messages.info(request, notice)
    return see_other(_back(request, task))


def _row(request: HtmxHttpRequest, task: Task, status: int = 200) -> HttpResponse:
    badges, live = badges_for([task])
    context = {
        "task": task,
        "badge": badges[str(task.pk)],
        "live": live,
        "bells": selectors.subscribed_task_ids(user=request.user, task_ids=[task.pk]),
    }
    return render(request, "taskboard/partials/task_row.html", context, status=status)


def _refused(request: HtmxHttpRequest, task: Task, message: str, status: int) -> HttpResponse:
    """Answer an action that does not apply now: the current state and why, with ``status``."""
    task.refresh_from_db()
    if request.htmx and _from_row(request, task):
        # A row cannot hold the message; its current state is the explanation.
        response = _row(request, task, status=status)
        response["HX-Retarget"] = f"#task-{task.pk}"
        response["HX-Reswap"] = "outerHTML"
        return response
    return _render_detail(request, task, status=status, action_error=message)


def _from_row(request: HtmxHttpRequest, task: Task) -> bool:
    """Return whether an htmx action was sent from the task's row in the table."""
    return request.htmx.target == f"task-{task.pk}" or ROWS_HEADER in request.headers


@dashboard_view
@require_GET
def task_download(request: HtmxHttpRequest, task_id) -> FileResponse:
    """Serve a task's result file as an attachment to whoever may see the task."""
    task = selectors.task_get(user=request.user, task_id=task_id)
    name = _result_file(task)
    if name is None:
        raise Http404("This task has no file.")
    try:
        handle = open(export_path(task.pk), "rb")  # noqa: SIM115 - FileResponse closes it
    except FileNotFoundError:
        raise Http404("The file is gone (exports are removed after a while).") from None
    return FileResponse(handle, as_attachment=True, filename=name)
