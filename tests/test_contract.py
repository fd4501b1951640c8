"""The product's original contract, asserted literally."""

from __future__ import annotations

import pytest

from tasks.models import STATUS_CHOICES, Task
from tasks.selectors import completed_tasks, failed_tasks, pending_tasks, running_tasks


def test_name_field_is_charfield_100():
    field = Task._meta.get_field("name")
    assert field.get_internal_type() == "CharField"
    assert field.max_length == 100


def test_status_field_is_charfield_20_with_choices():
    field = Task._meta.get_field("status")
    assert field.get_internal_type() == "CharField"
    assert field.max_length == 20
    assert tuple(field.choices) == tuple(STATUS_CHOICES)


def test_status_choices_hold_the_original_pairs():
    assert isinstance(STATUS_CHOICES, tuple)
    for pair in [("pending", "Pending"), ("completed", "Completed"), ("failed", "Failed")]:
        assert pair in STATUS_CHOICES
    assert ("running", "Running") in STATUS_CHOICES
    assert ("cancelled", "Cancelled") in STATUS_CHOICES


@pytest.mark.parametrize(
    "status,label",
    [
        ("pending", "Pending"),
        ("running", "Running"),
        ("completed", "Completed"),
        ("failed", "Failed"),
        ("cancelled", "Cancelled"),
    ],
)
def test_get_status_display(status, label):
    assert Task(name="x", status=status).get_status_display() == label


@pytest.mark.django_db
def test_completed_queries_agree():
    Task.objects.create(name="a", status="completed")
    Task.objects.create(name="b", status="failed")
    Task.objects.create(name="c", status="pending")
    Task.objects.create(name="d", status="completed")
    expected = set(Task.objects.filter(status="completed").values_list("pk", flat=True))
    assert len(expected) == 2
    assert set(Task.objects.completed().values_list("pk", flat=True)) == expected
    assert set(completed_tasks().values_list("pk", flat=True)) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status,selector,method",
    [
        ("failed", failed_tasks, "failed"),
        ("running", running_tasks, "running"),
        ("pending", pending_tasks, "pending"),
    ],
)
def test_other_status_queries_agree(status, selector, method):
    for s in ("pending", "running", "completed", "failed", "cancelled"):
        Task.objects.create(name=s, status=s)
    expected = set(Task.objects.filter(status=status).values_list("pk", flat=True))
    assert set(selector().values_list("pk", flat=True)) == expected
    assert set(getattr(Task.objects, method)().values_list("pk", flat=True)) == expected


def test_primary_key_is_uuid():
    assert Task._meta.pk.get_internal_type() == "UUIDField"
