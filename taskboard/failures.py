"""Failure groups: failed tasks grouped by name, error type and a normalised message.

The normalised message masks what changes from one run to the next (numbers, ids,
quoted values, paths, addresses, times) so that "Timeout after 30s on 'db1'" and
"Timeout after 45s on 'db2'" read as one problem. Masking with regular expressions
cannot be done in portable SQL, so the grouping runs in Python over a bounded window
of the latest failures, read in one query of the few columns it needs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models.functions import Right
from django.utils import timezone

from taskboard.models import FAILED
from taskboard.selectors import visible_tasks

# How far back the page looks, and how many failures at most it groups.
WINDOW_DAYS = (1, 7, 30)
DEFAULT_DAYS = 7
WINDOW_ROWS = 5000
# Only the head of a message is normalised: the work stays bounded, and two messages
# that agree on their first 500 characters are the same problem.
MESSAGE_HEAD = 500
TRACEBACK_TAIL = 4000
MAX_GROUPS = 200

# Order matters: the wider patterns go first, so that a UUID inside a quoted value
# or a path is masked once, as the wider thing.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Quoted values; an apostrophe inside a word ("can't") does not open a quote.
    (re.compile(r"(?<!\w)'[^'\n]*'(?!\w)"), "<str>"),
    (re.compile(r'"[^"\n]*"'), "<str>"),
    (re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s'\"<>]+", re.IGNORECASE), "<url>"),
    # Absolute POSIX paths of at least two segments, and Windows drive paths.
    (re.compile(r"(?<![\w/.])/(?:[\w.\-~]+/)+[\w.\-~]*"), "<path>"),
    (re.compile(r"\b[A-Za-z]:\\(?:[^\\\s]+\\)*[^\\\s]*"), "<path>"),
    (
        re.compile(
            r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b",
            re.IGNORECASE,
        ),
        "<id>",
    ),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}"
            r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
        ),
        "<time>",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b"), "<time>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.IGNORECASE), "<hex>"),
    # Long hex runs with at least one digit: hashes, object and trace ids.
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{12,}\b", re.IGNORECASE), "<id>"),
    # Numbers, unless glued to a preceding letter ("utf8", "S3" keep their digit).
    (re.compile(r"(?<![A-Za-z_\d])(?:(?<=\s)[-+]|^[-+])?\d+(?:[.,]\d+)*"), "<n>"),
)
_SPACES = re.compile(r"\s+")


def normalise_message(message: str | None) -> str:
    """Return ``message`` with its variable parts masked, for grouping similar failures."""
    if not message:
        return ""
    text = _SPACES.sub(" ", message[:MESSAGE_HEAD]).strip()
    for pattern, mask in _PATTERNS:
        text = pattern.sub(mask, text)
    return text


def search_hint(normalised: str) -> str:
    """Return the longest literal run of a normalised message, to search the table with."""
    chunks = (part.strip(" :;,.-()[]{}=") for part in re.split(r"<[a-z]+>", normalised))
    return max(chunks, key=len, default="")


@dataclass
class FailureGroup:
    """Failures that share a task name, an error type and a normalised message."""

    name: str
    error_type: str
    message: str
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    latest_id: object = None
    latest_message: str = ""
    ids: list = field(default_factory=list)
    traceback: str = ""

    @property
    def key(self) -> str:
        """Return a short stable id of the group, for URLs and element ids."""
        raw = "\x1f".join((self.name, self.error_type, self.message))
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    @property
    def search(self) -> str:
        """Return the search text that finds this group's rows in the table."""
        return search_hint(self.message)


@dataclass
class FailureReport:
    """The groups of one window, and whether the window held every failure."""

    groups: list[FailureGroup]
    days: int
    scanned: int
    limit: int

    @property
    def truncated(self) -> bool:
        return self.scanned >= self.limit

    @property
    def total(self) -> int:
        return sum(group.count for group in self.groups)


def failure_groups(
    *, user, days: int = DEFAULT_DAYS, limit: int = WINDOW_ROWS, tracebacks: bool = True
) -> FailureReport:
    """Return the failed tasks ``user`` may see in the last ``days``, grouped, biggest first.

    Reads the latest ``limit`` failures (one query, few columns, an index range on
    status and created_at), and the tail of each group's latest traceback (one more).
    """
    since = timezone.now() - timedelta(days=days)
    rows = (
        visible_tasks(user)
        .filter(status=FAILED, created_at__gte=since)
        .order_by("-created_at", "-id")
        .values_list("id", "name", "error_type", "error_message", "created_at", "finished_at")[
            :limit
        ]
    )
    groups: dict[tuple[str, str, str], FailureGroup] = {}
    scanned = 0
    for task_id, name, error_type, message, created_at, finished_at in rows:
        scanned += 1
        seen = finished_at or created_at
        key = (name, error_type, normalise_message(message))
        group = groups.get(key)
        if group is None:
            # Rows come newest first: the first one of a group is its latest.
            group = groups[key] = FailureGroup(
                name=name,
                error_type=error_type,
                message=key[2],
                last_seen=seen,
                latest_id=task_id,
                latest_message=message,
            )
        group.count += 1
        group.ids.append(task_id)
        group.first_seen = seen if group.first_seen is None else min(group.first_seen, seen)
        group.last_seen = max(group.last_seen, seen)
    ordered = sorted(groups.values(), key=lambda g: (-g.count, -g.last_seen.timestamp()))
    ordered = ordered[:MAX_GROUPS]
    if tracebacks and ordered:
        tails = dict(
            visible_tasks(user)
            .filter(pk__in=[g.latest_id for g in ordered])
            .order_by()
            .values_list("id", Right("traceback", TRACEBACK_TAIL))
        )
        for group in ordered:
            group.traceback = tails.get(group.latest_id) or ""
    return FailureReport(groups=ordered, days=days, scanned=scanned, limit=limit)


def find_group(*, user, key: str, days: int) -> FailureGroup | None:
    """Return the group with this ``key`` in the window, or None."""
    report = failure_groups(user=user, days=days, tracebacks=False)
    return next((g for g in report.groups if g.key == key), None)


def describe(group: FailureGroup, days: int) -> str:
    """Return what a group's bulk action was selected from, for its page and audit entries."""
    window = "day" if days == 1 else f"{days} days"
    message = group.message[:200] or "(no message)"
    return (
        f"the failure group {group.name} {group.error_type or 'Error'}: "
        f"“{message}” of the last {window}"
    )


def parse_days(raw: str | None) -> int:
    """Return the window in days from a query parameter; unknown values give the default."""
    try:
        days = int(raw or DEFAULT_DAYS)
    except (TypeError, ValueError):
        return DEFAULT_DAYS
    return days if days in WINDOW_DAYS else DEFAULT_DAYS
