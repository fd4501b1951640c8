"""The poll's wire format (taskboard/polling.py): what a page carries is what the view reads."""

from __future__ import annotations

import uuid

import pytest

from taskboard import polling
from taskboard.live import Badge


def test_carried_rows_read_back_as_they_were_written():
    first, second = uuid.uuid4(), uuid.uuid4()
    badge = Badge(status="running", current=3, total=10)
    value = polling.carried(
        [polling.item(first, polling.token(4, badge)), polling.item(second, "1.p")]
    )
    read = polling.parse_ids(value, cap=10)
    assert read == {first: polling.token(4, badge), second: "1.p"}
    assert polling.token_version(read[first]) == "4"


@pytest.mark.parametrize("raw", ["nocolon", f"{uuid.uuid4()}:", "not-a-uuid:1.p", "x:<b>"])
def test_malformed_items_are_refused(raw):
    with pytest.raises(polling.PollIdsInvalid):
        polling.parse_ids(raw, cap=10)


def test_more_ids_than_the_cap_are_refused():
    raw = polling.carried(polling.item(uuid.uuid4(), "1.p") for _ in range(3))
    with pytest.raises(polling.PollIdsInvalid, match="at most 2"):
        polling.parse_ids(raw, cap=2)
