"""Schedules: a launchable task, its parameters and owner, run by beat through django-celery-beat.

The periodic task beat reads (django-celery-beat's PeriodicTask, with its crontab or
interval) only ever sends ``taskboard.run_schedule`` with the schedule's id, so a
schedule whose task or parameters went bad can never break beat: ``schedule_run``
checks it again on the worker and records why it did not launch. Saving PeriodicTask
through its own model bumps ``PeriodicTasks.changed``, which is how beat's
DatabaseScheduler notices a change (docs/operations.md, "Schedules").
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from taskboard import permissions, registry
from taskboard.models import AuditLog, Schedule, Task
from taskboard.services.audit import audit_record
from taskboard.services.launch import clean_params, json_params, task_launch
from taskboard.timing import CRONTAB_FIELDS, Timing, describe_timing

logger = logging.getLogger(__name__)

RUN_TASK = "taskboard.run_schedule"


class ScheduleBroken(Exception):
    """The schedule cannot run as stored; the message is the reason shown to people."""


def schedule_problem(schedule: Schedule, *, check_owner: bool = True) -> str:
    """Return why ``schedule`` cannot run as stored (empty if it can); writes nothing.

    ``check_owner`` False leaves out the owner's permissions (a query per owner), for
    lists: a run records that reason on the schedule anyway.
    """
    try:
        _validated(schedule, check_owner=check_owner)
    except ScheduleBroken as exc:
        return str(exc)
    return ""


def _validated(schedule: Schedule, *, check_owner: bool = True) -> dict[str, Any]:
    """Return the stored parameters cleaned by the task's current form, or raise ScheduleBroken."""
    try:
        entry = registry.get(schedule.name)
    except registry.UnknownTask:
        raise ScheduleBroken(f"The task “{schedule.name}” is no longer registered.") from None
    if check_owner and not entry.allowed_for(schedule.owner):
        raise ScheduleBroken("Its owner may no longer launch this task.")
    form = entry.form_class(data=schedule.params)
    if not form.is_valid():
        problems = "; ".join(
            f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()
        )
        raise ScheduleBroken(f"Its parameters are no longer valid ({problems}).")
    return json_params(form.cleaned_data)


