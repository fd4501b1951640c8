"""Schedules: the list, a schedule's page and runs, create, edit, enable, delete, run now."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from taskboard import permissions, registry, selectors, services
from taskboard.forms import ScheduleForm
from taskboard.live import badges_for
from taskboard.models import Schedule
from taskboard.tables import ScheduleTable
from taskboard.views import HtmxHttpRequest, dashboard_view, redirect_after_post, see_other
from taskboard.views.launch import entry_for, prepare_form
from taskboard.views.tasks import live_rows, task_table

# The timing fields' names are prefixed: a task's own form may have an "hour" field.
WHEN_PREFIX = "when"
RUNS_SHOWN = 20
# The launch form's "Run on a schedule…" button: a name no task's field can have.
FROM_LAUNCH = "to-schedule"


def _editable(request: HtmxHttpRequest, schedule_id: int) -> Schedule:
    """Return the schedule the user sees and may change; 404 if unseen, 403 if read-only."""
    schedule = selectors.schedule_get(user=request.user, schedule_id=schedule_id)
    if not permissions.can_act_on_schedule(request.user, schedule):
        raise PermissionDenied("You may not change this schedule.")
    return schedule


@dashboard_view
@require_http_methods(["GET"])
@vary_on_headers("HX-Request")
def schedule_list(request: HtmxHttpRequest) -> HttpResponse:
    """Show the schedules the user may see; for htmx, only the table."""
    rows = selectors.schedule_rows(selectors.visible_schedules(request.user))
    badges, live = badges_for([row.last_run for row in rows if row.last_run is not None])
    # The owner column for those who see everyone's schedules (taskboard/permissions.py).
    show_owner = permissions.can_view_all(request.user)
    table = ScheduleTable(rows, exclude=() if show_owner else ("owner",))
    context = {
        "table": table,
        "show_owner": show_owner,
        # Each row with its last run's badge and why it cannot run, if it cannot.
        "items": [
            (
                row,
                badges[str(row.last_run.pk)] if row.last_run else None,
                row.schedule.broken_reason
                or services.schedule_problem(row.schedule, check_owner=False),
            )
            for row in rows
        ],
        "live": live,
    }
    template = "taskboard/schedules/list.html"
    if request.htmx:
        template += "#schedule-table"
    return render(request, template, context)


@dashboard_view
@require_http_methods(["GET"])
@vary_on_headers("HX-Request")
def schedule_detail(request: HtmxHttpRequest, schedule_id: int) -> HttpResponse:
    """Show one schedule: when, its state, its recent runs, success rate and run times."""
    schedule = selectors.schedule_get(user=request.user, schedule_id=schedule_id)
    (row,) = selectors.schedule_rows([schedule])
    runs = list(selectors.schedule_runs(user=request.user, schedule=schedule)[:RUNS_SHOWN])
    stats = selectors.schedule_stats(user=request.user, schedule=schedule)
    context = {
        **live_rows(request, runs),
        "table": task_table(request.user, []),
        # A row's actions come back here (task_row.html reads both names).
        "row_next": request.get_full_path(),
        "list_url": request.get_full_path(),
        "schedule": schedule,
        "row": row,
        "stats": stats,
        "problem": schedule.broken_reason or services.schedule_problem(schedule),
        "can_change": permissions.can_act_on_schedule(request.user, schedule),
        # A task that is no longer registered has no form to edit it with.
        "can_edit": _registered(schedule.name),
        "title": _title(schedule.name),
    }
    template = "taskboard/schedules/detail.html"
    if request.htmx:
        template += "#schedule-detail"
    return render(request, template, context)


def _registered(name: str) -> bool:
    try:
        registry.get(name)
    except registry.UnknownTask:
        return False
    return True


def _title(name: str) -> str:
    """Return the registered task's title, or its name if it is no longer registered."""
    return registry.get(name).title if _registered(name) else name


