"""The tracking writes record a task's place in its workflow (taskboard/worker/tracking.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from taskboard.models import Task
from taskboard.worker import tracking
from taskboard.worker.reconcile import reconcile
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_a_lone_task_has_no_links():
    task_id = str(uuid.uuid4())
    assert tracking.workflow_links(task_id=task_id, root_id=task_id) == {}


def test_a_chord_member_names_its_callback():
    task_id, root, group, callback = (str(uuid.uuid4()) for _ in range(4))
    links = tracking.workflow_links(
        task_id=task_id,
        root_id=root,
        group_id=group,
        chord={"task": "demo.merge_pages", "options": {"task_id": callback}},
    )
    assert links == {"root_id": root, "group_id": group, "chord_id": callback}


def test_a_group_member_is_its_own_root_to_celery():
    task_id, group = str(uuid.uuid4()), str(uuid.uuid4())
    links = tracking.workflow_links(task_id=task_id, root_id=task_id, group_id=group)
    assert links == {"root_id": task_id, "group_id": group}


def test_published_child_marks_its_root(user):
    root = TaskFactory(owner=user)
    child_id = uuid.uuid4()
    links = tracking.workflow_links(task_id=child_id, root_id=root.pk, parent_id=root.pk)
    tracking.track_published(task_id=child_id, name="demo.quick", args=[1], kwargs={}, links=links)
    child = Task.objects.get(pk=child_id)
    assert (child.root_id, child.parent_id) == (root.pk, root.pk)
    root.refresh_from_db()
    assert root.root_id == root.pk


def test_start_fills_missing_links_and_keeps_recorded_ones(user):
    root_id, old_group = uuid.uuid4(), uuid.uuid4()
    recorded = TaskFactory(owner=user, root_id=root_id, group_id=old_group)
    # A retry sent from the web is its own root to Celery: the recorded root stays.
    links = tracking.workflow_links(
        task_id=recorded.pk, root_id=recorded.pk, parent_id=uuid.uuid4()
    )
    tracking.track_started(
        task_id=recorded.pk,
        name=recorded.name,
        args=[],
        kwargs={},
        worker="w",
        retries=0,
        started_at=timezone.now(),
        links=links,
    )
    recorded.refresh_from_db()
    assert recorded.status == "running"
    assert recorded.root_id == root_id
    assert recorded.group_id == old_group
    assert str(recorded.parent_id) == links["parent_id"]


def test_start_of_an_unrecorded_node_creates_it_linked(user):
    task_id, root = uuid.uuid4(), TaskFactory(owner=user)
    links = tracking.workflow_links(task_id=task_id, root_id=root.pk, parent_id=root.pk)
    tracking.track_started(
        task_id=task_id, name="demo.quick", args=[], kwargs={}, worker="w", retries=0, links=links
    )
    assert Task.objects.get(pk=task_id).root_id == root.pk
    root.refresh_from_db()
    assert root.root_id == root.pk


def test_reconciler_leaves_a_waiting_step_while_its_workflow_runs(user):
    root_id = uuid.uuid4()
    old = timezone.now() - timedelta(hours=3)
    TaskFactory(owner=user, id=root_id, root_id=root_id, running=True, started_at=timezone.now())
    waiting = TaskFactory(owner=user, root_id=root_id, parent_id=root_id, created_at=old)
    lone = TaskFactory(owner=user, created_at=old)
    reconcile()
    assert Task.objects.get(pk=waiting.pk).status == "pending"
    assert Task.objects.get(pk=lone.pk).status == "failed"  # lost: nothing knows it
    # Its workflow ended long ago: nothing will send it any more.
    Task.objects.filter(pk=root_id).update(status="failed", finished_at=old)
    reconcile()
    assert Task.objects.get(pk=waiting.pk).status == "failed"


def test_reconciler_leaves_a_step_whose_predecessor_just_ended(user):
    # A three-hour chain: its first step ended a minute ago, the next one waits in
    # the queue; no node runs at this instant, and yet it is not lost.
    root_id = uuid.uuid4()
    old = timezone.now() - timedelta(hours=3)
    TaskFactory(
        owner=user,
        id=root_id,
        root_id=root_id,
        completed=True,
        created_at=old,
        finished_at=timezone.now() - timedelta(minutes=1),
    )
    waiting = TaskFactory(owner=user, root_id=root_id, parent_id=root_id, created_at=old)
    reconcile()
    assert Task.objects.get(pk=waiting.pk).status == "pending"
