"""The product's original contract, asserted literally."""

from __future__ import annotations

import inspect

import pytest
from django.core.management import call_command

from taskboard.models import Task
from taskboard.selectors import completed_tasks, failed_tasks, pending_tasks, running_tasks
from taskboard.status import Status


def test_name_field_is_charfield_100():
    field = Task._meta.get_field("name")
    assert field.get_internal_type() == "CharField"
    assert field.max_length == 100


def test_status_field_is_charfield_20_with_choices():
    field = Task._meta.get_field("status")
    assert field.get_internal_type() == "CharField"
    assert field.max_length == 20
    assert tuple(field.choices) == Task.STATUS_CHOICES
    assert field.default == "pending"


def test_status_choices_hold_the_original_pairs():
    # An attribute of the model class itself, not only a module constant.
    assert "STATUS_CHOICES" in Task.__dict__
    assert isinstance(Task.STATUS_CHOICES, tuple)
    for pair in [("pending", "Pending"), ("completed", "Completed"), ("failed", "Failed")]:
        assert pair in Task.STATUS_CHOICES
    assert ("running", "Running") in Task.STATUS_CHOICES
    assert ("cancelled", "Cancelled") in Task.STATUS_CHOICES
    # A launch held back until its time (docs/architecture.md, "Launch later").
    assert ("scheduled", "Scheduled") in Task.STATUS_CHOICES
    assert len(Task.STATUS_CHOICES) == 6


def test_status_choices_are_the_one_vocabulary():
    assert tuple(Status.choices) == Task.STATUS_CHOICES


@pytest.mark.django_db
def test_the_vocabulary_changes_no_migration():
    # Exits non-zero if the model's state differs from the migrations'.
    call_command("makemigrations", "taskboard", check=True, dry_run=True, verbosity=0)


def test_model_defines_get_status_display_itself():
    assert "get_status_display" in Task.__dict__
    # Written in the class body, not the one Django adds for a field with choices.
    assert inspect.isfunction(Task.__dict__["get_status_display"])
    assert Task.get_status_display.__qualname__ == "Task.get_status_display"


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
    assert Status(status).label == label


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
