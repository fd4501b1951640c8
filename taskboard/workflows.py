"""Workflows (Celery canvas): the nodes of a frozen canvas, and the tree the pages draw.

Both are pure: no query, no result-backend read. A workflow's rows are linked by
Celery's own ids (``Task.root_id``, ``parent_id``, ``group_id`` and, on a chord's
header members, ``chord_id``, the callback's id); see docs/architecture.md, "Workflows".
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from taskboard.live import Badge
from taskboard.status import IN_FLIGHT, UNKNOWN, Status

# A group with more members than this shows the most telling ones (the current
# task, failures, running ones) and says how many it leaves out.
GROUP_SHOWN = 20


# --- the nodes of a canvas ------------------------------------------------------


@dataclass(frozen=True)
class CanvasNode:
    """One task of a frozen canvas, with its place in the workflow."""

    task_id: str
    name: str
    args: list
    kwargs: dict
    queue: str
    parent_id: str | None
    group_id: str | None
    chord_id: str | None = None


def is_canvas(value: Any) -> bool:
    """Return whether ``value`` is a Celery signature (a task, chain, group or chord)."""
    return isinstance(value, dict) and "subtask_type" in value and hasattr(value, "freeze")


def _kind(sig) -> str | None:
    # The signature's own dict key: "chain", "group", "chord", or None for one task.
    return sig.get("subtask_type") if isinstance(sig, dict) else None


def _members(sig) -> list:
    """Return what ``sig`` is made of: a chain's steps, a group's members, a chord's header."""
    tasks = sig.tasks
    if _kind(tasks) == "group":  # a chord's header, once frozen
        tasks = tasks.tasks
    return list(tasks)


def first_task(sig):
    """Return the first task ``sig`` sends: a chain's first step, a group's first member."""
    while _kind(sig) in ("chain", "group", "chord"):
        sig = _members(sig)[0]
    return sig


def freeze_workflow(sig) -> str:
    """Fix every task id of ``sig`` up front and make its first task the root; return the root id.

    Celery gives the members of a group sent from outside a task no common root
    (each is its own): the first task's id, handed to every node, links them all.
    """
    root_id = str(uuid.uuid4())
    first_task(sig).set(task_id=root_id)
    sig.freeze(root_id=root_id)
    return root_id


def canvas_nodes(sig) -> list[CanvasNode]:
    """Return every task of the frozen canvas ``sig``, in the order Celery sends them."""
    nodes: list[CanvasNode] = []
    _walk(sig, parent=None, group=None, nodes=nodes)
    return nodes


def _walk(sig, *, parent: str | None, group: str | None, nodes: list[CanvasNode]) -> list[int]:
    """Append the nodes of ``sig``; return the indexes of its last tasks (what follows them)."""
    kind = _kind(sig)
    if kind == "chain":
        tails: list[int] = []
        for step in _members(sig):
            if len(tails) > 1:
                # After a group, a step is the group's callback (a chord): it hangs
                # under the whole group, not under one member.
                start = len(nodes)
                new_tails = _walk(step, parent=None, group=None, nodes=nodes)
                _link_callback(nodes, tails, nodes[start].task_id)
            elif tails:
                new_tails = _walk(step, parent=nodes[tails[0]].task_id, group=None, nodes=nodes)
            else:
                new_tails = _walk(step, parent=parent, group=group, nodes=nodes)
            tails = new_tails
        return tails
    if kind in ("group", "chord"):
        header = sig.tasks if kind == "chord" else sig
        group_id = header.options.get("task_id") if _kind(header) == "group" else None
        tails = []
        for member in _members(sig):
            tails += _walk(member, parent=parent, group=group_id, nodes=nodes)
        if kind == "group":
            return tails
        start = len(nodes)
        body = _walk(sig.body, parent=None, group=None, nodes=nodes)
        _link_callback(nodes, tails, nodes[start].task_id)
        return body
    options = sig.options
    nodes.append(
        CanvasNode(
            task_id=str(options["task_id"]),
            name=sig.task,
            args=list(sig.args or ()),
            kwargs=dict(sig.kwargs or {}),
            queue=str(options.get("queue") or ""),
            parent_id=parent,
            group_id=str(group) if group else None,
        )
    )
    return [len(nodes) - 1]


def _link_callback(nodes: list[CanvasNode], members: list[int], callback_id: str) -> None:
    """Mark the group ``members`` as the header of the chord whose callback is ``callback_id``."""
    for index in members:
        nodes[index] = replace(nodes[index], chord_id=callback_id)


# --- the tree a page draws --------------------------------------------------------


