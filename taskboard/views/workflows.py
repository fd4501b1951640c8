"""A workflow's tree on the detail page, its poll, and cancelling a whole workflow."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from taskboard import permissions, polling, selectors, services
from taskboard.conf import app_settings
from taskboard.live import badges_for
from taskboard.models import Task
from taskboard.views import HtmxHttpRequest, dashboard_view, safe_next, see_other
from taskboard.views.tasks import bad_poll
from taskboard.workflows import Tree, TreeGroup, TreeNode, build_tree

TREE_TEMPLATE = "taskboard/partials/workflow_tree.html"


def _tree(user, root_id, current_id) -> tuple[Tree, bool, int]:
    """Return the tree of ``root_id`` (one query, one result-backend round trip)."""
    rows = selectors.workflow_rows(user=user, root_id=root_id)
    badges, live = badges_for(rows)
    return build_tree(rows, badges, root_id=root_id, current_id=current_id), live, len(rows)


def _poll_ids(tree: Tree) -> str:
    """Return the poll's ``ids`` value: every node of the tree still in flight.

    In flight by its badge: a chord's callback that Celery failed for its header's
    failure never ran, so its row stays pending until the reconciler converges it,
    but the result backend already says Failed, and the tree is finished.
    """
    return polling.carried(
        polling.item(pk, polling.token(node.row.version, node.badge))
        for pk, node in tree.nodes.items()
        if not node.badge.is_terminal
    )


def _context(request: HtmxHttpRequest, tree: Tree, live: bool, current_id) -> dict:
    root = tree.nodes.get(tree.root_id)
    return {
        "tree": tree,
        "live": live,
        "current_id": str(current_id) if current_id else "",
        "root_node": root,
        "truncated": tree.size >= selectors.TREE_MAX,
        "tree_poll_ids": _poll_ids(tree),
        "poll_interval": app_settings.POLL_INTERVAL,
        # Cancelling needs the root's row in sight (a root purged or not visible:
        # cancel from a step's own page).
        "can_cancel_workflow": root is not None and permissions.can_act(request.user, root.row),
    }


def workflow_context(request: HtmxHttpRequest, task: Task) -> dict | None:
    """Return what the detail page needs to draw ``task``'s workflow, or None for a lone task.

    A lone task costs no query: every node of a workflow, its root included, has
    ``root_id`` set (taskboard/worker/tracking.py marks a root once a node names it).
    """
    if task.root_id is None:
        return None
    root_id = task.workflow_root_id
    tree, live, size = _tree(request.user, root_id, task.pk)
    if size <= 1:
        return None
    return _context(request, tree, live, task.pk)


@never_cache
@dashboard_view
@require_http_methods(["GET", "POST"])
def workflow_status(request: HtmxHttpRequest, root_id) -> HttpResponse:
    """Answer the nodes of a workflow whose state changed since the page drew them.

    The tree's one poll (taskboard/polling.py tokens): ``ids`` carries the nodes in
    flight as the page drew them, in the body of a POST (so a tree of any size stays
    under the server's request-line limit), ``size`` how many nodes it drew and
    ``current`` the page's task. One query for the nodes, one result-backend round
    trip for those in flight; reads only. A node that joined the tree redraws it whole.
    """
    params = request.POST if request.method == "POST" else request.GET
    try:
        wanted = polling.parse_ids(params.get("ids", ""), cap=app_settings.POLL_MAX_CARRIED)
    except polling.PollIdsInvalid as exc:
        return bad_poll(str(exc))
    current = _uuid_or_none(params.get("current", ""))
    if current is None and params.get("current"):
        return bad_poll("current must be the id of the page's task.")
    rows = selectors.workflow_rows(user=request.user, root_id=root_id)
    if not rows:
        raise Http404("No workflow with that root.")
    badges, live = badges_for(rows)
    changed = []
    for row in rows:
        old = wanted.get(row.pk)
        if old is None:
            continue
        # Without live state only the database's finished rows can be trusted.
        trusted = live or row.is_terminal
        if trusted and polling.token(row.version, badges[str(row.pk)]) != old:
            changed.append(str(row.pk))
    grew = params.get("size", "") != str(len(rows))
    if not grew and not changed and live:
        # The common answer, before any tree is built: htmx keeps the page as it is.
        return HttpResponse(status=204)
    tree = build_tree(rows, badges, root_id=root_id, current_id=current)
    context = _context(request, tree, live, current)
    if grew:
        # New nodes (a retry, a task that started others): the whole tree again.
        response = render(request, f"{TREE_TEMPLATE}#tree", {"wf": context})
        response["HX-Retarget"] = "#workflow-tree"
        response["HX-Reswap"] = "outerHTML"
        return response
    shown = {node.pk for group in tree.groups.values() for node in group.members}
    changed_nodes: list[TreeNode] = []
    changed_groups: dict[str, TreeGroup] = {}
    for pk in changed:
        group = tree.group_of(pk)
        if group is not None:
            # Its group's count moved too; a member the group leaves out has no line.
            changed_groups[group.group_id] = group
            if pk not in shown and not tree.nodes[pk].row.retry_of_id:
                continue
        changed_nodes.append(tree.nodes[pk])
    return render(
        request,
        f"{TREE_TEMPLATE}#response",
        {
            "wf": context,
            "changed_nodes": changed_nodes,
            "changed_groups": list(changed_groups.values()),
        },
    )


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@dashboard_view
@require_http_methods(["GET", "POST"])
def workflow_cancel(request: HtmxHttpRequest, task_id) -> HttpResponse:
    """Ask to confirm (GET), or cancel every pending and running node of the workflow (POST)."""
    task = selectors.task_get(user=request.user, task_id=task_id)
    if not permissions.can_act(request.user, task):
        raise PermissionDenied("You may not cancel this workflow.")
    back = safe_next(request, reverse("taskboard:task_detail", args=[task.pk]))
    if request.method == "GET":
        return render(
            request, "taskboard/tasks/confirm_workflow_cancel.html", {"task": task, "back": back}
        )
    try:
        cancelled, stopping = services.workflow_cancel(user=request.user, task=task)
    except services.ActionNotAllowed as exc:
        messages.info(request, str(exc))
    else:
        note = f"Cancelled {cancelled} task{'' if cancelled == 1 else 's'} before they started"
        if stopping:
            note += f"; asked {stopping} running to stop at their next progress report"
        messages.success(request, note + ".")
    if request.htmx:
        return HttpResponseClientRedirect(back)
    return see_other(back)
