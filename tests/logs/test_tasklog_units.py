"""Units of the live log store (taskboard/tasklog.py) and of the capture's wiring."""

from __future__ import annotations

import logging
import uuid

import pytest
from celery import current_app
from celery.backends.filesystem import FilesystemBackend

from taskboard import tasklog
from taskboard.worker import logcapture


def lines(*messages: str, level: str = "INFO") -> list[bytes]:
    return [tasklog.encode(1_700_000_000 + i, level, m) for i, m in enumerate(messages)]


def test_a_line_survives_its_encoding_with_newlines_and_markup():
    [raw] = lines("two\nlines <b>&</b>", level="ERROR")
    line = tasklog.decode(raw)
    assert (line.level, line.message, line.kind) == ("ERROR", "two\nlines <b>&</b>", "error")
    assert line.at.isoformat() == "2023-11-14T22:13:20+00:00"


@pytest.mark.parametrize("raw", [b"garbage", b"[1, 2]", b"null", b'["x", "INFO", "m"]'])
def test_an_unreadable_line_is_skipped(raw):
    assert tasklog.decode_all([raw, *lines("ok")])[-1].message == "ok"
    assert tasklog.decode(raw) is None


def test_unknown_level_draws_as_info():
    assert tasklog.decode(lines("x", level="NOTICE")[0]).kind == "info"


def test_text_of_a_log_says_how_many_lines_were_dropped():
    text = tasklog.as_text(tasklog.decode_all(lines("a", "b")), dropped=1)
    assert text.splitlines() == [
        "2023-11-14T22:13:20+00:00 INFO     a",
        "2023-11-14T22:13:21+00:00 INFO     b",
        "[1 line dropped: over the log's cap]",
    ]


@pytest.fixture
def file_logs(tmp_path) -> tasklog.FileLogs:
    return tasklog.FileLogs(FilesystemBackend(app=current_app, url=f"file://{tmp_path}"))


def test_file_logs_append_read_from_an_offset_and_count_dropped_lines(file_logs, settings):
    settings.TASKBOARD_LOG_MAX_LINES = 3
    task_id = str(uuid.uuid4())
    file_logs.write({task_id: tasklog.Batch(lines("1", "2"), logged=2)})
    # A second writer (a retry in another process) cannot know the first one's count:
    # the reader keeps the first three lines whoever wrote them.
    file_logs.write({task_id: tasklog.Batch(lines("3", "4"), logged=5)})
    chunk = file_logs.read([task_id], offset=1)[task_id]
    assert [line.message for line in chunk.lines] == ["2", "3"]
    assert (chunk.offset, chunk.kept, chunk.dropped, chunk.next_offset) == (1, 3, 4, 3)
    assert chunk.at_end


def test_file_logs_of_an_unknown_task_are_empty(file_logs):
    chunk = file_logs.read(["nope"])["nope"]
    assert (chunk.lines, chunk.kept, chunk.dropped) == ([], 0, 0)


@pytest.mark.integration
def test_redis_logs_keep_the_first_lines_whoever_writes_them(settings):
    settings.TASKBOARD_LOG_MAX_LINES = 3
    store = tasklog.store_for()
    assert isinstance(store, tasklog.RedisLogs)
    task_id = str(uuid.uuid4())
    store.write({task_id: tasklog.Batch(lines("1", "2"), logged=2)})
    chunks = store.write({task_id: tasklog.Batch(lines("3", "4"), logged=4)}, read_back=[task_id])
    assert [line.message for line in chunks[task_id].lines] == ["1", "2", "3"]
    assert chunks[task_id].dropped == 3
    page = store.read([task_id], offset=2, limit=5)[task_id]
    assert [line.message for line in page.lines] == ["3"]
    assert current_app.backend.client.ttl(store.keys(task_id)[0]) > 0


def test_capture_installs_on_the_task_loggers_and_can_be_turned_off(settings, monkeypatch):
    monkeypatch.setattr(logcapture, "handler", None)
    settings.TASKBOARD_LOG_CAPTURE = False
    assert logcapture.install() is None
    settings.TASKBOARD_LOG_CAPTURE = True
    handler = logcapture.install()
    try:
        for name in logcapture.CAPTURED_LOGGERS:
            assert logging.getLogger(name).handlers.count(handler) == 1
        assert logcapture.install() is handler  # once only
        assert logging.getLogger(name).handlers.count(handler) == 1
    finally:
        for name in logcapture.CAPTURED_LOGGERS:
            logging.getLogger(name).removeHandler(handler)


def test_a_record_outside_any_task_is_not_kept():
    handler = logcapture.TaskLogHandler()
    logging.getLogger("celery.task").addHandler(handler)
    try:
        logging.getLogger("celery.task").warning("not in a task")
    finally:
        logging.getLogger("celery.task").removeHandler(handler)
    assert handler.runs == {}
    assert logcapture.TaskLogHandler().finish("any") is None
