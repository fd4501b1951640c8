"""web/procfile.py: the Procfile runner behind `make run`."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, wait_for
from web.celery import app as celery_app
from web.procfile import Entry, Runner, parse


def test_parse_reads_names_and_commands_skipping_comments():
    text = "# the site\nweb: exec gunicorn x:y --bind 1:2\n\nworker: celery -A web worker\n"
    assert parse(text) == [
        Entry("web", "exec gunicorn x:y --bind 1:2"),
        Entry("worker", "celery -A web worker"),
    ]


@pytest.mark.parametrize("text", ["", "# only a comment\n", "web exec gunicorn\n", "web:\n"])
def test_parse_refuses_what_is_not_a_procfile(text):
    with pytest.raises(ValueError):
        parse(text)


def runner(*entries: tuple[str, str]) -> tuple[Runner, io.StringIO]:
    """Start ``entries``; return once each has said "up" (its signal trap is set by then)."""
    out = io.StringIO()
    run = Runner([Entry(name, command) for name, command in entries], out=out)
    run.start()
    wait_for(
        lambda: all(
            re.search(rf" {name} +\| up$", out.getvalue(), re.M) or proc.poll() is not None
            for name, proc in run.procs.items()
        ),
        timeout=30,
        interval=0.05,
        message="every process to be up",
    )
    return run, out


# A process that takes a moment to shut down on SIGTERM, as a Celery worker does.
SLOW_STOPPER = "trap 'sleep 1; echo bye; exit 0' TERM; echo up; while :; do sleep 0.1; done"


def test_stop_asks_each_process_alone_and_waits_for_it():
    run, out = runner(("slow", SLOW_STOPPER), ("other", SLOW_STOPPER))
    run.stopping.set()
    assert run.wait() is None
    assert run.stop(timeout=10) is True
    text = out.getvalue()
    assert "slow stopped (exit code 0)" in text and "other stopped (exit code 0)" in text
    assert "killed" not in text


def test_stop_kills_what_outlives_the_timeout():
    run, out = runner(("stubborn", "trap '' TERM; echo up; while :; do sleep 0.1; done"))
    run.stopping.set()
    assert run.stop(timeout=0.5) is False
    assert "stubborn still running after 0 s: killed" in out.getvalue()
    assert all(proc.poll() is not None for proc in run.procs.values())


def test_one_process_exiting_stops_the_others():
    run, out = runner(("short", "echo done; exit 3"), ("long", SLOW_STOPPER))
    assert run.wait() == "short"
    run.stop(timeout=10)
    text = out.getvalue()
    assert "short exited with code 3" in text
    assert "long stopped (exit code 0)" in text


def test_output_lines_carry_the_process_name():
    run, out = runner(("echoer", "echo up; echo hello; exec sleep 30"))
    wait_for(lambda: "hello" in out.getvalue(), timeout=30, message="the line")
    run.stop(timeout=5)
    assert any(line.endswith("echoer | hello") for line in out.getvalue().splitlines())


def test_command_line_refuses_a_missing_procfile(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "web.procfile", str(tmp_path / "nope")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "procfile:" in result.stderr


def test_the_sites_beat_uses_the_database_scheduler():
    # Schedules live in django-celery-beat's tables: the Procfile's plain `celery beat`
    # (and the README's production one) must read them, through the site's settings.
    beat = {entry.name: entry.command for entry in parse((ROOT / "Procfile").read_text())}["beat"]
    assert "-A web beat" in beat
    assert celery_app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
