"""Charts: the aggregates against hand-computed figures, and the page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from taskboard import charts
from taskboard.models import COMPLETED, FAILED, RUNNING, Task

HX = {"HX-Request": "true"}


def run(owner, name, status, *, finished_ago: float, wait: float, took: float, now=None) -> Task:
    """Create a finished task: created, waited ``wait`` s, ran ``took`` s, finished then."""
    finished = (now or timezone.now()) - timedelta(seconds=finished_ago)
    started = finished - timedelta(seconds=took)
    return Task.objects.create(
        name=name,
        status=status,
        owner=owner,
        created_at=started - timedelta(seconds=wait),
        started_at=started,
        finished_at=finished,
    )


@pytest.fixture
def known(user):
    """A known data set: four quick runs, two fail runs, one old run, one running."""
    now = timezone.now()
    for i, (wait, took) in enumerate([(1, 2), (2, 4), (3, 6), (4, 8)]):
        run(
            user,
            "demo.quick",
            COMPLETED,
            finished_ago=60 * i + 65,
            wait=wait,
            took=took,
            now=now,
        )
    run(user, "demo.fail", FAILED, finished_ago=65, wait=10, took=1, now=now)
    run(user, "demo.fail", COMPLETED, finished_ago=125, wait=20, took=3, now=now)
    # Finished two hours ago: outside the hour, inside the day.
    run(user, "demo.quick", FAILED, finished_ago=7200, wait=1, took=1, now=now)
    Task.objects.create(name="demo.long", status=RUNNING, owner=user)
    return user


# --- percentile_cont (pure) ----------------------------------------------------


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([1, 2, 3, 4], 0.5, 2.5),
        ([1, 2, 3, 4], 0.95, 3.85),
        ([2, 4, 6, 8], 0.95, 7.7),
        ([5], 0.95, 5.0),
        ([3, 1, 2], 0.5, 2.0),
        ([0, 10], 0.25, 2.5),
    ],
)
def test_percentile_cont_interpolates_like_postgresql(values, fraction, expected):
    assert charts.percentile_cont(values, fraction) == pytest.approx(expected)


def test_percentile_cont_of_nothing_is_none():
    assert charts.percentile_cont([], 0.5) is None


@pytest.mark.parametrize(
    ("raw", "name"), [("day", "day"), ("week", "week"), ("x", "hour"), (None, "hour")]
)
def test_parse_range_accepts_only_known_ranges(raw, name):
    assert charts.parse_range(raw) == name


# --- throughput ---------------------------------------------------------------


@pytest.mark.django_db
def test_throughput_counts_the_hour(known):
    buckets = charts.throughput(user=known, range_name="hour")
    assert sum(b.completed for b in buckets) == 5
    assert sum(b.failed for b in buckets) == 1


@pytest.mark.django_db
def test_throughput_has_one_bucket_per_minute(known):
    buckets = charts.throughput(user=known, range_name="hour")
    assert len(buckets) in (60, 61)
    assert all(b.start.second == 0 for b in buckets)


@pytest.mark.django_db
def test_throughput_puts_each_task_in_its_minute(known):
    failed = Task.objects.get(status=FAILED, name="demo.fail")
    buckets = charts.throughput(user=known, range_name="hour")
    by_start = {b.start: b for b in buckets}
    minute = failed.finished_at.replace(second=0, microsecond=0)
    # finished 65 s ago: the first quick run and the failed run.
    assert (by_start[minute].completed, by_start[minute].failed) == (1, 1)
    assert by_start[minute].failure_rate == 0.5


@pytest.mark.django_db
def test_throughput_day_includes_older_runs(known):
    buckets = charts.throughput(user=known, range_name="day")
    assert sum(b.finished for b in buckets) == 7
    assert len(buckets) in (24, 25)


@pytest.mark.django_db
def test_throughput_hides_other_users_runs(known, other_user):
    buckets = charts.throughput(user=other_user, range_name="day")
    assert sum(b.finished for b in buckets) == 0


@pytest.mark.django_db
def test_throughput_staff_see_everyones(known, staff_user):
    buckets = charts.throughput(user=staff_user, range_name="day")
    assert sum(b.finished for b in buckets) == 7


# --- wait and run time percentiles ----------------------------------------------


def by_name(times):
    return {t.name: t for t in times}


def assert_known_times(times):
    quick, fail = by_name(times)["demo.quick"], by_name(times)["demo.fail"]
    assert (quick.finished, quick.failed) == (4, 0)
    assert quick.wait_p50 == pytest.approx(2.5)
    assert quick.wait_p95 == pytest.approx(3.85)
    assert quick.run_p50 == pytest.approx(5.0)
    assert quick.run_p95 == pytest.approx(7.7)
    assert (fail.finished, fail.failed, fail.failure_rate) == (2, 1, 0.5)
    assert fail.wait_p50 == pytest.approx(15.0)
    assert fail.run_p95 == pytest.approx(1 + 0.95 * 2)


@pytest.mark.integration
@pytest.mark.django_db
def test_name_times_postgresql_percentile_cont(known):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    assert_known_times(charts.name_times(user=known, range_name="hour"))


@pytest.mark.django_db
def test_name_times_python_fallback_matches(known):
    since = timezone.now() - timedelta(hours=1)
    queryset = charts._finished_in(known, since, timezone.now()).filter(started_at__isnull=False)
    assert_known_times(charts._name_times_python(queryset))


@pytest.mark.django_db
def test_name_times_biggest_name_first(known):
    assert [t.name for t in charts.name_times(user=known, range_name="hour")] == [
        "demo.quick",
        "demo.fail",
    ]


@pytest.mark.django_db
def test_name_times_one_query(known, django_assert_num_queries):
    charts.name_times(user=known, range_name="hour")  # permissions read once, then cached
    with django_assert_num_queries(1):
        charts.name_times(user=known, range_name="week")


@pytest.mark.django_db
def test_name_times_hide_other_users_runs(known, other_user):
    assert charts.name_times(user=other_user, range_name="day") == []


# --- the page ------------------------------------------------------------------


def test_charts_page_anonymous_redirects_to_login(client):
    response = client.get("/tasks/charts/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_charts_page_draws_inline_svg_without_script(alice, known):
    body = alice.get("/tasks/charts/").content.decode()
    assert '<svg class="chart-svg"' in body
    assert 'class="bar-ok"' in body
    assert 'class="bar-bad"' in body
    assert "<script>" not in body.split("</head>", 1)[1]


@pytest.mark.django_db
def test_charts_page_has_the_numbers_as_a_table(alice, known):
    body = alice.get("/tasks/charts/").content.decode()
    assert "Throughput as a table" in body
    assert re.search(r"<td>1</td><td>1</td><td>50%</td>", body)


@pytest.mark.django_db
def test_charts_page_shows_percentiles(alice, known):
    body = alice.get("/tasks/charts/").content.decode()
    assert "<td>2.5 s</td><td>3.9 s</td>" in body  # quick: wait p50, p95
    assert "<td>5.0 s</td><td>7.7 s</td>" in body  # quick: run p50, p95


@pytest.mark.django_db
@pytest.mark.parametrize(("param", "label"), [("day", "Last day"), ("week", "Last week")])
def test_charts_page_range(alice, known, param, label):
    body = alice.get(f"/tasks/charts/?range={param}").content.decode()
    assert f'aria-current="page">{label}</a>' in body


@pytest.mark.django_db
def test_charts_page_unknown_range_is_the_hour(alice):
    response = alice.get("/tasks/charts/?range=%00year")
    assert response.status_code == 200
    assert 'aria-current="page">Last hour</a>' in response.content.decode()


@pytest.mark.django_db
def test_charts_page_empty(alice):
    assert "Nothing finished in this range." in alice.get("/tasks/charts/").content.decode()


@pytest.mark.django_db
def test_charts_page_escapes_task_names(alice, user):
    run(user, "<b>x</b>", COMPLETED, finished_ago=10, wait=1, took=1)
    body = alice.get("/tasks/charts/").content.decode()
    assert "<b>x</b>" not in body


@pytest.mark.parametrize("range_name", ["hour", "day", "week"])
def test_chart_time_labels_fit_inside_the_chart(range_name):
    from taskboard.views.charts import TICK_CHAR, WIDTH, throughput_chart

    span, _, step = charts.RANGES[range_name]
    start = timezone.now() - span
    buckets = [charts.Bucket(start=start + step * i) for i in range(int(span / step) + 1)]
    time_format = "%a %H:%M" if range_name == "week" else "%H:%M"
    for tick in throughput_chart(buckets, time_format)["ticks"]:
        extent = len(tick["label"]) * TICK_CHAR
        shift = {"start": 0, "middle": extent / 2, "end": extent}[tick["anchor"]]
        assert tick["x"] - shift >= 0, tick
        assert tick["x"] - shift + extent <= WIDTH, tick
