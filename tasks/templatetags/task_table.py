"""Template tags of the task table: a row's cells, short arguments, durations, the poll token."""

from __future__ import annotations

import html
import json
import unicodedata
from datetime import timedelta

from django import template
from django.template.defaulttags import CsrfTokenNode
from django.urls import reverse
from django.utils import dateformat, timezone, translation
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from tasks import permissions
from tasks.live import Badge
from tasks.models import FAILED, RUNNING, Task
from tasks.templatetags.roles import can_select

register = template.Library()

ARGS_MAX = 80
# The key of what the rows of one render share, in its render context.
_ROW_ENV = object()
# Reversed once per render; each row's URL puts its id in place of this one.
_ANY_ID = "00000000-0000-0000-0000-000000000000"
_ROW_URLS = ("task_detail", "task_retry", "task_cancel")
# Drawn rows of finished tasks, by everything their markup shows (see task_row);
# emptied when full (an entry is a few KB).
_DRAWN_ROWS: dict[tuple, SafeString] = {}
DRAWN_ROWS_MAX = 1000
# Where a drawn row's forms take the request's CSRF input, which is never stored.
# Escaped values cannot contain "<": no task field can spell it.
_CSRF_SLOT = SafeString("<csrf-input>")


def _html(text: str) -> SafeString:
    """Return ``text`` escaped as the template's autoescape would (Django's ``escape``)."""
    return SafeString(html.escape(text))


def _row_env(context: template.Context) -> dict:
    """Return what every row of this render shares: roles, URLs, ``next``, the CSRF input.

    Computed once per render (the render context's first level lives as long as the
    render, like the cache of ``{% include %}``), not once per row.
    """
    cache = context.render_context.dicts[0]
    env = cache.get(_ROW_ENV)
    if env is None:
        user = context.get("user")
        urls = {name: reverse(name, args=[_ANY_ID]).split(_ANY_ID) for name in _ROW_URLS}
        env = cache[_ROW_ENV] = {
            "user": user,
            # Whoever may act on all tasks may act on each: no check per row (each
            # check reads the user through its lazy wrapper, a few microseconds).
            "act_on_all": permissions.can_act_on_all(user),
            "select": can_select(user),
            "view_all": permissions.can_view_all(user),
            "urls": {name: (_html(head), _html(tail)) for name, (head, tail) in urls.items()},
            "next": _html(context.get("row_next") or "/tasks/"),
            # What {% csrf_token %} renders: the same for every form of the render.
            "csrf_input": CsrfTokenNode().render(context),
            "markup": context.template.engine.get_template("partials/task_row_markup.html"),
            "language": translation.get_language(),
            "timezone": timezone.get_current_timezone(),
            "months": {},
            # partials/badge.html per distinct badge: a page of failures shows one.
            "badges": {},
        }
    return env


def _badge_html(env: dict, badge: Badge) -> SafeString:
    markup = env["badges"].get(badge)
    if markup is None:
        badge_template = env["markup"].engine.get_template("partials/badge.html")
        markup = env["badges"][badge] = badge_template.render(template.Context({"badge": badge}))
    return markup


def _url(env: dict, name: str, pk: str) -> SafeString:
    head, tail = env["urls"][name]
    return SafeString(f"{head}{pk}{tail}")


@register.simple_tag(takes_context=True)
def task_row(context: template.Context, task: Task, badge: Badge) -> SafeString:
    """Return ``task``'s table row: partials/task_row_markup.html drawn from its values.

    The markup template is given only ``row`` and ``oob``, in a context of its own,
    so what it draws is a function of them (and of the language). A finished
    task's row is drawn once per process for each such key and then reused: a
    page of failures is 25 rows that rarely change. In-flight rows (progress,
    time left) are drawn each time. The CSRF input, different in each response,
    goes in afterwards and is never stored.
    """
    env = _row_env(context)
    row = _row_values(env, task, badge)
    oob = bool(context.get("oob"))
    key = (env["markup"], env["language"], oob, *row.items()) if row["terminal"] else None
    markup = _DRAWN_ROWS.get(key)
    if markup is None:
        markup = env["markup"].render(template.Context({"row": row, "oob": oob}))
        if key is not None:
            if len(_DRAWN_ROWS) >= DRAWN_ROWS_MAX:
                _DRAWN_ROWS.clear()
            _DRAWN_ROWS[key] = markup
    return SafeString(markup.replace(_CSRF_SLOT, env["csrf_input"]))


