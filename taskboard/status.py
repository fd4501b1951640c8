"""The one status vocabulary: each state's value, label and rank, in lifecycle order.

The model's choices, the badges, the table's status sort, the status tabs and their
``1``–``7`` keys (and so the keyboard script, which reads the rendered tabs) are all
drawn from ``Status``; nothing else lists the states. This module imports no model, so
taskboard/models.py and taskboard/keymap.py can both import it.
"""

from __future__ import annotations

from django.db import models

# How far along its life a task is; a weaker signal never overrides a stronger one.
# DUE is a launch held back until its time (docs/architecture.md, "Launch later"): no
# message exists yet, so nothing the result backend says can be about it.
DUE, WAITING, STARTED, FINISHED = 0, 1, 2, 3


class Status(models.TextChoices):
    """A stored task state: ``value, rank, label``, in the order the tabs list them."""

    # The order and labels are also the migration's choices: changing them is a migration.
    SCHEDULED = "scheduled", DUE, "Scheduled"
    PENDING = "pending", WAITING, "Pending"
    RUNNING = "running", STARTED, "Running"
    COMPLETED = "completed", FINISHED, "Completed"
    FAILED = "failed", FINISHED, "Failed"
    CANCELLED = "cancelled", FINISHED, "Cancelled"

    def __new__(cls, value: str, rank: int):
        # The rank rides in the member's definition, so a state is written once; the
        # value alone is what is stored and compared.
        member = str.__new__(cls, value)
        member._value_ = value
        member.rank = rank
        return member

    @property
    def is_terminal(self) -> bool:
        return self.rank == FINISHED

    @classmethod
    def label_of(cls, value: str | None) -> str:
        """Return the label of ``value``, Unknown for anything that is not a state."""
        # Status(value) is a dictionary lookup; ``value in cls.values`` built a list per call.
        try:
            return cls(value).label
        except ValueError:
            return UNKNOWN_LABEL

    @classmethod
    def rank_of(cls, value: str | None) -> int:
        """Return the rank of ``value``, below every state for anything that is not one."""
        try:
            return cls(value).rank
        except ValueError:
            return UNKNOWN_RANK

    @classmethod
    def tabs(cls) -> tuple[tuple[str, str, str], ...]:
        """Return the status tabs as ``(key, value, label)``: All first, then each state."""
        return tuple(
            (str(key), value, label)
            for key, (value, label) in enumerate((ALL_TAB, *cls.choices), start=1)
        )


# "unknown" is what a badge shows when neither the row nor the result backend knows
# the state. It is not a member: no row is ever stored in it, and as a member it would
# become a model choice (a migration), a filter option and a tab.
UNKNOWN = "unknown"
UNKNOWN_LABEL = "Unknown"
UNKNOWN_RANK = -1

# The tab that filters on no status; "" drops the parameter from the tab's link.
ALL_TAB = ("", "All")

IN_FLIGHT = tuple(status for status in Status if not status.is_terminal)
TERMINAL = tuple(status for status in Status if status.is_terminal)
