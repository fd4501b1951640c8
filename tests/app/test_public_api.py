"""What a host imports from the package root, and the settings it may leave unset."""

from __future__ import annotations

import pytest
from celery import current_app

import taskboard
from taskboard import conf, registry
from taskboard.worker import progress


def test_the_public_names_resolve_to_the_modules_that_define_them():
    assert taskboard.launchable is registry.launchable
    assert taskboard.report_progress is progress.report_progress
    assert taskboard.cancel_requested is progress.cancel_requested
    assert issubclass(taskboard.TaskCancelled, Exception)
    assert taskboard.beat_schedule is conf.beat_schedule
    assert {name for name in taskboard.__all__ if getattr(taskboard, name) is None} == set()


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        taskboard.nothing_here  # noqa: B018


def test_every_setting_has_a_default_when_the_host_sets_none(settings):
    for name in conf.DEFAULTS:
        if hasattr(settings, f"TASKBOARD_{name}"):
            delattr(settings, f"TASKBOARD_{name}")
    assert conf.app_settings.POLL_INTERVAL == 2
    assert conf.app_settings.DEFAULT_GROUP == ""
    assert conf.app_settings.EXPORT_DIR == settings.BASE_DIR / "var" / "taskboard-exports"
    for name in conf.DEFAULTS:
        getattr(conf.app_settings, name)


def test_a_host_setting_wins_over_the_default(settings):
    settings.TASKBOARD_POLL_INTERVAL = 7
    assert conf.app_settings.POLL_INTERVAL == 7
    with pytest.raises(AttributeError):
        conf.app_settings.NO_SUCH_SETTING  # noqa: B018


def test_beat_schedule_names_registered_tasks_at_the_configured_intervals(settings):
    settings.TASKBOARD_RECONCILE_INTERVAL = 30
    settings.TASKBOARD_RETENTION_INTERVAL = 600
    settings.TASKBOARD_SEND_DUE_INTERVAL = 3
    schedule = taskboard.beat_schedule()
    assert {entry["task"]: entry["schedule"] for entry in schedule.values()} == {
        "taskboard.reconcile": 30.0,
        "taskboard.retention": 600.0,
        "taskboard.send_due": 3.0,
        "taskboard.notify_windows": 60.0,
    }
    assert {entry["task"] for entry in schedule.values()} <= set(current_app.tasks)
