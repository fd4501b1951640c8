"""A task's log: the live fragment from an offset, the plain page, and the download."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from taskboard import selectors
from taskboard.conf import app_settings
from taskboard.models import Task
from taskboard.tasklog import as_text
from taskboard.views import HtmxHttpRequest, dashboard_view

# Lines one fragment carries at most: a page catching up on a long log gets the rest
# at the next polls, so no answer is ever large.
LOG_PAGE = 500
OFFSET_ERROR = "offset must be a whole number of lines already shown: 0 or more."


def log_context(task: Task, view: selectors.TaskLogView, **extra) -> dict:
    """Return what the log partial (partials/task_log.html) draws."""
    return {
        "task": task,
        "log": view,
        "poll_interval": app_settings.POLL_INTERVAL,
        **extra,
    }


def _offset(request: HtmxHttpRequest) -> int | None:
    """Return the request's ``offset`` (0 when absent), or None when it is not one."""
    raw = request.GET.get("offset", "0")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        return None
    return int(raw)


@dashboard_view
@require_GET
@vary_on_headers("HX-Request")
def task_log(request: HtmxHttpRequest, task_id) -> HttpResponse:
    """Show the log lines after ``offset``: appended by htmx, or as a page of their own."""
    task = selectors.task_get(user=request.user, task_id=task_id)
    offset = _offset(request)
    if offset is None:
        return HttpResponseBadRequest(OFFSET_ERROR, content_type="text/plain; charset=utf-8")
    if not request.htmx:
        view = selectors.task_log(task=task, offset=offset)
        return render(request, "taskboard/tasks/log.html", log_context(task, view))
    view = selectors.task_log(task=task, offset=offset, limit=LOG_PAGE)
    if view.live and not view.chunk.lines and not view.finished:
        # Nothing new: htmx keeps the poll element as it is, and with it the poll.
        return HttpResponse(status=204)
    template = "taskboard/partials/task_log.html#more"
    return render(request, template, log_context(task, view, oob=True))


@dashboard_view
@require_GET
def task_log_download(request: HtmxHttpRequest, task_id) -> HttpResponse:
    """Serve the task's whole log (stored, or live so far) as a plain-text attachment."""
    task = selectors.task_get(user=request.user, task_id=task_id)
    view = selectors.task_log(task=task)
    response = HttpResponse(
        as_text(view.chunk.lines, view.chunk.dropped), content_type="text/plain; charset=utf-8"
    )
    response["Content-Disposition"] = content_disposition_header(True, f"task-{task.pk}.log")
    return response
