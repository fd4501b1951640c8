"""The task table's filters: status tab, search box and task name."""

from __future__ import annotations

import contextlib
import uuid

import django_filters
from django import forms
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from tasks import registry
from tasks.models import STATUS_CHOICES, Task

SEARCH_MAX = 200


class TaskFilter(django_filters.FilterSet):
    """Own the table's query: the filters and the per-status counts of the tabs."""

    status = django_filters.ChoiceFilter(choices=STATUS_CHOICES, empty_label="All")
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

    # The filters with an input in the page's search form (templates/tasks/list.html).
    search_form_fields = ("q", "name")

    class Meta:
        model = Task
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, *, user=None, **kwargs):
        super().__init__(data, queryset, **kwargs)
        # The registry gives the choices without a query over the history; a name
        # from a link (a task sent from code) is kept so that it stays selected.
        names = [e.name for e in registry.all_launchables() if user is None or e.allowed_for(user)]
        current = (data or {}).get("name", "")
        # Never a NUL: PostgreSQL refuses it in a query; such a name is ignored as invalid.
        if current and current not in names and len(current) <= 100 and "\x00" not in current:
            names.append(current)
        self.filters["name"].extra["choices"] = [(n, n) for n in sorted(names)]

    def filter_search(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        """Match the name, id, arguments or error message, case-insensitively."""
        value = value.strip()
        if not value:
            return queryset
        match = (
            Q(name__icontains=value)
            | Q(error_message__icontains=value)
            | Q(id_text__icontains=value)
            | Q(args_text__icontains=value)
            | Q(kwargs_text__icontains=value)
        )
        with contextlib.suppress(ValueError):
            match |= Q(pk=uuid.UUID(value))
        return queryset.annotate(
            id_text=Cast("id", TextField()),
            args_text=Cast("args", TextField()),
            kwargs_text=Cast("kwargs", TextField()),
        ).filter(match)

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
