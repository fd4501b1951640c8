"""The task table's filters: status tab, search, task name, time ranges, owner and queue."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from taskboard import permissions, registry
from taskboard.models import NOT_A_STEP, Status, Task, TaskLog

SEARCH_MAX = 200
# Relative time ranges of the created/finished filters.
WITHIN_CHOICES = (("hour", "Last hour"), ("today", "Today"), ("7d", "Last 7 days"))
# The table shows a workflow's root only, or (steps=all) every step of it too.
STEPS_ALL = "all"
STEPS_CHOICES = ((STEPS_ALL, "Every workflow step"),)
# PostgreSQL's text search configuration: English stems "timeouts" to "timeout".
SEARCH_CONFIG = "english"


def _range_start(value: str):
    """Return the start of a relative range: an hour ago, local midnight, or a week ago."""
    now = timezone.now()
    if value == "hour":
        return now - timedelta(hours=1)
    if value == "today":
        return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return now - timedelta(days=7)


def _datetime_filter(field: str, lookup: str, label: str) -> django_filters.DateTimeFilter:
    return django_filters.DateTimeFilter(
        field_name=field,
        lookup_expr=lookup,
        label=label,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


def _log_matches(value: str) -> QuerySet[TaskLog]:
    """Return the ids of the tasks whose stored log matches ``value``.

    On PostgreSQL by full text only, through the GIN index of the same expression
    (migration 0004): a substring match would read every stored log. Elsewhere the
    substring match the other columns use.
    """
    if connection.vendor != "postgresql":
        return TaskLog.objects.filter(text__icontains=value).values("task_id")
    return (
        TaskLog.objects.annotate(document=SearchVector("text", config=SEARCH_CONFIG))
        .filter(document=SearchQuery(value, search_type="websearch", config=SEARCH_CONFIG))
        .values("task_id")
    )


class TaskFilter(django_filters.FilterSet):
    """Own the table's query: the filters and the per-status counts of the tabs."""

    status = django_filters.ChoiceFilter(choices=Status.choices, empty_label="All")
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        max_length=SEARCH_MAX,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    name = django_filters.ChoiceFilter(empty_label="All tasks", label="Task")
    error_type = django_filters.CharFilter(
        method="filter_error_type", label="Error type", max_length=200
    )
    created = django_filters.ChoiceFilter(
        choices=WITHIN_CHOICES, method="filter_within", label="Created", empty_label="Any time"
    )
    created_from = _datetime_filter("created_at", "gte", "Created from")
    created_to = _datetime_filter("created_at", "lte", "Created until")
    finished = django_filters.ChoiceFilter(
        choices=WITHIN_CHOICES, method="filter_within", label="Finished", empty_label="Any time"
    )
    finished_from = _datetime_filter("finished_at", "gte", "Finished from")
    finished_to = _datetime_filter("finished_at", "lte", "Finished until")
    # For those who see everyone's tasks (removed for others in __init__).
    owner = django_filters.CharFilter(method="filter_owner", label="Owner", max_length=150)
    queue = django_filters.CharFilter(field_name="queue", label="Queue", max_length=200)
    # The runs of one schedule (its page links here); the rows stay those the user sees.
    schedule = django_filters.NumberFilter(field_name="schedule", label="Schedule", min_value=1)
    # A workflow's steps are hidden behind its root unless asked for (applied in
    # __init__: a filter's method is not called for the empty default).
    steps = django_filters.ChoiceFilter(
        choices=STEPS_CHOICES,
        method="filter_steps",
        label="Show",
        empty_label="Workflows and lone tasks",
    )

    # The filters with an input in the page's search form (templates/taskboard/tasks/list.html).
    search_form_fields = (
        "q",
        "name",
        "steps",
        "created",
        "created_from",
        "created_to",
        "finished",
        "finished_from",
        "finished_to",
        "owner",
        "queue",
    )
    staff_fields = ("owner", "queue")

    class Meta:
        model = Task
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, *, user=None, **kwargs):
        if queryset is not None and (data or {}).get("steps") != STEPS_ALL:
            # Roots and lone tasks only: a filter on the rows each index range reads.
            queryset = queryset.filter(NOT_A_STEP)
        super().__init__(data, queryset, **kwargs)
        if user is None or not permissions.can_view_all(user):
            for field in self.staff_fields:
                del self.filters[field]
        # The registry gives the choices without a query over the history; a name
        # from a link (a task sent from code) is kept so that it stays selected.
        names = [e.name for e in registry.all_launchables() if user is None or e.allowed_for(user)]
        current = (data or {}).get("name", "")
        # Never a NUL: PostgreSQL refuses it in a query; such a name is ignored as invalid.
        if current and current not in names and len(current) <= 100 and "\x00" not in current:
            names.append(current)
        self.filters["name"].extra["choices"] = [(n, n) for n in sorted(names)]

    def filter_owner(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        """Match the owner's login name, the user model's USERNAME_FIELD (a host's may be email)."""
        return queryset.filter(**{f"owner__{get_user_model().USERNAME_FIELD}": value})

    def filter_search(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        """Match name, id, arguments, result, error or stored log; full-text on PostgreSQL."""
        value = value.strip()
        if not value:
            return queryset
        match = (
            Q(name__icontains=value)
            | Q(error_type__icontains=value)
            | Q(error_message__icontains=value)
            | Q(id_text__icontains=value)
            | Q(args_text__icontains=value)
            | Q(kwargs_text__icontains=value)
            | Q(result_text__icontains=value)
        )
        with contextlib.suppress(ValueError):
            match |= Q(pk=uuid.UUID(value))
        queryset = queryset.annotate(
            id_text=Cast("id", TextField()),
            args_text=Cast("args", TextField()),
            kwargs_text=Cast("kwargs", TextField()),
            result_text=Cast("result", TextField()),
        )
        if connection.vendor == "postgresql":
            # Words in any order and any form ("timeouts db" finds "Timeout on db1"),
            # beside the substring match that ids and partial words need.
            queryset = queryset.annotate(
                document=SearchVector(
                    "name",
                    "error_type",
                    "error_message",
                    "args_text",
                    "kwargs_text",
                    "result_text",
                    config=SEARCH_CONFIG,
                )
            )
            match |= Q(document=SearchQuery(value, search_type="websearch", config=SEARCH_CONFIG))
        return queryset.filter(match | Q(pk__in=_log_matches(value)))

    def filter_steps(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        """Keep every step (the roots-only default is applied to the base queryset)."""
        return queryset

    def filter_within(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        """Keep the tasks created (or finished) within the last hour, today or the last week."""
        field = "created_at" if name == "created" else "finished_at"
        return queryset.filter(**{f"{field}__gte": _range_start(value)}) if value else queryset

    def filter_error_type(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        """Match the exception type exactly (the failure groups link here)."""
        value = value.strip()
        # A NUL can never be stored (PostgreSQL refuses it), so it matches nothing.
        if "\x00" in value:
            return queryset.none()
        return queryset.filter(error_type=value) if value else queryset

    @property
    def invalid_fields(self) -> list[str]:
        """Return the names of the filters whose values were ignored as invalid."""
        return sorted(self.errors) if self.is_bound else []

    def queryset_without(self, *skip: str) -> QuerySet[Task]:
        """Return the queryset with every valid filter applied except ``skip``."""
        self.is_valid()
        queryset = self.queryset.all()
        for name, value in self.form.cleaned_data.items():
            if name not in skip:
                queryset = self.filters[name].filter(queryset, value)
        return queryset
