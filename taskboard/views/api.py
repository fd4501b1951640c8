"""The read-only JSON API: /api/tasks/ and /api/tasks/<id>/ (docs/operations.md).

Same visibility and filters as the table (tasks.selectors, taskboard.filters.TaskFilter).
Authenticated by the session or by ``Authorization: Bearer <key>`` (tasks.tokens).
Pages are keyset cursors over (created_at, id): no COUNT, no OFFSET.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import wraps

from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from taskboard import permissions, selectors, tokens
from taskboard.filters import TaskFilter
from taskboard.live import Badge, badges_for
from taskboard.models import Task

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Parameters the API reads itself; everything else goes to the table's filters.
OWN_PARAMS = {"limit", "cursor"}


class BadParameter(ValueError):
    """A query parameter could not be read."""


def api_error(status: int, message: str, **extra) -> JsonResponse:
    """Return a JSON error body with ``status``."""
    response = JsonResponse({"error": message, **extra}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="taskboard"'
    return response


def api_view(view: Callable) -> Callable:
    """Authenticate by session or bearer token; answer JSON errors, never a login page."""

    @wraps(view)
    @never_cache
    @require_GET
    @vary_on_headers("Authorization", "Cookie")
    def wrapper(request: HttpRequest, *args, **kwargs):
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, key = header.partition(" ")
            user = tokens.token_user(key.strip()) if scheme.lower() == "bearer" else None
            if user is None:
                return api_error(401, "Invalid or unknown token.")
            request.user = user
        elif not request.user.is_authenticated:
            return api_error(401, "Authentication required: a session or a bearer token.")
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return api_error(404, "No such task.")
        except BadParameter as exc:
            return api_error(400, str(exc))

    return wrapper


def _limit(raw: str | None) -> int:
    if raw in (None, ""):
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise BadParameter(f"limit must be an integer from 1 to {MAX_LIMIT}.") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadParameter(f"limit must be an integer from 1 to {MAX_LIMIT}.")
    return limit


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Return the (created_at, id) a cursor points after; raise BadParameter."""
    try:
        return selectors.decode_cursor(cursor)
    except selectors.BadCursor:
        raise BadParameter("cursor is not one this API gave out.") from None


def _badge_json(badge: Badge) -> dict:
    return {
        "status": badge.status,
        "label": badge.label,
        "detail": badge.detail,
        "current": badge.current,
        "total": badge.total,
        "percent": badge.percent,
        "message": badge.message,
    }


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def task_json(task: Task, badge: Badge | None, *, staff: bool, full: bool = False) -> dict:
    """Return the API's representation of ``task``."""
    data = {
        "id": str(task.pk),
        "url": reverse("taskboard:api_task_detail", args=[task.pk]),
        "name": task.name,
        "status": task.status,
        # The live badge only for rows still in flight: finished rows are final.
        "live": _badge_json(badge) if badge is not None and not task.is_terminal else None,
        "args": task.args,
        "kwargs": task.kwargs,
        "queue": task.queue,
        "worker": task.worker,
        "result": task.result,
        "result_truncated": task.result_truncated,
        "error_type": task.error_type,
        "error_message": task.error_message,
        "created_at": _time(task.created_at),
        "started_at": _time(task.started_at),
        "finished_at": _time(task.finished_at),
        "attempts": task.attempts,
        "retry_of": str(task.retry_of_id) if task.retry_of_id else None,
        "version": task.version,
    }
    if staff:
        data["owner"] = task.owner.get_username() if task.owner else None
    if full:
        data["traceback"] = task.traceback
    return data


@api_view
def task_list(request: HttpRequest) -> JsonResponse:
    """List the tasks the caller may see, newest first, filtered like the table."""
    limit = _limit(request.GET.get("limit"))
    cursor = request.GET.get("cursor")
    after = decode_cursor(cursor) if cursor else None
    filters = request.GET.copy()
    for name in OWN_PARAMS:
        filters.pop(name, None)
    filterset = TaskFilter(
        filters,
        queryset=selectors.visible_tasks(request.user).select_related("owner"),
        user=request.user,
    )
    if not filterset.is_valid():
        return api_error(400, "Invalid filter.", fields=filterset.errors.get_json_data())
    tasks = selectors.tasks_page(filterset.qs, after=after, limit=limit)
    more = len(tasks) > limit
    tasks = tasks[:limit]
    badges, live = badges_for(tasks)
    staff = permissions.can_view_all(request.user)
    next_cursor = selectors.encode_cursor(tasks[-1]) if more else None
    next_url = None
    if next_cursor:
        params = request.GET.copy()
        params["cursor"] = next_cursor
        next_url = f"{request.path}?{params.urlencode()}"
    return JsonResponse(
        {
            "results": [task_json(t, badges[str(t.pk)], staff=staff) for t in tasks],
            "next": next_url,
            "next_cursor": next_cursor,
            "live_available": live,
        }
    )


@api_view
def task_detail(request: HttpRequest, task_id: str) -> JsonResponse:
    """Return one task the caller may see, with its traceback; 404 for any other id."""
    try:
        pk = uuid.UUID(task_id)
    except ValueError:
        raise Http404 from None
    task = selectors.task_get(user=request.user, task_id=pk)
    badges, live = badges_for([task])
    data = task_json(
        task, badges[str(task.pk)], staff=permissions.can_view_all(request.user), full=True
    )
    return JsonResponse({**data, "live_available": live})