def _row_values(env: dict, task: Task, badge: Badge) -> dict:
    """Return everything ``task``'s row shows, escaped (a name appears three times).

    What all rows share is computed once per render (``env``): a page draws 25
    rows, and each lookup, filter, escape and URL reversal counted 25 times.
    """
    pk = SafeString(task.pk)  # a UUID: nothing to escape
    terminal = task.is_terminal
    act = env["act_on_all"] or permissions.can_act(env["user"], task)
    row = {
        "id": pk,
        "short_id": pk[:8],
        "name": _html(task.name),
        "status": SafeString(badge.status),
        "badge": _badge_html(env, badge),
        "terminal": terminal,
        "running": task.status == RUNNING,
        "poll": "" if terminal else SafeString(poll_token(task.version, badge)),
        "select": env["select"],
        "act": act,
        "view_all": env["view_all"],
        "detail_url": _url(env, "task_detail", pk),
        "action_url": _url(env, "task_retry" if terminal else "task_cancel", pk) if act else "",
        "next": env["next"],
        "csrf_input": _CSRF_SLOT,
        "args": _html(short_args(task)),
        "error": "",
        "stopping": False,
        "runtime": "",
        "eta": "",
    }
    if task.status == FAILED and task.error_message:
        message = task.error_message
        row["error"] = _html(f"{task.error_type or 'Error'}: {_truncate(message, 70)}")
        row["error_title"] = _html(f"{task.error_type}: {_truncate(message, 300)}")
    else:
        row["stopping"] = task.cancel_requested and not terminal
    if env["view_all"]:
        owner = task.owner
        row["owner"] = _html(owner.get_username()) if owner else None
    local = task.created_at
    if local is not None:
        if timezone.is_aware(local):
            local = timezone.localtime(local, env["timezone"])
        # The date filter's "c", "Y-m-d H:i:s T" and "M j, H:i:s", without its format parser.
        formatted = dateformat.DateFormat(local)
        month = env["months"].get(local.month)
        if month is None:
            month = env["months"][local.month] = formatted.M()
        clock = f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
        day = f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
        row["created_iso"] = local.isoformat()
        row["created_title"] = _html(f"{day} {clock} {formatted.T()}")
        row["created"] = _html(f"{month} {local.day}, {clock}")
    run = task.run_duration
    left = getattr(task, "eta_left", None)
    if run is not None:
        row["runtime"] = duration(run)
    elif left is not None:
        from tasks.templatetags.operators import eta  # operators imports this module

        row["eta"] = eta(left)
    return row


def _truncate(text: str, length: int) -> str:
    """Return ``text`` as the ``truncatechars`` filter would, without its per-character loop."""
    text = unicodedata.normalize("NFC", text)
    return text if len(text) <= length else Truncator(text).chars(length)


def poll_token(version: int, badge: Badge) -> str:
    """Return what a row shows, as a token that changes with its version or its live badge."""
    return f"{version}.{badge.key}"


def poll_token_version(token: str) -> str:
    """Return the version part of a ``poll_token``: when it moves, the row changed state."""
    return token.split(".", 1)[0]


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


@register.filter(name="poll_token")
def poll_token_filter(task: Task, badge: Badge) -> str:
    """Return the row's poll token (see ``poll_token``)."""
    return poll_token(task.version, badge)


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
