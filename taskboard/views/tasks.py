"""The task table and the poll fragment that keeps its in-flight rows live."""

from __future__ import annotations

import itertools
from urllib.parse import urlencode

from django.core.paginator import EmptyPage, PageNotAnInteger
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_tables2.paginators import LazyPaginator

from taskboard import permissions, polling, selectors
from taskboard.conf import app_settings
from taskboard.eta import time_left
from taskboard.filters import WITHIN_CHOICES, TaskFilter
from taskboard.live import Badge, badges_for
from taskboard.models import TERMINAL, Status, Task
from taskboard.tables import PER_PAGE, TaskTable
from taskboard.templatetags import taskboard_roles as roles
from taskboard.templatetags.taskboard_table import poll_item
from taskboard.views import HtmxHttpRequest, dashboard_view
from taskboard.workflows import WorkflowSummary

TABS_TARGET = "status-tabs"
# Deeper pages show the first one: their OFFSET would overflow the database's bigint.
MAX_PAGE = 1_000_000


class BoundedLazyPaginator(LazyPaginator):
    """A LazyPaginator that refuses page numbers beyond MAX_PAGE as empty."""

    def validate_number(self, number) -> int:
        number = super().validate_number(number)
        if number > MAX_PAGE:
            raise EmptyPage("That page number is too large")
        return number


@dashboard_view
@require_GET
@vary_on_headers("HX-Request")
def task_list(request: HtmxHttpRequest) -> HttpResponse:
    """Show the task table; for htmx, only the table fragment (or only the tabs)."""
    filterset = TaskFilter(
        request.GET,
        queryset=selectors.table_tasks(request.user),
        user=request.user,
    )
    context = {
        "filterset": filterset,
        "tabs": _tabs(filterset),
        "list_url": request.get_full_path(),
        # The filters in use: links built from it leave out the empty fields
        # that a form submission sends.
        "query": _query_in_use(request),
        "poll_interval": app_settings.POLL_INTERVAL,
        "time_filters": [
            tuple(filterset.form[f"{kind}{part}"] for part in ("", "_from", "_to"))
            for kind in ("created", "finished")
        ],
        "within_choices": WITHIN_CHOICES,
    }
    if request.htmx and request.htmx.target == TABS_TARGET:
        # A live row changed state: fresh counts only, for the tabs and the bulk bar.
        return render(request, "taskboard/partials/task_table.html#tabs-refresh", context)

    # No request= here: the table would paginate itself with a counting paginator.
    table = task_table(request.user, filterset.qs)
    ignored = list(filterset.invalid_fields)
    sort = request.GET.get(table.order_by_field, "")
    table.order_by = sort
    if sort.strip() and not table.order_by:
        ignored.append(table.order_by_field)
    keyset = None
    if table.order_by in ((), ("-created",)) and table.page_field not in request.GET:
        # The table keeps its unevaluated queryset: it draws the header, the
        # rows come from the keyset page.
        keyset = _keyset_page(request, filterset, ignored)
        tasks = keyset["tasks"]
    else:
        try:
            table.paginate(
                paginator_class=BoundedLazyPaginator, page=request.GET.get(table.page_field, 1)
            )
        except (EmptyPage, PageNotAnInteger):
            ignored.append(table.page_field)
            table.paginate(paginator_class=BoundedLazyPaginator, page=1)
        tasks = [row.record for row in table.page.object_list]
    context.update(
        live_rows(request, tasks),
        table=table,
        keyset=keyset,
        hidden_params=_hidden_params(request, filterset),
        # Named in a note, so that a bad link shows why it shows more than it asked.
        ignored=sorted(ignored),
        row_next=request.get_full_path(),
    )
    template = "taskboard/tasks/list.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#table-section"
    response = render(request, template, context)
    if request.htmx:
        response["HX-Push-Url"] = canonical_url(request)
    return response


def task_table(user, data) -> TaskTable:
    """Return the task table of ``data`` with the columns ``user``'s roles show.

    Roles (taskboard/permissions.py): the owner column for those who see everyone's
    tasks, the selection column for those who may act on some.
    """
    hidden: tuple[str, ...] = ()
    if not permissions.can_view_all(user):
        hidden += ("owner",)
    if not roles.can_select(user):
        hidden += ("select",)
    return TaskTable(data, exclude=hidden)


