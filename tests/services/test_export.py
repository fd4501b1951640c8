"""The CSV export: cells a spreadsheet would evaluate, the file's name, its columns."""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest
from django.utils import timezone

from taskboard import maintenance
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.TASKBOARD_EXPORT_DIR = tmp_path
    return tmp_path


def run_export(owner, **filters) -> tuple[dict, list[dict]]:
    """Export as ``owner`` (through an export task row of theirs); return result and rows."""
    me = TaskFactory(running=True, name="taskboard.export_csv", owner=owner)
    result = maintenance.export_csv(task_id=me.pk, **filters)
    with open(maintenance.export_path(me.pk), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return result, [row for row in rows if row["id"] != str(me.pk)]


@pytest.mark.parametrize(
    "name", ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
)
def test_export_neutralises_formula_cells(user, export_dir, name):
    TaskFactory(
        failed=True,
        name=name,
        owner=user,
        worker=name,
        error_type=name,
        error_message=name,
        kwargs={"q": 1},
    )
    _, [row] = run_export(user, status="failed")
    for column in ("name", "worker", "error_type", "error_message"):
        assert row[column] == "'" + name, column


def test_export_leaves_ordinary_cells_alone(user, export_dir):
    TaskFactory(completed=True, name="demo.quick", owner=user, result=-3)
    _, [row] = run_export(user, status="completed")
    assert row["name"] == "demo.quick"
    assert row["owner"] == "alice"
    # A result of -3 would be a number to a spreadsheet: harmless, but quoted all the same
    # (the result column holds any JSON a task returned).
    assert row["result"] == "'-3"


def test_export_file_named_after_the_filter_and_the_day(user, export_dir):
    today = timezone.localdate().isoformat()
    assert run_export(user, status="failed")[0]["file"] == f"tasks-failed-{today}.csv"
    assert run_export(user)[0]["file"] == f"tasks-{today}.csv"
    named = run_export(user, status="completed", name="photos.Resize album")[0]["file"]
    assert named == f"tasks-completed-photos.resize-album-{today}.csv"


def test_export_has_arguments_result_error_and_duration(user, export_dir):
    start = timezone.now() - timedelta(seconds=90)
    TaskFactory(
        completed=True,
        name="demo.quick",
        owner=user,
        args=[1],
        kwargs={"x": 20, "y": 22},
        result={"sum": 42},
        started_at=start,
        finished_at=start + timedelta(seconds=12.5),
    )
    TaskFactory(
        failed=True,
        name="demo.fail",
        owner=user,
        kwargs={"message": "boom"},
        error_type="DemoFailure",
        error_message="boom (while running the demo)",
        # Never started: no duration to export.
        started_at=None,
        finished_at=None,
    )
    _, rows = run_export(user)
    by_name = {row["name"]: row for row in rows}
    done, failed = by_name["demo.quick"], by_name["demo.fail"]
    assert done["arguments"] == '{"args": [1], "kwargs": {"x": 20, "y": 22}}'
    assert done["result"] == '{"sum": 42}'
    assert done["duration_seconds"] == "12.5"
    assert failed["arguments"] == '{"message": "boom"}'
    assert failed["result"] == ""
    assert failed["duration_seconds"] == ""
    assert (failed["error_type"], failed["error_message"]) == (
        "DemoFailure",
        "boom (while running the demo)",
    )