@dataclass
class TreeNode:
    """One task of the tree: its row, badge, and what it started (``children``)."""

    kind = "node"
    row: Any
    badge: Badge
    current: bool = False
    # Runs that retried this one (newest last), drawn beside it.
    retries: list[TreeNode] = field(default_factory=list)
    # What this task started when it started more than one thing; a single follower
    # (the next step of a chain) is drawn after it instead, at the same depth.
    children: list[TreeNode | TreeGroup] = field(default_factory=list)

    @property
    def pk(self) -> str:
        return str(self.row.pk)

    @property
    def duration(self) -> timedelta | None:
        """Return how long the task ran, once it has finished."""
        return self.row.run

    @property
    def outcome(self) -> Badge:
        """Return the badge that counts for the workflow: the newest retry's, if any."""
        return self.retries[-1].badge if self.retries else self.badge


@dataclass
class TreeGroup:
    """A group's members side by side, with how far the group has got."""

    kind = "group"
    group_id: str
    members: list[TreeNode]
    total: int
    counts: dict[str, int]

    @property
    def hidden(self) -> int:
        return self.total - len(self.members)

    @property
    def done(self) -> int:
        return self.counts.get(Status.COMPLETED, 0)

    @property
    def failed(self) -> int:
        return self.counts.get(Status.FAILED, 0)

    @property
    def summary(self) -> str:
        """Return "7 of 10 done, 1 failed"."""
        return summary(self.total, self.counts)


def summary(total: int, counts: Mapping[str, int]) -> str:
    """Return how far ``total`` tasks with these status ``counts`` got: "7 of 10 done, 1 failed"."""
    parts = [f"{counts.get(Status.COMPLETED, 0)} of {total} done"]
    for status in (Status.FAILED, Status.CANCELLED, Status.RUNNING):
        if counts.get(status):
            parts.append(f"{counts[status]} {Status.label_of(status).lower()}")
    return ", ".join(parts)


@dataclass
class Tree:
    """A workflow's tree from its root, ready to draw."""

    root_id: str
    items: list[TreeNode | TreeGroup]
    size: int
    counts: dict[str, int]
    nodes: dict[str, TreeNode] = field(default_factory=dict)
    groups: dict[str, TreeGroup] = field(default_factory=dict)

    def group_of(self, pk: str) -> TreeGroup | None:
        """Return the group ``pk`` is a member of, or None."""
        row = self.nodes[pk].row
        return self.groups.get(str(row.group_id)) if row.group_id else None

    @property
    def summary(self) -> str:
        """Return "12 of 20 done, 1 failed" for the whole workflow."""
        return summary(self.size, self.counts)

    @property
    def finished(self) -> bool:
        """Return whether no node is in flight any more (by its badge, as the poll reads it)."""
        return not any(self.counts.get(status) for status in (*IN_FLIGHT, UNKNOWN))


@dataclass(frozen=True)
class WorkflowSummary:
    """A workflow's overall state and counts, as its root's row in the table shows them."""

    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def status(self) -> str:
        """Return the workflow's state: in flight while a node is, else failed, cancelled, done."""
        for status in (Status.RUNNING, Status.PENDING, Status.FAILED, Status.CANCELLED):
            if self.counts.get(status):
                return status
        return Status.COMPLETED

    @property
    def label(self) -> str:
        return Status.label_of(self.status)

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    @property
    def key(self) -> str:
        """Return a short fingerprint of the counts, for the poll's token (taskboard/polling.py)."""
        counts = ",".join(f"{status}={count}" for status, count in sorted(self.counts.items()))
        return "w" + hashlib.blake2s(counts.encode(), digest_size=4).hexdigest()

    @property
    def summary(self) -> str:
        """Return "3 of 5 done, 1 failed"."""
        return summary(self.total, self.counts)


def tree_counts(badges: Iterable[Badge]) -> dict[str, int]:
    """Return how many of ``badges`` are in each status."""
    counts: dict[str, int] = {}
    for badge in badges:
        counts[badge.status] = counts.get(badge.status, 0) + 1
    return counts


