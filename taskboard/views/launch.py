"""Launch catalog and the per-task launch form."""

from __future__ import annotations

import json
from datetime import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from taskboard import registry, selectors, services
from taskboard.forms import LaunchLaterForm
from taskboard.live import badges_for
from taskboard.models import Task
from taskboard.views import HtmxHttpRequest, dashboard_view, see_other

# Sent by static/taskboard/js/launch.js when the page has the task table, so that a launch
# answers the new row for it; any other htmx launch is sent to the task's page.
ROWS_HEADER = "X-Taskboard-Rows"
REFUSED_STATUS = {
    services.LaunchUnavailable: 503,
    services.RateLimited: 429,
    services.ActionNotAllowed: 409,
    services.RunAtInvalid: 422,
}
# Prefix of the launch form's field ids: the dashboard's own filter form has a
# "name" field too, and ids must stay unique on the page.
FIELD_IDS = "launch-%s"


def prepare_form(form):
    """Give a launch form the page-unique ids and labels without a trailing colon."""
    form.auto_id = FIELD_IDS
    form.label_suffix = ""
    return form


def entry_for(request: HtmxHttpRequest, name: str) -> registry.Launchable:
    """Return the launchable ``name`` for this user, or raise Http404 / PermissionDenied."""
    try:
        entry = registry.get(name)
    except registry.UnknownTask:
        raise Http404("No such task.") from None
    if not entry.allowed_for(request.user):
        raise PermissionDenied("You may not launch this task.")
    return entry


def _retry_source(request: HtmxHttpRequest, name: str) -> Task | None:
    """Return the task named in ``retry_of`` (visible to the user, same name), if any."""
    raw = request.POST.get("retry_of") or request.GET.get("retry_of")
    if not raw:
        return None
    try:
        task = selectors.task_get(user=request.user, task_id=raw)
    except ValidationError:  # a malformed id is as unknown as someone else's
        raise Http404("No such task.") from None
    if task.name != name:
        raise Http404("No such task.")
    return task


@dashboard_view
@vary_on_headers("HX-Request")
def catalog(request: HtmxHttpRequest) -> HttpResponse:
    """Show the launchable tasks with their recent runs; the dialog's picker for htmx."""
    entries = [e for e in registry.all_launchables() if e.allowed_for(request.user)]
    stats = selectors.launch_stats(user=request.user, names=[e.name for e in entries])
    empty = selectors.LaunchStats()
    items = [
        (entry, stats.get(entry.name, empty), ago(stats.get(entry.name, empty).last_run))
        for entry in entries
    ]
    context = {"items": items, "days": 30}
    template = "taskboard/launch/catalog.html"
    if request.htmx:
        # The dialog's picker: the list and the first task's form, ready for Enter.
        template += "#picker"
        if entries:
            first = entries[0]
            context.update(_form_context(first, prepare_form(first.form_class())))
        context["in_dialog"] = True
    return render(request, template, context)


