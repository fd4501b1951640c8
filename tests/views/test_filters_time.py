"""The table's time ranges, owner and queue filters and full-text search, composed in the URL."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskboard.filters import TaskFilter
from taskboard.models import COMPLETED, FAILED, Task

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def make(owner, *, ago_minutes: float = 0, finished_ago: float | None = None, **fields) -> Task:
    created = timezone.now() - timedelta(minutes=ago_minutes)
    fields.setdefault("name", "demo.quick")
    fields.setdefault("status", COMPLETED)
    if finished_ago is not None:
        fields["finished_at"] = timezone.now() - timedelta(minutes=finished_ago)
    return Task.objects.create(owner=owner, created_at=created, **fields)


def ids(response) -> set[str]:
    return set(re.findall(r'<tr id="task-([0-9a-f-]{36})"', response.content.decode()))


@pytest.fixture
def sam(client, staff_user):
    client.force_login(staff_user)
    return client


# --- time ranges -------------------------------------------------------------------


def test_created_last_hour(alice, user):
    recent = make(user, ago_minutes=10)
    make(user, ago_minutes=120)
    assert ids(alice.get("/tasks/?created=hour")) == {str(recent.pk)}


def test_created_last_7_days(alice, user):
    recent = make(user, ago_minutes=60 * 24 * 3)
    make(user, ago_minutes=60 * 24 * 8)
    assert ids(alice.get("/tasks/?created=7d")) == {str(recent.pk)}


def test_created_today_starts_at_local_midnight(alice, user):
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    today = Task.objects.create(
        owner=user, name="demo.quick", created_at=midnight + timedelta(seconds=1)
    )
    Task.objects.create(owner=user, name="demo.quick", created_at=midnight - timedelta(seconds=1))
    assert ids(alice.get("/tasks/?created=today")) == {str(today.pk)}


def test_finished_last_hour_leaves_out_unfinished(alice, user):
    done = make(user, ago_minutes=200, finished_ago=5)
    make(user, ago_minutes=5, status="running")
    make(user, ago_minutes=200, finished_ago=100)
    assert ids(alice.get("/tasks/?finished=hour")) == {str(done.pk)}


def test_created_custom_range(alice, user):
    inside = make(user, ago_minutes=60 * 24 * 2)
    make(user, ago_minutes=60 * 24 * 5)
    make(user, ago_minutes=10)
    start = timezone.localtime() - timedelta(days=3)
    end = timezone.localtime() - timedelta(days=1)
    response = alice.get(
        "/tasks/",
        {
            "created_from": start.strftime("%Y-%m-%dT%H:%M"),
            "created_to": end.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert ids(response) == {str(inside.pk)}


def test_finished_custom_range(alice, user):
    inside = make(user, ago_minutes=60 * 30, finished_ago=60 * 24)
    make(user, ago_minutes=60 * 30, finished_ago=10)
    end = timezone.localtime() - timedelta(hours=2)
    response = alice.get("/tasks/", {"finished_to": end.strftime("%Y-%m-%dT%H:%M")})
    assert ids(response) == {str(inside.pk)}


@pytest.mark.parametrize(
    "query",
    [
        "created=year",
        "created_from=yesterday",
        "finished_to=2024-13-45T99:99",
        "created_from=0001-01-01T00:00",
        "finished_from=9999-12-31T23:59",
        "created_to=%00",
    ],
)
def test_bad_time_values_are_ignored_and_named(alice, user, query):
    response = alice.get(f"/tasks/?{query}")
    assert response.status_code == 200


def test_invalid_time_value_is_named_in_the_note(alice, user):
    make(user)
    body = alice.get("/tasks/?created_from=yesterday").content.decode()
    assert "Ignored an invalid filter: created_from" in body


# --- owner and queue, staff only ---------------------------------------------------


def test_owner_filter_for_staff(sam, user, other_user):
    mine = make(user)
    make(other_user)
    assert ids(sam.get("/tasks/?owner=alice")) == {str(mine.pk)}


def test_queue_filter_for_staff(sam, user):
    fast = make(user, queue="fast")
    make(user, queue="slow")
    assert ids(sam.get("/tasks/?queue=fast")) == {str(fast.pk)}


def test_owner_filter_ignored_for_non_staff(alice, user, other_user):
    mine = make(user)
    make(other_user)
    # Not a way to see anyone else's tasks, nor to hide one's own.
    assert ids(alice.get("/tasks/?owner=bob")) == {str(mine.pk)}


def test_owner_and_queue_inputs_only_for_staff(alice, client, staff_user):
    assert 'name="owner"' not in alice.get("/tasks/").content.decode()
    client.force_login(staff_user)
    body = client.get("/tasks/").content.decode()
    assert 'name="owner"' in body
    assert 'name="queue"' in body


# --- search ------------------------------------------------------------------------


def test_search_matches_the_result(alice, user):
    hit = make(user, result={"rows": 1234, "file": "report-xyz.csv"})
    make(user, result={"rows": 1})
    assert ids(alice.get("/tasks/?q=report-xyz")) == {str(hit.pk)}


def test_search_matches_the_error_type(alice, user):
    hit = make(user, status=FAILED, error_type="ZeroDivisionError")
    make(user, status=FAILED, error_type="KeyError")
    assert ids(alice.get("/tasks/?q=ZeroDivision")) == {str(hit.pk)}


def test_search_substring_still_matches_an_id_prefix(alice, user):
    hit = make(user)
    make(user)
    assert str(hit.pk) in ids(alice.get(f"/tasks/?q={str(hit.pk)[:8]}"))


@pytest.mark.integration
def test_search_full_text_finds_words_in_any_order_and_form(alice, user):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    hit = make(user, status=FAILED, error_message="Timeout while connecting to the database")
    make(user, status=FAILED, error_message="Refused")
    assert ids(alice.get("/tasks/?q=databases timeouts")) == {str(hit.pk)}


def test_search_full_text_never_fails_on_operators(alice, user):
    make(user)
    for q in ['"unbalanced', "a & | ! b", "-", "or or", "<->", "'", ":*"]:
        assert alice.get("/tasks/", {"q": q}).status_code == 200


def test_search_is_a_case_insensitive_substring_match(user):
    hit = make(user, error_message="Timeout while connecting")
    make(user, error_message="Refused")
    queryset = Task.objects.all()
    filterset = TaskFilter({"q": "TIMEOUT"}, queryset=queryset, user=user)
    assert [t.pk for t in filterset.qs] == [hit.pk]


# --- composition and the URL ----------------------------------------------------------


def test_filters_compose(sam, user, other_user):
    hit = make(user, status=FAILED, queue="fast", ago_minutes=5, error_message="Timeout on db1")
    make(user, status=FAILED, queue="slow", ago_minutes=5, error_message="Timeout on db1")
    make(user, status=FAILED, queue="fast", ago_minutes=120, error_message="Timeout on db1")
    make(other_user, status=FAILED, queue="fast", ago_minutes=5, error_message="Timeout on db1")
    make(user, status=COMPLETED, queue="fast", ago_minutes=5)
    response = sam.get("/tasks/?status=failed&created=hour&owner=alice&queue=fast&q=timeout")
    assert ids(response) == {str(hit.pk)}


def test_filters_kept_in_the_pushed_url(alice, user):
    response = alice.get("/tasks/?created=hour&finished=7d&q=x&page=1", headers=HX)
    assert response["HX-Push-Url"] == "/tasks/?created=hour&finished=7d&q=x"


def test_tab_links_keep_the_time_filters(alice, user):
    body = html.unescape(
        alice.get("/tasks/?created=today&created_to=2030-01-01T00:00").content.decode()
    )
    assert "/tasks/?created=today&created_to=2030-01-01T00%3A00&status=failed" in body


def test_tab_counts_follow_the_time_filter(alice, user):
    make(user, status=FAILED, ago_minutes=5)
    make(user, status=FAILED, ago_minutes=600)
    body = alice.get("/tasks/?created=hour").content.decode()
    assert re.search(
        r'data-tab="failed"[^>]*>\s*<span class="tab-label">Failed</span> <span class="count">1<',
        body,
    )


def test_more_filters_open_when_one_is_set(alice):
    assert 'class="more-filters" open' in alice.get("/tasks/?finished=hour").content.decode()
    assert 'class="more-filters" open' not in alice.get("/tasks/").content.decode()


def test_time_filter_inputs_are_not_duplicated_as_hidden_inputs(alice):
    body = alice.get("/tasks/?created=hour&error_type=KeyError").content.decode()
    assert 'type="hidden" form="task-search" name="created"' not in body
    assert 'type="hidden" form="task-search" name="error_type" value="KeyError"' in body


def test_error_type_filter_is_exact(alice, user):
    hit = make(user, status=FAILED, error_type="KeyError")
    make(user, status=FAILED, error_type="KeyErrorish")
    assert ids(alice.get("/tasks/?error_type=KeyError")) == {str(hit.pk)}


# --- fuzz: the new parameters never fail, for staff too ---------------------------------

NASTY = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(
        ["\x00", "9999-12-31T23:59", "0001-01-01T00:00", "2024-02-30T10:00", "x" * 5000]
    ),
)
STAFF_PARAMS = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        (
            "q",
            "created",
            "created_from",
            "created_to",
            "finished",
            "finished_from",
            "finished_to",
            "owner",
            "queue",
            "error_type",
        ),
        NASTY,
    ),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=STAFF_PARAMS)
def test_fuzz_staff_filters_never_fail(sam, params):
    response = sam.get("/tasks/", params)
    assert response.status_code == 200


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(days=NASTY, range_name=NASTY)
def test_fuzz_failures_and_charts_params_never_fail(sam, days, range_name):
    assert sam.get("/tasks/failures/", {"days": days}).status_code == 200
    assert sam.get("/tasks/charts/", {"range": range_name}).status_code == 200


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=NASTY, days=NASTY)
def test_fuzz_failure_action_params_never_fail(sam, key, days):
    assert sam.post("/tasks/failures/delete/", {"key": key, "days": days}).status_code == 303
