"""Template tags of the task table: short arguments, durations and times left, the poll token.

A row itself is the ordinary template partials/task_row.html.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django import template

from taskboard import polling
from taskboard.live import Badge
from taskboard.models import Task

register = template.Library()

ARGS_MAX = 80


@register.simple_tag
def poll_vals(ids: str, live: bool) -> str:
    """Return the poll element's hx-vals: its ids (and whether live state was down) as JSON.

    They go in the body of the poll's request, not its URL: see docs/architecture.md.
    Autoescaped where it is used, like any attribute value.
    """
    values = {"ids": ids}
    if not live:
        values["down"] = "1"
    return json.dumps(values, separators=(",", ":"))


@register.simple_tag
def tree_poll_vals(wf: dict) -> str:
    """Return a tree poll's hx-vals: its nodes in flight, how many it drew, its page's task.

    In the body of the poll's request, like the table's (see poll_vals).
    """
    values = {"ids": wf["tree_poll_ids"], "size": str(wf["tree"].size), "current": wf["current_id"]}
    return json.dumps(values, separators=(",", ":"))


@register.filter
def poll_item(task: Task, badge: Badge) -> str:
    """Return the row's ``data-poll`` value, ``<id>:<token>`` (taskboard/polling.py)."""
    workflow = getattr(task, "workflow", None)
    key = workflow.key if workflow else ""
    return polling.item(task.pk, polling.token(task.version, badge, key))


@register.filter
def short_args(task: Task) -> str:
    """Return the task's arguments as one short line: ``1, 2, x=2, y=3``."""
    parts = [_short(value) for value in task.args or []] if isinstance(task.args, list) else []
    if isinstance(task.kwargs, dict):
        parts += [f"{key}={_short(value)}" for key, value in task.kwargs.items()]
    text = ", ".join(parts)
    return text if len(text) <= ARGS_MAX else text[: ARGS_MAX - 1] + "…"


def _short(value) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) <= 30 else repr(value[:29] + "…")
    if isinstance(value, (dict, list)):
        return "{…}" if isinstance(value, dict) else "[…]"
    return str(value)


@register.filter
def duration(value: timedelta | None) -> str:
    """Return a duration as a short reading: 850 ms, 12.3 s, 4 min 05 s, 2 h 03 min."""
    if value is None:
        return ""
    seconds = max(value.total_seconds(), 0)
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def eta(left: timedelta | None) -> str:
    """Return the expected time left briefly: about 20 s left, about 3 min left, almost done.

    Under a second reads "almost done", never "0 s" (see taskboard/eta.py).
    """
    if left is None:
        return ""
    seconds = left.total_seconds()
    if seconds < 1:
        return "almost done"
    if seconds < 60:
        return f"about {round(seconds)} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {round(seconds / 3600)} h left"


@register.filter
def in_set(value: str, values) -> bool:
    """Return whether ``value`` is one of ``values`` (absent from the context: no)."""
    return bool(values) and value in values
