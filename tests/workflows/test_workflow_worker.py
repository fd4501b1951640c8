"""Workflows on a real worker: a chain, a group and a chord launched through task_launch.

Every node's row is recorded before any step runs and carries its root, parent and
group; the worker moves each to its end; the detail page's tree shows them all.
"""

from __future__ import annotations

import pytest
from celery import chord, group

from taskboard import services
from taskboard.models import Task
from tasks.tasks import merge_pages, quick
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def nodes_of(root) -> list[Task]:
    return list(Task.objects.filter(root_id=root.pk).order_by("created_at", "id"))


def all_finished(root, count: int, timeout: float = 60) -> list[Task]:
    """Wait until ``count`` nodes of ``root``'s workflow are terminal; return them in order."""

    def check():
        rows = nodes_of(root)
        return rows if len(rows) == count and all(r.is_terminal for r in rows) else None

    return wait_for(check, timeout=timeout, message=f"workflow {root.pk} to finish")


def test_chain_links_each_step_to_the_one_before(celery_worker, user, test_workflows):
    root = services.task_launch(user=user, name="test.chain", params={})
    recorded = nodes_of(root)
    # The whole chain is on the dashboard before a step runs: three pending rows.
    assert [r.name for r in recorded] == ["demo.quick"] * 3
    rows = all_finished(root, 3)
    assert [r.status for r in rows] == ["completed"] * 3
    assert [r.result for r in rows] == [3, 6, 10]
    assert rows[0].pk == root.pk
    assert {r.root_id for r in rows} == {root.pk}
    assert [r.parent_id for r in rows] == [None, rows[0].pk, rows[1].pk]
    assert {r.group_id for r in rows} == {None}


def test_group_members_share_the_group_and_the_root(celery_worker, user, test_workflows):
    root = services.task_launch(user=user, name="test.group", params={})
    rows = all_finished(root, 3)
    assert sorted(r.result for r in rows) == [0, 2, 4]
    assert {r.root_id for r in rows} == {root.pk}
    assert len({r.group_id for r in rows}) == 1
    assert rows[0].group_id is not None
    assert {r.parent_id for r in rows} == {None}


def test_chord_callback_follows_its_header(celery_worker, user):
    root = services.task_launch(
        user=user, name="demo.pages", params={"pages": 3, "seconds": 0, "fail_page": 0}
    )
    rows = all_finished(root, 4)
    header, callback = rows[:3], rows[3]
    assert [r.name for r in header] == ["demo.fetch_page"] * 3
    assert callback.name == "demo.merge_pages"
    assert callback.status == "completed"
    assert callback.result == {"pages": 3, "words": 306}
    assert len({r.group_id for r in header}) == 1
    assert {r.chord_id for r in header} == {callback.pk}
    assert {r.root_id for r in rows} == {root.pk}


def test_chord_sent_from_code_is_linked_by_its_headers(celery_worker, user):
    # Not through task_launch: the publish handler and the worker record the links.
    result = chord(group(quick.s(i, 1) for i in range(2)), merge_pages.si([])).apply_async()

    def callback_row():
        row = Task.objects.filter(pk=result.id).first()
        return row if row and row.is_terminal else None

    callback = wait_for(callback_row, timeout=60, message="the chord's callback")
    members = list(Task.objects.filter(chord_id=callback.pk))
    assert len(members) == 2
    assert len({m.group_id for m in members}) == 1
    assert all(m.status == "completed" for m in members)


def test_failed_step_fails_the_chord_and_its_retry_joins_the_tree(celery_worker, user, alice):
    root = services.task_launch(
        user=user, name="demo.pages", params={"pages": 2, "seconds": 0, "fail_page": 2}
    )

    def failed_step():
        return Task.objects.filter(root_id=root.pk, status="failed", name="demo.fetch_page").first()

    failed = wait_for(failed_step, timeout=60, message="the failing page")
    retry = services.task_retry(user=user, task=failed)
    assert retry.root_id == root.pk
    assert retry.group_id == failed.group_id
    assert retry.retry_of_id == failed.pk
    body = alice.get(f"/tasks/{root.pk}/").content.decode()
    assert f'id="wf-node-{retry.pk}"' in body


def test_detail_tree_shows_every_node_until_the_end(celery_worker, user, alice):
    root = services.task_launch(
        user=user, name="demo.pages", params={"pages": 3, "seconds": 0, "fail_page": 0}
    )
    rows = all_finished(root, 4)
    body = alice.get(f"/tasks/{rows[3].pk}/").content.decode()
    for row in rows:
        assert f'id="wf-node-{row.pk}" class="wf-node status-completed' in body
    assert "3 of 3 done" in body
    # Finished: the tree's poll element has nothing to ask.
    assert '<div id="tree-poll"></div>' in body


def test_chain_sent_from_code_marks_its_root_and_shows_a_tree(celery_worker, user, alice):
    result = (quick.s(1, 1) | quick.s(1)).apply_async()
    last = wait_for(
        lambda: Task.objects.filter(pk=result.id, status="completed").first(),
        timeout=60,
        message="the chain's last step",
    )
    root = Task.objects.get(pk=last.root_id)
    assert root.root_id == root.pk
    assert last.parent_id == root.pk
    Task.objects.filter(pk__in=[root.pk, last.pk]).update(owner=user)
    body = alice.get(f"/tasks/{root.pk}/").content.decode()
    assert f'id="wf-node-{last.pk}"' in body
