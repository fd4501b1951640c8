"""The tree builder and the canvas walk (taskboard/workflows.py): pure, no services."""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import SimpleNamespace

from celery import chain, chord, group

from taskboard.live import Badge
from taskboard.status import Status
from taskboard.workflows import build_tree, canvas_nodes, freeze_workflow
from tasks.tasks import quick


def row(name="demo.quick", status=Status.COMPLETED, **links):
    fields = {
        "pk": uuid.uuid4(),
        "name": name,
        "status": status,
        "version": 2,
        "run": timedelta(seconds=3) if status in (Status.COMPLETED, Status.FAILED) else None,
        "parent_id": None,
        "group_id": None,
        "chord_id": None,
        "retry_of_id": None,
    }
    fields.update(links)
    return SimpleNamespace(**fields)


def tree_of(rows, **options):
    badges = {str(r.pk): Badge(r.status) for r in rows}
    return build_tree(rows, badges, root_id=rows[0].pk, **options)


def test_chain_is_drawn_flat_in_order():
    a = row()
    b = row(parent_id=a.pk)
    c = row(parent_id=b.pk)
    tree = tree_of([a, b, c])
    assert [item.pk for item in tree.items] == [str(a.pk), str(b.pk), str(c.pk)]
    assert all(item.children == [] for item in tree.items)


def test_long_chain_of_a_thousand_steps_stays_flat():
    rows = [row()]
    for _ in range(999):
        rows.append(row(parent_id=rows[-1].pk))
    tree = tree_of(rows)
    assert len(tree.items) == 1000
    assert tree.size == 1000


def test_group_counts_say_how_far_it_got():
    gid = uuid.uuid4()
    statuses = [Status.COMPLETED] * 7 + [Status.FAILED] + [Status.PENDING] * 2
    rows = [row(status=s, group_id=gid) for s in statuses]
    (group_item,) = tree_of(rows).items
    assert group_item.kind == "group"
    assert group_item.total == 10
    assert group_item.summary == "7 of 10 done, 1 failed"


def test_chord_callback_follows_its_group():
    gid, callback = uuid.uuid4(), row()
    members = [row(group_id=gid, chord_id=callback.pk) for _ in range(3)]
    tree = tree_of([*members, callback])
    assert [item.kind for item in tree.items] == ["group", "node"]
    assert tree.items[1].pk == str(callback.pk)


def test_large_group_collapses_keeping_failures_and_the_current_task():
    gid = uuid.uuid4()
    rows = [row(group_id=gid) for _ in range(400)]
    rows[350].status = Status.FAILED
    current = rows[399]
    (group_item,) = tree_of(rows, current_id=current.pk, group_shown=20).items
    shown = [node.pk for node in group_item.members]
    assert len(shown) == 20
    assert group_item.hidden == 380
    assert str(rows[350].pk) in shown
    assert str(current.pk) in shown


def test_retry_sits_beside_the_run_it_retried_and_counts_for_the_group():
    gid = uuid.uuid4()
    failed = row(status=Status.FAILED, group_id=gid)
    ok = row(group_id=gid)
    retry = row(group_id=gid, retry_of_id=failed.pk)
    (group_item,) = tree_of([failed, ok, retry]).items
    assert group_item.total == 2
    assert group_item.summary == "2 of 2 done"
    assert [r.pk for r in group_item.members[0].retries] == [str(retry.pk)]


def test_retry_of_a_retry_sits_beside_the_first_run():
    failed = row(status=Status.FAILED)
    again = row(status=Status.FAILED, retry_of_id=failed.pk)
    ok = row(retry_of_id=again.pk)
    (item,) = tree_of([failed, again, ok]).items
    assert [r.pk for r in item.retries] == [str(again.pk), str(ok.pk)]
    assert item.outcome.status == Status.COMPLETED


def test_task_starting_several_nests_them_and_orphans_start_at_the_top():
    parent = row()
    kids = [row(parent_id=parent.pk) for _ in range(2)]
    orphan = row(parent_id=uuid.uuid4())
    tree = tree_of([parent, *kids, orphan])
    assert [item.pk for item in tree.items] == [str(parent.pk), str(orphan.pk)]
    assert [child.pk for child in tree.items[0].children] == [str(k.pk) for k in kids]


def test_tree_is_finished_only_when_no_node_is_in_flight():
    a = row()
    assert tree_of([a, row(parent_id=a.pk)]).finished
    assert not tree_of([a, row(parent_id=a.pk, status=Status.RUNNING)]).finished


def test_canvas_nodes_of_a_chord_link_header_and_callback():
    sig = chord(group(quick.s(1, 1), quick.s(2, 2)), quick.s(5))
    root_id = freeze_workflow(sig)
    header_a, header_b, callback = canvas_nodes(sig)
    assert header_a.task_id == root_id
    assert header_a.group_id == header_b.group_id is not None
    assert header_a.chord_id == header_b.chord_id == callback.task_id
    assert callback.group_id is None


def test_canvas_nodes_of_a_chain_link_each_step_to_the_previous():
    sig = chain(quick.s(1, 2), quick.s(3), quick.s(4))
    root_id = freeze_workflow(sig)
    a, b, c = canvas_nodes(sig)
    assert a.task_id == root_id
    assert (a.parent_id, b.parent_id, c.parent_id) == (None, a.task_id, b.task_id)
    assert c.args == [4]