@dashboard_view
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def schedule_create(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """Show the task's launch form with the schedule's fields (GET), or create it (POST).

    The GET takes the task's values from its query (what the launch form carried); a
    POST from the launch form's "Run on a schedule…" button is sent there.
    """
    entry = entry_for(request, name)
    if request.method == "GET":
        form = prepare_form(entry.form_class(initial=_carried(entry.form_class(), request.GET)))
        when = ScheduleForm(prefix=WHEN_PREFIX)
        return _render_form(request, entry, form, when)
    if FROM_LAUNCH in request.POST:
        # Only the task's own fields go into the address, never the CSRF token; a
        # redirect, so that the schedule form has an address to reload and go back to.
        carried = _carried(entry.form_class(), request.POST)
        url = reverse("taskboard:schedule_create", args=[entry.name])
        url += "?" + urlencode(carried, doseq=True)
        return HttpResponseClientRedirect(url) if request.htmx else see_other(url)
    return _save(request, entry, None)


def _carried(form, data) -> dict[str, str | list[str]]:
    """Return the values in ``data`` of ``form``'s fields, as its initial values."""
    return {
        name: data.getlist(name)
        if getattr(field.widget, "allow_multiple_selected", False)
        else data[name]
        for name, field in form.fields.items()
        if name in data
    }


@dashboard_view
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def schedule_edit(request: HtmxHttpRequest, schedule_id: int) -> HttpResponse:
    """Show the schedule's form filled in (GET), or store the changes (POST)."""
    schedule = _editable(request, schedule_id)
    entry = entry_for(request, schedule.name)
    if request.method == "GET":
        form = prepare_form(entry.form_class(initial=schedule.params))
        timing = services.Timing.of(schedule.periodic_task)
        when = ScheduleForm(prefix=WHEN_PREFIX, initial=timing.form_initial())
        return _render_form(request, entry, form, when, schedule=schedule)
    return _save(request, entry, schedule)


def _save(request: HtmxHttpRequest, entry, schedule: Schedule | None) -> HttpResponse:
    """Validate both forms and create or update the schedule; the forms again if refused."""
    when = ScheduleForm(request.POST, prefix=WHEN_PREFIX)
    form = prepare_form(entry.form_class(data=request.POST))
    # Both forms are checked, so that every error shows at once.
    if when.is_valid() and form.is_valid():
        timing = services.Timing.from_form(when.cleaned_data)
        try:
            if schedule is None:
                schedule = services.schedule_create(
                    user=request.user, name=entry.name, params=request.POST, timing=timing
                )
                notice = f"Scheduled “{entry.title}”: {services.describe_timing(timing)}."
            else:
                services.schedule_update(
                    user=request.user, schedule=schedule, params=request.POST, timing=timing
                )
                notice = f"Saved the schedule of “{entry.title}”."
        except services.LaunchInvalid as exc:
            form = prepare_form(exc.form)
        else:
            messages.success(request, notice)
            return redirect_after_post(
                request, reverse("taskboard:schedule_detail", args=[schedule.pk])
            )
    # 422 lets htmx tell a refused form from a save; a full page stays a plain 200.
    status = 422 if request.htmx else 200
    return _render_form(request, entry, form, when, schedule=schedule, status=status)


def _render_form(
    request: HtmxHttpRequest,
    entry,
    form,
    when: ScheduleForm,
    *,
    schedule: Schedule | None = None,
    status: int = 200,
) -> HttpResponse:
    when.label_suffix = ""
    context = {"entry": entry, "form": form, "when": when, "schedule": schedule}
    template = "taskboard/schedules/form.html"
    if request.htmx:
        template += "#schedule-form"
    return render(request, template, context, status=status)


@dashboard_view
@require_POST
@vary_on_headers("HX-Request")
def schedule_toggle(request: HtmxHttpRequest, schedule_id: int, enabled: bool) -> HttpResponse:
    """Enable or disable the schedule."""
    schedule = _editable(request, schedule_id)
    if services.schedule_set_enabled(user=request.user, schedule=schedule, enabled=enabled):
        messages.success(request, "Schedule enabled." if enabled else "Schedule disabled.")
    return redirect_after_post(request, reverse("taskboard:schedule_detail", args=[schedule.pk]))


@dashboard_view
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def schedule_delete(request: HtmxHttpRequest, schedule_id: int) -> HttpResponse:
    """Ask to confirm (GET, the page without JavaScript), or delete the schedule (POST)."""
    schedule = _editable(request, schedule_id)
    if request.method == "GET":
        context = {"schedule": schedule, "title": _title(schedule.name)}
        return render(request, "taskboard/schedules/delete.html", context)
    services.schedule_delete(user=request.user, schedule=schedule)
    messages.success(request, "Schedule deleted; its runs are kept.")
    return redirect_after_post(request, reverse("taskboard:schedule_list"))


@dashboard_view
@require_POST
@vary_on_headers("HX-Request")
def schedule_run_now(request: HtmxHttpRequest, schedule_id: int) -> HttpResponse:
    """Launch the schedule's task once now, as an ordinary launch linked to it."""
    schedule = _editable(request, schedule_id)
    detail_url = reverse("taskboard:schedule_detail", args=[schedule.pk])
    try:
        task = services.schedule_run_now(user=request.user, schedule=schedule)
    except (services.ScheduleBroken, services.LaunchError) as exc:
        # Refused (broken, rate limit, broker down): the schedule's page says why.
        messages.error(request, str(exc))
        return redirect_after_post(request, detail_url)
    messages.success(request, "Launched a run now.")
    return redirect_after_post(request, reverse("taskboard:task_detail", args=[task.pk]))
