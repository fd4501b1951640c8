"""The task table: its columns, their sort orders and their headers.

The cells themselves are rendered by templates/taskboard/partials/task_row.html, the one row
template that the table, the poll and the launch response share; keep the column order
here and there the same. The
table draws the header and orders the other sorts' pages; the body loops over the
page's rows with that partial.
"""

from __future__ import annotations

import django_tables2 as tables
from django.contrib.auth import get_user_model
from django.db.models import Case, F, IntegerField, QuerySet, Value, When

from taskboard.models import Status, Task

PER_PAGE = 25
# The vocabulary's order, so that sorting by status reads pending → running → finished
# (and the finished in the order the tabs list them); anything else sorts last.
STATUS_ORDER = Case(
    *(When(status=status, then=Value(index)) for index, status in enumerate(Status)),
    default=Value(len(Status)),
    output_field=IntegerField(),
)


def _ordered(queryset: QuerySet[Task], expression, is_descending: bool) -> QuerySet[Task]:
    """Order by ``expression`` with the newest first among equals, for stable pages."""
    key = expression.desc(nulls_last=True) if is_descending else expression.asc(nulls_last=True)
    return queryset.order_by(key, "-created_at", "-id")


class TaskTable(tables.Table):
    # The bulk selection's checkbox (excluded for users who may act on nothing).
    select = tables.Column(empty_values=(), orderable=False, verbose_name="Select")
    status = tables.Column(empty_values=())
    name = tables.Column(verbose_name="Task")
    owner = tables.Column(accessor="owner", verbose_name="Owner")
    arguments = tables.Column(empty_values=(), orderable=False)
    created = tables.Column(accessor="created_at", verbose_name="Created")
    runtime = tables.Column(empty_values=(), verbose_name="Runtime")
    actions = tables.Column(empty_values=(), orderable=False, verbose_name="Actions")

    class Meta:
        order_by_field = "sort"
        page_field = "page"
        per_page = PER_PAGE
        attrs = {"class": "tasks task-grid", "id": "task-grid"}
        row_attrs = {"id": lambda record: f"task-{record.pk}"}
        empty_text = "No tasks match."

    def order_status(self, queryset, is_descending):
        return _ordered(queryset, STATUS_ORDER, is_descending), True

    def order_name(self, queryset, is_descending):
        return _ordered(queryset, F("name"), is_descending), True

    def order_owner(self, queryset, is_descending):
        # By the login name, the user model's USERNAME_FIELD (a host's may be email).
        login = f"owner__{get_user_model().USERNAME_FIELD}"
        return _ordered(queryset, F(login), is_descending), True

    def order_created(self, queryset, is_descending):
        return queryset.order_by(
            *(("-created_at", "-id") if is_descending else ("created_at", "id"))
        ), True

    def order_runtime(self, queryset, is_descending):
        runtime = F("finished_at") - F("started_at")
        return _ordered(queryset.alias(runtime=runtime), F("runtime"), is_descending), True


class ScheduleTable(tables.Table):
    """/schedules/: one row per schedule (selectors.ScheduleRow), drawn by schedules/list.html."""

    task = tables.Column(accessor="schedule__name", verbose_name="Task", orderable=False)
    owner = tables.Column(accessor="schedule__owner", verbose_name="Owner", orderable=False)
    parameters = tables.Column(
        accessor="schedule__params", verbose_name="Parameters", orderable=False
    )
    when = tables.Column(verbose_name="When", orderable=False)
    next_run = tables.Column(verbose_name="Next run", orderable=False)
    last_run = tables.Column(verbose_name="Last run", orderable=False)
    enabled = tables.Column(accessor="schedule__enabled", verbose_name="Enabled", orderable=False)

    class Meta:
        attrs = {"class": "tasks schedules", "id": "schedule-grid"}
        empty_text = "No schedules yet: open a task in Launch and choose “Run on a schedule”."