def live_rows(request: HttpRequest, tasks: list[Task]) -> dict:
    """Return what draws ``tasks`` as live rows of the task table, wherever they are shown.

    Each (task, badge) of ``rows`` is drawn by partials/task_row.html, as the poll
    draws it; ``poll_ids`` feed partials/poll.html, which keeps the rows in flight live.
    """
    badges, live = badges_for(tasks)
    rows = [(task, badges[str(task.pk)]) for task in tasks]
    _attach_etas(rows)
    attach_workflows(request.user, tasks)
    return {
        "rows": rows,
        "bells": _bells(request, rows),
        "live": live,
        "poll_ids": poll_ids(rows),
        "poll_interval": app_settings.POLL_INTERVAL,
    }


def _bells(request: HttpRequest, rows: list[tuple[Task, Badge]]) -> set[str]:
    """Return which rows in flight the user rang the bell of: one query, none without such rows."""
    in_flight = [task.pk for task, _ in rows if not task.is_terminal]
    if not in_flight:
        return set()
    return selectors.subscribed_task_ids(user=request.user, task_ids=in_flight)


def _attach_etas(rows: list[tuple[Task, Badge]]) -> None:
    """Give each running row its expected time left, from the progress it reports.

    From the task's own rate (taskboard/eta.py), not its name's average run time, which
    says little about this run; without progress, no estimate. No query.
    """
    now = timezone.now()
    for task, badge in rows:
        if task.status != Status.RUNNING:
            continue
        task.eta_left = time_left(
            started_at=task.started_at, current=badge.current, total=badge.total, now=now
        )


def attach_workflows(user, tasks: list[Task]) -> None:
    """Give each workflow root among ``tasks`` its workflow's state and counts.

    One query for all of them, an index range on root_id per root, and none when
    the page shows no workflow (a lone task has no root_id).
    """
    workflows = _workflows(user, [task.pk for task in tasks if task.is_workflow_root])
    for task in tasks:
        task.workflow = workflows.get(str(task.pk))


def _workflows(user, root_ids: list) -> dict[str, WorkflowSummary]:
    """Return the state and counts of the workflows of ``root_ids``, in one query (none without)."""
    counts = selectors.workflow_counts(user=user, root_ids=root_ids)
    return {root_id: WorkflowSummary(by_status) for root_id, by_status in counts.items()}


def _query_in_use(request: HttpRequest) -> QueryDict:
    """Return the request's GET parameters without the empty ones."""
    query = QueryDict(mutable=True)
    for key, values in request.GET.lists():
        query.setlist(key, [value for value in values if value])
    return query


def _keyset_page(request: HttpRequest, filterset: TaskFilter, ignored: list) -> dict:
    """Page the default order (newest first) by a (created_at, id) cursor: no OFFSET.

    Page 1,000 costs what page 1 costs: an index range that starts at the cursor.
    Other orders page with numbers (and OFFSET).
    """
    after = None
    if cursor := request.GET.get("cursor"):
        try:
            after = selectors.decode_cursor(cursor)
        except selectors.BadCursor:
            ignored.append("cursor")
    rows = selectors.tasks_page(filterset.qs, after=after, limit=PER_PAGE)
    tasks = rows[:PER_PAGE]
    return {
        "tasks": tasks,
        "older": selectors.encode_cursor(tasks[-1]) if len(rows) > len(tasks) else None,
        "first": after is not None,
    }


def _tabs(filterset: TaskFilter) -> list[dict]:
    """Return the status tabs with their counts over the other filters."""
    counts = selectors.task_status_counts(filterset.queryset_without("status"))
    current = filterset.form.cleaned_data.get("status") or ""
    tabs = []
    cap = selectors.COUNT_CAP
    for key, value, label in Status.tabs():
        count = counts.get(value, 0)
        tabs.append(
            {
                "value": value,
                # None drops the parameter from the tab's link.
                "param": value or None,
                "label": label,
                "count": min(count, cap),
                # Counts stop at the cap: the tab reads "1000+".
                "more": count > cap,
                "key": key,
                "active": value == current,
            }
        )
    return tabs


