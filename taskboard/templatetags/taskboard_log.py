"""Template tags of a task's log: its lines, drawn many at a time.

A fragment may carry hundreds of lines every poll: a template loop with a date
filter per line cost three times an unchanged table poll (docs/performance.md,
"Task logs"), so the lines are joined by Django's ``format_html_join``, which
escapes every value as autoescaping does. Log lines are untrusted text.
"""

from __future__ import annotations

from collections.abc import Iterable

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import get_current_timezone

from taskboard.tasklog import LogLine

register = template.Library()

LINE = (
    '<li class="log-line log-{}"><time datetime="{}">{}</time> '
    '<span class="log-level">{}</span> <span class="log-message">{}</span></li>\n'
)


@register.simple_tag
def log_lines(lines: Iterable[LogLine]) -> SafeString:
    """Return the ``<li>`` of each line: its time, its level in words and its message."""
    zone = get_current_timezone()
    return format_html_join(
        "",
        LINE,
        (
            (
                line.kind,
                line.at.isoformat(),
                line.at.astimezone(zone).time().isoformat(timespec="seconds"),
                line.level,
                line.message,
            )
            for line in lines
        ),
    )