def _check_params(user, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``params`` for a schedule of ``name`` by ``user`` as a launch would."""
    return clean_params(user=user, entry=registry.get(name), params=params)


def _apply_timing(periodic: PeriodicTask, timing: Timing) -> None:
    """Point ``periodic`` at django-celery-beat's crontab or interval row for ``timing``."""
    if timing.crontab is not None:
        values = dict(zip(CRONTAB_FIELDS, timing.crontab, strict=True))
        periodic.crontab, _ = CrontabSchedule.objects.get_or_create(
            **values, timezone=timing.timezone
        )
        periodic.interval = None
    else:
        periodic.interval, _ = IntervalSchedule.objects.get_or_create(
            every=timing.every, period=timing.period
        )
        periodic.crontab = None


def schedule_create(*, user, name: str, params: Mapping[str, Any], timing: Timing) -> Schedule:
    """Validate ``params`` with the task's form and create an enabled schedule owned by ``user``."""
    cleaned = _check_params(user, name, params)
    with transaction.atomic():
        # The periodic task's name must be unique; its only argument, the schedule's id,
        # exists once the schedule row does.
        periodic = PeriodicTask(name=f"taskboard-schedule-{uuid.uuid4()}", task=RUN_TASK)
        _apply_timing(periodic, timing)
        periodic.save()
        schedule = Schedule.objects.create(
            name=name, params=cleaned, owner=user, periodic_task=periodic
        )
        periodic.args = json.dumps([schedule.pk])
        periodic.description = f"Taskboard schedule #{schedule.pk}: {name}"
        periodic.save()
        _audit(user, AuditLog.SCHEDULE_CREATE, schedule, timing)
    return schedule


def schedule_update(
    *, user, schedule: Schedule, params: Mapping[str, Any], timing: Timing
) -> Schedule:
    """Store new parameters and timing for ``schedule``; a valid edit clears its broken reason."""
    _refuse_unless_owner(user, schedule)
    cleaned = _check_params(user, schedule.name, params)
    with transaction.atomic():
        periodic = schedule.periodic_task
        _apply_timing(periodic, timing)
        periodic.save()
        schedule.params = cleaned
        schedule.broken_reason = ""
        schedule.updated_at = timezone.now()
        schedule.save(update_fields=["params", "broken_reason", "updated_at"])
        _audit(user, AuditLog.SCHEDULE_EDIT, schedule, timing)
    return schedule


def schedule_set_enabled(*, user, schedule: Schedule, enabled: bool) -> bool:
    """Enable or disable ``schedule``; return whether it changed."""
    _refuse_unless_owner(user, schedule)
    periodic = schedule.periodic_task
    if periodic.enabled == enabled:
        return False
    with transaction.atomic():
        periodic.enabled = enabled
        periodic.save()
        action = AuditLog.SCHEDULE_ENABLE if enabled else AuditLog.SCHEDULE_DISABLE
        _audit(user, action, schedule)
    return True


def schedule_delete(*, user, schedule: Schedule) -> None:
    """Delete ``schedule`` and its periodic task; its runs stay, unlinked."""
    _refuse_unless_owner(user, schedule)
    with transaction.atomic():
        _audit(user, AuditLog.SCHEDULE_DELETE, schedule)
        # Deleting the periodic task through its model tells beat (PeriodicTasks.changed);
        # the schedule row goes with it (on_delete CASCADE).
        schedule.periodic_task.delete()


def schedule_run_now(*, user, schedule: Schedule) -> Task:
    """Launch ``schedule``'s task once now, as ``user``: an ordinary launch, linked to it."""
    _refuse_unless_owner(user, schedule)
    try:
        params = _validated(schedule)
    except ScheduleBroken as exc:
        _mark_broken(schedule, str(exc))
        raise
    task = task_launch(user=user, name=schedule.name, params=params, schedule=schedule)
    # It ran: a reason left from an earlier attempt (the owner's right since given
    # back) no longer holds, and must not keep Run now disabled.
    _mark_broken(schedule, "")
    return task


def schedule_run(*, schedule_id: int) -> str:
    """Launch the schedule's task as its owner (beat's periodic call); say what happened.

    A schedule that is gone, disabled meanwhile, or broken launches nothing and never
    raises: the reason is stored on the schedule for its page. Scheduled runs are not
    refused by the launch rate limit (the schedule's timing bounds them), but count
    towards the owner's launches of the minute like any row they own.
    """
    schedule = (
        Schedule.objects.select_related("owner", "periodic_task").filter(pk=schedule_id).first()
    )
    if schedule is None:
        return "gone"
    if not schedule.periodic_task.enabled:
        return "disabled"
    try:
        params = _validated(schedule)
    except ScheduleBroken as exc:
        _mark_broken(schedule, str(exc))
        logger.warning("schedule %s not run: %s", schedule.pk, exc)
        return "broken"
    task = task_launch(
        user=schedule.owner, name=schedule.name, params=params, check_rate=False, schedule=schedule
    )
    _mark_broken(schedule, "")
    return str(task.pk)


def _mark_broken(schedule: Schedule, reason: str) -> None:
    """Store why the schedule could not run ("" once it runs again), when that changed."""
    if schedule.broken_reason != reason:
        Schedule.objects.filter(pk=schedule.pk).update(broken_reason=reason)
        schedule.broken_reason = reason


def _refuse_unless_owner(user, schedule: Schedule) -> None:
    """Refuse a change by anyone but the owner (who may still launch) or an operator."""
    if permissions.can_act_on_schedule(user, schedule):
        return
    raise PermissionDenied("You may not change this schedule.")


def _audit(user, action: str, schedule: Schedule, timing: Timing | None = None) -> None:
    note = f"schedule #{schedule.pk} of {schedule.name}"
    if timing is not None:
        note += f" ({describe_timing(timing)})"
    audit_record(actor=user, action=action, task_ids=[], note=note)