def _hidden_params(request: HttpRequest, filterset: TaskFilter) -> list[tuple[str, str]]:
    """Return the GET parameters the search form must carry besides its own fields."""
    # The fields that have an input in the search form itself; every other
    # parameter (status, sort, error_type from a failure group...) rides along hidden.
    own = set(filterset.search_form_fields)
    # A new search starts from the first page.
    own |= {"page", "cursor"}
    return [(key, value) for key, value in request.GET.items() if key not in own and value]


def canonical_url(request: HttpRequest) -> str:
    """Return the list URL for this request without empty parameters."""
    params = [(k, v) for k, v in request.GET.items() if v and not (k == "page" and v == "1")]
    return request.path + (f"?{urlencode(params)}" if params else "")


def poll_ids(rows) -> str:
    """Return the poll's ``ids`` value for the rows among ``(task, badge)`` pairs that may move.

    Those in flight, and a workflow's root while its workflow is: their ``data-poll``.
    """
    return polling.carried(
        poll_item(task, badge)
        for task, badge in rows
        if not task.is_terminal or (task.workflow and task.workflow.in_flight)
    )


@never_cache
@dashboard_view
@require_http_methods(["GET", "POST"])
def task_status(request: HtmxHttpRequest) -> HttpResponse:
    """Answer the rows whose state changed since the page drew them, and the next poll.

    Reads only, whichever the method: the page's poll element POSTs its ids in the
    body (CSRF-checked by the middleware), because a URL carrying them passes
    gunicorn's 4,094-byte request line only up to about ninety rows; GET with
    ``?ids=`` answers the same. One query for the rows, one result-backend round
    trip for their live state. With the result backend down, rows stay as they
    are (finished ones excepted: their state is in the database) and a marker says so.
    """
    params = request.POST if request.method == "POST" else request.GET
    try:
        wanted = polling.parse_ids(params.get("ids", ""), cap=app_settings.POLL_MAX_CARRIED)
    except polling.PollIdsInvalid as exc:
        return bad_poll(str(exc))
    # At most POLL_MAX_IDS rows are read per poll. The others ride along as the page
    # sent them, ahead of the rows read now, so the next poll reads them: with more
    # rows in flight, each is read every few polls instead of never.
    read = dict(itertools.islice(wanted.items(), app_settings.POLL_MAX_IDS))
    waiting = [polling.item(pk, token) for pk, token in wanted.items() if pk not in read]
    rows = selectors.poll_rows(user=request.user, ids=read)
    badges, live = badges_for(rows)
    # A workflow's root shows its workflow's counts: one query for the polled roots
    # (none when no root is polled); the root is polled while its workflow is in flight.
    workflows = _workflows(request.user, [row.pk for row in rows if row.is_workflow_root])
    changed: list[tuple[Task, Badge]] = []
    carried: list[str] = []
    state_changed = False
    for row in rows:
        badge = badges[str(row.pk)]
        old = read[row.pk]
        terminal = row.status in TERMINAL
        workflow = workflows.get(str(row.pk))
        # Without live state only the database's finished rows can be trusted.
        if live or terminal:
            token = polling.token(row.version, badge, workflow.key if workflow else "")
        else:
            token = old
        if token != old:
            task = row.task()
            task.workflow = workflow
            changed.append((task, badge))
            state_changed |= polling.token_version(token) != polling.token_version(old)
        if not terminal or (workflow and workflow.in_flight):
            carried.append(polling.item(row.pk, token))
    was_down = params.get("down") == "1"
    if not waiting and read and not changed and live and not was_down and len(carried) == len(read):
        # Nothing to swap: htmx leaves the page, and the poll element, as they are.
        return HttpResponse(status=204)
    _attach_etas(changed)
    context = {
        "bells": _bells(request, changed),
        "changed": changed,
        "poll_ids": polling.carried(waiting + carried),
        "live": live,
        "was_down": was_down,
        "poll_interval": app_settings.POLL_INTERVAL,
    }
    response = render(request, "taskboard/partials/poll.html#response", context)
    if state_changed:
        # The tabs' counts moved: the tabs refresh themselves on this event.
        response["HX-Trigger"] = "tasks-changed"
    return response


def bad_poll(message: str) -> HttpResponse:
    """Answer a poll whose parameters could not be read: 400, and why, as plain text."""
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