def build_tree(
    rows: list,
    badges: Mapping[str, Badge],
    *,
    root_id,
    current_id=None,
    group_shown: int = GROUP_SHOWN,
) -> Tree:
    """Return the tree of ``rows`` (one workflow's, oldest first) with their ``badges``.

    A row whose parent is not among ``rows`` (not tracked, purged, not visible)
    starts at the top. A group's members sit side by side; a chord's callback
    follows its header group; a retry sits beside the run it retried.
    """
    by_id = {str(row.pk): row for row in rows}
    current = str(current_id) if current_id else None
    nodes = {pk: TreeNode(row, badges[pk], current=pk == current) for pk, row in by_id.items()}
    # A chord's callback, by the group whose members name it.
    callback_of: dict[str, str] = {}
    for row in rows:
        chord = str(row.chord_id) if row.chord_id else None
        if chord and row.group_id and chord in by_id:
            callback_of.setdefault(str(row.group_id), chord)
    callbacks = set(callback_of.values())
    retries: set[str] = set()
    for row in rows:
        retried = str(row.retry_of_id) if row.retry_of_id else None
        if retried in nodes and str(row.pk) not in callbacks:
            # A retry of a retry sits beside the first run too, newest last.
            while by_id[retried].retry_of_id and str(by_id[retried].retry_of_id) in nodes:
                retried = str(by_id[retried].retry_of_id)
            nodes[retried].retries.append(nodes[str(row.pk)])
            retries.add(str(row.pk))
    # What each task started, in order ("" for the top of the tree).
    started: dict[str, list[str]] = {}
    for row in rows:
        pk = str(row.pk)
        if pk in callbacks or pk in retries:
            continue
        parent = str(row.parent_id) if row.parent_id else ""
        started.setdefault(parent if parent in by_id and parent != pk else "", []).append(pk)
    groups: dict[str, TreeGroup] = {}
    items = _sequence(
        started.get("", []), started, nodes, callback_of, by_id, group_shown, set(), groups
    )
    counts = tree_counts(node.badge for node in nodes.values())
    return Tree(
        root_id=str(root_id), items=items, size=len(rows), counts=counts, nodes=nodes, groups=groups
    )


def _sequence(pks, started, nodes, callback_of, by_id, group_shown, seen, groups) -> list:
    """Return the items of the tasks ``pks`` (siblings), each followed by what follows it.

    A chain is drawn flat, one step after the other, however long it is: only a task
    that started several things nests them under itself.
    """
    items: list = []
    queue = list(pks)
    while queue:
        batch = _items(queue, nodes, by_id, group_shown, seen)
        queue = []
        for item in batch:
            if isinstance(item, _Group):
                items.append(item.tree_group)
                groups[item.group_id] = item.tree_group
                for member in item.members_all:
                    # What a member started (the rest of a chain inside the group).
                    own = [pk for pk in started.get(member.pk, []) if pk not in seen]
                    if own:
                        member.children = _sequence(
                            own, started, nodes, callback_of, by_id, group_shown, seen, groups
                        )
                callback = callback_of.get(item.group_id)
                if callback and callback not in seen:
                    queue.append(callback)
                continue
            items.append(item)
            followers = [pk for pk in started.get(item.pk, []) if pk not in seen]
            if len(followers) > 1:
                item.children = _sequence(
                    followers, started, nodes, callback_of, by_id, group_shown, seen, groups
                )
            else:
                queue += followers
    return items


@dataclass
class _Group:
    """A group being laid out: all its members, and the group as drawn."""

    group_id: str
    members_all: list[TreeNode]
    tree_group: TreeGroup


def _items(pks, nodes, by_id, group_shown, seen) -> list:
    """Return ``pks`` as items: lone tasks, and groups (members of one group id together)."""
    items: list = []
    groups: dict[str, _Group] = {}
    for pk in pks:
        if pk in seen:
            continue
        seen.add(pk)
        node = nodes[pk]
        group_id = str(by_id[pk].group_id) if by_id[pk].group_id else None
        if group_id is None:
            items.append(node)
            continue
        if group_id not in groups:
            groups[group_id] = _Group(group_id, [], TreeGroup(group_id, [], 0, {}))
            items.append(groups[group_id])
        groups[group_id].members_all.append(node)
    for group in groups.values():
        members = group.members_all
        group.tree_group.total = len(members)
        group.tree_group.counts = tree_counts(member.outcome for member in members)
        group.tree_group.members = _shown(members, group_shown)
    return items


# Which members a collapsed group keeps: the page's own task, then failures, then
# what is running, then the others in order.
_PRIORITY = {Status.FAILED: 1, Status.RUNNING: 2}


def _shown(members: list[TreeNode], limit: int) -> list[TreeNode]:
    """Return at most ``limit`` of ``members``, the most telling ones, in their order."""
    if len(members) <= limit:
        return members
    ranked = sorted(
        range(len(members)),
        key=lambda i: (
            0 if members[i].current else _PRIORITY.get(members[i].outcome.status, 3),
            i,
        ),
    )
    keep = sorted(ranked[:limit])
    return [members[i] for i in keep]
