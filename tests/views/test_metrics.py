"""Prometheus /metrics: protection, the exposition format, values on a known data set."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from taskboard import metrics
from taskboard.models import Task
from tests.conftest import QUEUE

TOKEN = "prometheus-scrape-token-0123456789"


@pytest.fixture(autouse=True)
def dead_broker(request, monkeypatch):
    """Refuse broker connections at once, except in integration tests."""
    if request.node.get_closest_marker("integration"):
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(current_app.conf, "broker_url", f"redis://127.0.0.1:{port}/0")


@pytest.fixture
def token(settings) -> str:
    settings.TASKBOARD_METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client, **headers) -> dict:
    """Return the samples of /metrics as {(name, sorted labels): value}."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def finished(name: str, seconds: float, *, ago: timedelta, status: str = "completed") -> Task:
    end = timezone.now() - ago
    start = end - timedelta(seconds=seconds)
    return Task.objects.create(
        name=name, status=status, created_at=start, started_at=start, finished_at=end
    )


@pytest.mark.django_db
def test_metrics_anonymous_401(client):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_metrics_non_staff_session_403(client, user):
    client.force_login(user)
    assert client.get("/metrics").status_code == 403


@pytest.mark.django_db
def test_metrics_wrong_token_401(client, token):
    response = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


@pytest.mark.django_db
def test_metrics_unset_token_never_matches(client, settings):
    settings.TASKBOARD_METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


@pytest.mark.django_db
def test_metrics_wrong_token_401_even_with_staff_session(client, staff_user, token):
    client.force_login(staff_user)
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.django_db
def test_metrics_token_200_text_format(client, token):
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_metrics_staff_session_200(client, staff_user):
    client.force_login(staff_user)
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_metrics_parse_into_expected_families(client, token):
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    families = {f.name: f.type for f in text_string_to_metric_families(response.content.decode())}
    assert families == {
        "taskboard_tasks": "gauge",
        "taskboard_tasks_recent": "gauge",
        "taskboard_task_run_seconds": "histogram",
        "taskboard_tasks_stale_pending": "gauge",
        "taskboard_broker_up": "gauge",
        "taskboard_queue_depth": "gauge",
    }


@pytest.mark.django_db
def test_metrics_tasks_by_status(client, token):
    Task.objects.bulk_create(
        [Task(name="a", status="completed") for _ in range(3)]
        + [Task(name="a", status="failed"), Task(name="b", status="pending")]
        + [Task(name="b", status="completed", created_at=timezone.now() - timedelta(days=30))]
    )
    samples = scrape(client, Authorization=f"Bearer {TOKEN}")
    assert samples[("taskboard_tasks", (("status", "completed"),))] == 4
    assert samples[("taskboard_tasks", (("status", "failed"),))] == 1
    assert samples[("taskboard_tasks", (("status", "pending"),))] == 1
    assert samples[("taskboard_tasks", (("status", "running"),))] == 0
    assert samples[("taskboard_tasks", (("status", "cancelled"),))] == 0


@pytest.mark.django_db
def test_metrics_recent_by_name_skips_old_tasks(client, token):
    Task.objects.bulk_create(
        [Task(name="a", status="completed") for _ in range(3)]
        + [Task(name="a", status="failed")]
        + [Task(name="b", status="completed", created_at=timezone.now() - timedelta(days=30))]
    )
    samples = scrape(client, Authorization=f"Bearer {TOKEN}")
    recent = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "taskboard_tasks_recent"
    }
    assert recent[(("name", "a"), ("status", "completed"))] == 3
    assert recent[(("name", "a"), ("status", "failed"))] == 1
    assert recent[(("name", "a"), ("status", "running"))] == 0
    assert not [labels for labels in recent if ("name", "b") in labels]


@pytest.mark.django_db
def test_metrics_run_time_histogram_on_known_runs(client, token):
    minute = timedelta(minutes=1)
    finished("a", 0.3, ago=minute)
    finished("a", 2.0, ago=minute)
    finished("a", 45.0, ago=minute, status="failed")
    finished("a", 1.0, ago=timedelta(hours=2))  # outside the last hour
    finished("b", 4000.0, ago=minute)
    Task.objects.create(name="a", status="running", started_at=timezone.now())
    samples = scrape(client, Authorization=f"Bearer {TOKEN}")

    def bucket(name: str, le: str) -> float:
        return samples[("taskboard_task_run_seconds_bucket", (("le", le), ("name", name)))]

    assert bucket("a", "0.1") == 0
    assert bucket("a", "0.5") == 1
    assert bucket("a", "1.0") == 1
    assert bucket("a", "2.5") == 2
    assert bucket("a", "30.0") == 2
    assert bucket("a", "60.0") == 3
    assert bucket("a", "+Inf") == 3
    assert samples[("taskboard_task_run_seconds_count", (("name", "a"),))] == 3
    assert samples[("taskboard_task_run_seconds_sum", (("name", "a"),))] == pytest.approx(47.3)
    assert bucket("b", "3600.0") == 0
    assert bucket("b", "+Inf") == 1


@pytest.mark.django_db
def test_metrics_stale_pending(client, token, settings):
    settings.TASKBOARD_PENDING_WARN_AFTER = 60
    Task.objects.create(name="a", created_at=timezone.now() - timedelta(minutes=5))
    Task.objects.create(name="a")
    samples = scrape(client, Authorization=f"Bearer {TOKEN}")
    assert samples[("taskboard_tasks_stale_pending", ())] == 1


@pytest.mark.django_db
def test_metrics_broker_down_reports_down_not_500(client, token):
    samples = scrape(client, Authorization=f"Bearer {TOKEN}")
    assert samples[("taskboard_broker_up", ())] == 0
    assert not [key for key in samples if key[0] == "taskboard_queue_depth"]


@pytest.mark.django_db
def test_metrics_query_count_is_fixed(client, token, django_assert_max_num_queries):
    for name in "abcdefgh":
        finished(name, 1.0, ago=timedelta(minutes=1))
    # Status counts, recent by name, the histogram, stale pending: not one per name.
    with django_assert_max_num_queries(4):
        client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})


@pytest.mark.integration
@pytest.mark.django_db
def test_metrics_queue_depth_from_real_redis(client, token, settings):
    queue = f"{QUEUE}-metrics"
    settings.TASKBOARD_OPS_QUEUES = [queue]
    with current_app.connection_for_write() as conn, conn.SimpleQueue(queue) as simple:
        simple.put({"n": 1})
        simple.put({"n": 2})
        samples = scrape(client, Authorization=f"Bearer {TOKEN}")
        simple.clear()
    assert samples[("taskboard_broker_up", ())] == 1
    assert samples[("taskboard_queue_depth", (("queue", queue),))] == 2


def test_run_time_buckets_are_sorted():
    assert list(metrics.BUCKETS) == sorted(metrics.BUCKETS)