def ago(moment: datetime | None) -> str:
    """Return how long ago ``moment`` was, briefly: just now, 5 min ago, 3 h ago, 2 days ago."""
    if moment is None:
        return ""
    seconds = (timezone.now() - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    return f"{days} day{'s' if days != 1 else ''} ago"


def _form_context(entry, form, retry_of: Task | None = None, later=None) -> dict:
    # A retry runs now; every other launch may be held back (LaunchLaterForm).
    if later is None and retry_of is None and not entry.is_workflow:
        later = LaunchLaterForm()
    return {"entry": entry, "form": form, "retry_of": retry_of, "later": later}


@dashboard_view
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def launch(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """Show the task's form (GET) or launch it (POST)."""
    entry = entry_for(request, name)
    retry_of = _retry_source(request, name)
    in_dialog = bool(request.htmx)
    if request.method == "GET":
        initial = retry_of.kwargs if retry_of is not None else None
        form = prepare_form(entry.form_class(initial=initial))
        return _render_form(request, entry, form, retry_of, in_dialog=in_dialog)
    later = None
    if retry_of is None and not entry.is_workflow:
        later = LaunchLaterForm(data=request.POST)
        if not later.is_valid():
            # The parameters are checked too, so that every mistake is shown at once.
            form = prepare_form(entry.form_class(data=request.POST))
            form.is_valid()
            return _render_form(
                request, entry, form, retry_of, in_dialog=in_dialog, later=later, status=422
            )
    run_at = later.cleaned_data["run_at"] if later is not None else None
    try:
        if retry_of is not None:
            task = services.task_retry(user=request.user, task=retry_of, params=request.POST)
        else:
            task = services.task_launch(
                user=request.user, name=entry.name, params=request.POST, run_at=run_at
            )
    except services.LaunchInvalid as exc:
        prepare_form(exc.form)
        return _render_form(
            request, entry, exc.form, retry_of, in_dialog=in_dialog, later=later, status=422
        )
    except (services.LaunchError, services.ActionNotAllowed) as exc:
        # Refused as a whole (broker down, rate limit, retry of an unfinished run).
        form = prepare_form(entry.form_class(data=request.POST))
        status = REFUSED_STATUS.get(type(exc), 409)
        return _render_form(
            request,
            entry,
            form,
            retry_of,
            in_dialog=in_dialog,
            later=later,
            status=status,
            error=str(exc),
        )
    detail_url = reverse("taskboard:task_detail", args=[task.pk])
    notice = f"Launched “{entry.title}”."
    if run_at is not None:
        when = formats.date_format(timezone.localtime(run_at), "DATETIME_FORMAT")
        zone = timezone.get_current_timezone_name()
        notice = f"Scheduled “{entry.title}” for {when} {zone}."
    if in_dialog and ROWS_HEADER in request.headers:
        return new_row(request, task, detail_url, notice)
    # The task's page shows it, whichever way the browser gets there.
    messages.success(request, notice)
    if request.htmx:
        return HttpResponseClientRedirect(detail_url)
    return see_other(detail_url)


def _render_form(
    request: HtmxHttpRequest,
    entry,
    form,
    retry_of: Task | None,
    *,
    in_dialog: bool,
    later: LaunchLaterForm | None = None,
    status: int = 200,
    error: str = "",
) -> HttpResponse:
    if status == 422 and not request.htmx:
        # 422 lets htmx tell a refused form from a launch; a full page stays a plain 200.
        status = 200
    context = _form_context(entry, form, retry_of, later)
    context.update(in_dialog=in_dialog, error=error)
    template = "taskboard/launch/form.html"
    if request.htmx:
        template += "#launch-form"
    response = render(request, template, context, status=status)
    if request.htmx and status >= 400:
        # The form answers in place of itself, wherever the request meant to swap.
        response["HX-Retarget"] = "#launch-form-pane"
        response["HX-Reswap"] = "outerHTML"
    return response


def new_row(request: HtmxHttpRequest, task: Task, detail_url: str, notice: str) -> HttpResponse:
    """Answer the new task's table row, swapped in at the top of the dashboard's table.

    ``notice`` ("Launched …") is shown above the table by static/taskboard/js/actions.js, as the
    page after a full-page launch shows it as a message.
    """
    badges, live = badges_for([task])
    # Its bell is silent: nobody can have rung it yet.
    context = {
        "task": task,
        "badge": badges[str(task.pk)],
        "live": live,
        "bells": set(),
    }
    response = render(request, "taskboard/partials/task_row.html", context)
    response["HX-Retarget"] = "#task-rows"
    response["HX-Reswap"] = "afterbegin"
    # tasks-changed refreshes the dashboard's status tab counts.
    response["HX-Trigger"] = json.dumps(
        {
            "taskboard:launched": {"id": str(task.pk), "url": detail_url, "notice": notice},
            "tasks-changed": None,
        }
    )
    return response
