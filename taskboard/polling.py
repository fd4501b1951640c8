"""The poll's wire format, built and read here only (docs/architecture.md, "The poll").

A page carries its in-flight rows as ``<id>:<token>`` items joined by commas. A
row's token is ``<version>.<badge key>``: it changes when the row's stored state
moves (the version) or its live badge does (progress, a retry), so the poll answers
only the rows whose token differs from the one the page drew.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from taskboard.live import Badge

# What a token may look like: "<version>.<badge key>".
TOKEN_RE = re.compile(r"^[0-9A-Za-z.\-]{1,40}$")
# The longest an item can be ("<uuid>:<token>,", with room to spare): a value longer
# than ``cap`` of them is refused before it is parsed, so the work stays bounded.
ITEM_MAX = 100


class PollIdsInvalid(ValueError):
    """The poll's ids parameter could not be read."""


def token(version: int, badge: Badge, workflow: str = "") -> str:
    """Return what a row shows, as a token that changes with its version or its live badge.

    A workflow root's row also shows its workflow's counts: ``workflow`` is their key
    (WorkflowSummary.key), so the row is redrawn when a step moves, the root ended or not.
    """
    return f"{version}.{badge.key}" + (f".{workflow}" if workflow else "")


def token_version(value: str) -> str:
    """Return the version part of a token: when it moves, the row changed state."""
    return value.split(".", 1)[0]


def item(task_id, value: str) -> str:
    """Return one carried row, ``<id>:<token>``."""
    return f"{task_id}:{value}"


def carried(items: Iterable[str]) -> str:
    """Return the poll's ``ids`` value for rows already written as ``item``s."""
    return ",".join(items)


def parse_ids(raw: str, *, cap: int) -> dict[uuid.UUID, str]:
    """Return the polled ids with the token the page shows for each; raise PollIdsInvalid."""
    if len(raw) > cap * ITEM_MAX:
        raise PollIdsInvalid(f"Too many ids: at most {cap} allowed.")
    wanted: dict[uuid.UUID, str] = {}
    for entry in filter(None, raw.split(",")):
        task_id, sep, value = entry.partition(":")
        if not sep or not TOKEN_RE.match(value):
            raise PollIdsInvalid(f"Malformed poll id {entry[:60]!r}: expected <uuid>:<token>.")
        try:
            wanted[uuid.UUID(task_id)] = value
        except ValueError:
            raise PollIdsInvalid(f"Malformed task id {task_id[:60]!r}.") from None
    if len(wanted) > cap:
        raise PollIdsInvalid(f"Too many ids: {len(wanted)} polled, at most {cap} allowed.")
    return wanted
