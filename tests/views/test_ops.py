"""The /ops/ page: permissions, a dead or silent broker, stale pending tasks, a real worker."""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone

from taskboard import ops, services
from taskboard.models import Task
from tests.conftest import QUEUE, wait_for


def closed_port() -> int:
    """Return a local TCP port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dead_broker(monkeypatch):
    """Point Celery's broker at a closed port: connecting is refused at once."""
    monkeypatch.setattr(current_app.conf, "broker_url", f"redis://127.0.0.1:{closed_port()}/0")


@pytest.fixture
def silent_broker(monkeypatch):
    """Point Celery's broker at a port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []

    def accept():
        try:
            while True:
                accepted.append(server.accept()[0])
        except OSError:  # the server socket was closed: the test is over
            return

    threading.Thread(target=accept, daemon=True).start()
    port = server.getsockname()[1]
    monkeypatch.setattr(current_app.conf, "broker_url", f"redis://127.0.0.1:{port}/0")
    yield
    server.close()
    for sock in accepted:
        sock.close()


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.mark.django_db
def test_ops_anonymous_redirects_to_login(client):
    response = client.get("/ops/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_ops_non_staff_forbidden(client, user, dead_broker):
    client.force_login(user)
    response = client.get("/ops/")
    assert response.status_code == 403


@pytest.mark.django_db
def test_ops_nav_link_only_for_staff(client, user, staff_user, dead_broker):
    client.force_login(user)
    assert b'href="/ops/"' not in client.get("/tasks/").content
    client.force_login(staff_user)
    assert b'href="/ops/"' in client.get("/tasks/").content


@pytest.mark.django_db
def test_ops_broker_down_answers_unreachable(staff_client, dead_broker, settings):
    settings.TASKBOARD_OPS_TIMEOUT = 1
    started = time.monotonic()
    response = staff_client.get("/ops/snapshot/")
    # A generous bound: the point is that the page answers instead of hanging.
    assert time.monotonic() - started < 10
    assert response.status_code == 200
    assert "Broker unreachable" in response.text
    assert "Unknown: the broker is unreachable." in response.text


@pytest.mark.django_db
def test_ops_silent_broker_answers_unreachable(staff_client, silent_broker, settings):
    settings.TASKBOARD_OPS_TIMEOUT = 0.5
    started = time.monotonic()
    response = staff_client.get("/ops/snapshot/")
    assert time.monotonic() - started < 10
    assert response.status_code == 200
    assert "Broker unreachable" in response.text


@pytest.mark.django_db
def test_ops_broker_url_shown_without_password(staff_client, monkeypatch):
    url = f"redis://:hunter2@127.0.0.1:{closed_port()}/0"
    monkeypatch.setattr(current_app.conf, "broker_url", url)
    response = staff_client.get("/ops/snapshot/")
    assert "hunter2" not in response.text
    assert "127.0.0.1" in response.text


@pytest.fixture
def listening_broker(monkeypatch):
    """Point Celery's broker at a port that listens and never accepts: connects wait there."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    monkeypatch.setattr(
        current_app.conf, "broker_url", f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    )
    yield server
    server.close()


@pytest.mark.django_db
def test_ops_page_answers_without_calling_the_broker(staff_client, listening_broker):
    response = staff_client.get("/ops/")
    assert response.status_code == 200
    # A connect made while the page was drawn would be waiting in the listen queue now.
    listening_broker.setblocking(False)
    with pytest.raises(BlockingIOError):
        listening_broker.accept()
    assert 'hx-get="/ops/snapshot/"' in response.text
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_ops_page_loads_the_snapshot_then_polls_at_the_interval_it_states(
    staff_client, dead_broker, settings
):
    settings.TASKBOARD_OPS_REFRESH = 7
    page = staff_client.get("/ops/").text
    assert 'hx-trigger="load, every 7s"' in page
    assert "refreshes every 7 s" in page
    fragment = staff_client.get("/ops/snapshot/", headers={"HX-Request": "true"}).text
    assert "refreshes every 7 s" in fragment
    # The poller is the page's container, which the fragment fills (innerHTML): its
    # timer is never restarted by a swap, so a slow answer does not stretch the period.
    assert 'id="ops-live"' not in fragment and "hx-trigger" not in fragment
    assert '<div id="ops-live" hx-get="/ops/snapshot/" hx-trigger="load, every 7s"' in page
    assert 'hx-swap="innerHTML"' in page


@pytest.mark.django_db
def test_ops_page_without_javascript_links_to_the_snapshot(staff_client, dead_broker):
    page = staff_client.get("/ops/").text
    noscript = page.split("<noscript>", 1)[1].split("</noscript>", 1)[0]
    assert 'href="/ops/snapshot/"' in noscript
    full = staff_client.get("/ops/snapshot/")
    assert "<html" in full.text
    assert "Broker unreachable" in full.text
    # The whole page again, already filled in: it keeps polling, without a load request.
    assert 'hx-trigger="every 5s"' in full.text


@pytest.mark.django_db
def test_ops_snapshot_forbidden_to_non_staff(client, user, dead_broker):
    client.force_login(user)
    assert client.get("/ops/snapshot/").status_code == 403
    assert client.get("/ops/snapshot/", headers={"HX-Request": "true"}).status_code == 403


@pytest.mark.django_db
def test_ops_htmx_gets_snapshot_fragment(staff_client, dead_broker):
    response = staff_client.get("/ops/snapshot/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="ops"')
    assert "<html" not in response.text
    assert "Broker unreachable" in response.text
    assert response["Vary"].count("HX-Request") == 1
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_ops_flags_pending_older_than_threshold(staff_client, dead_broker, settings, user):
    settings.TASKBOARD_PENDING_WARN_AFTER = 300
    old = timezone.now() - timedelta(seconds=600)
    stale = [Task.objects.create(name="demo.quick", owner=user, created_at=old) for _ in range(3)]
    Task.objects.create(name="demo.quick", owner=user)  # pending, but fresh
    Task.objects.create(name="demo.quick", status="completed", created_at=old)
    response = staff_client.get("/ops/snapshot/")
    assert "3 tasks pending for more than 300 s." in response.text
    assert 'href="/tasks/?status=pending&amp;sort=created"' in response.text
    for task in stale:
        assert f'href="/tasks/{task.pk}/"' in response.text


@pytest.mark.django_db
def test_ops_no_stale_pending_says_so(staff_client, dead_broker):
    Task.objects.create(name="demo.quick")
    response = staff_client.get("/ops/snapshot/")
    assert "No task has been pending for more than" in response.text


@pytest.mark.django_db
def test_stale_pending_count_is_capped(user):
    from taskboard import selectors

    old = timezone.now() - timedelta(hours=1)
    Task.objects.bulk_create(Task(name="demo.quick", owner=user, created_at=old) for _ in range(4))
    stale = selectors.stale_pending(user=user, older_than=60, cap=3)
    assert (stale.count, stale.capped) == (3, True)


@pytest.mark.django_db
def test_stale_pending_only_visible_tasks(user, other_user):
    from taskboard import selectors

    old = timezone.now() - timedelta(hours=1)
    Task.objects.create(name="demo.quick", owner=other_user, created_at=old)
    assert selectors.stale_pending(user=user, older_than=60).count == 0


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_ops_lists_real_worker_pool_and_queue(celery_worker, client, staff_user):
    client.force_login(staff_user)
    prefix = celery_worker.name.split("@")[0]
    fragment = client.get("/ops/snapshot/", headers={"HX-Request": "true"})
    no_js = client.get("/ops/snapshot/")
    for response in (fragment, no_js):
        assert response.status_code == 200
        assert "Broker unreachable" not in response.text
        assert f'data-worker="{prefix}@' in response.text
        assert '<span class="pool-size">2</span>' in response.text
        assert f"<code>{QUEUE}</code>" in response.text
        assert f'data-queue="{QUEUE}"' in response.text
    assert "<html" not in fragment.text and "<html" in no_js.text


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_ops_links_active_task_to_its_row(celery_worker, client, staff_user):
    task = services.task_launch(
        user=staff_user, name="demo.long", params={"seconds": 4, "steps": 4}
    )
    wait_for(lambda: Task.objects.get(pk=task.pk).status == "running", message="running")
    client.force_login(staff_user)
    response = client.get("/ops/snapshot/", headers={"HX-Request": "true"})
    assert f'<a href="/tasks/{task.pk}/">demo.long</a>' in response.text


@pytest.mark.integration
def test_queue_depths_count_waiting_messages_on_redis():
    queue = f"{QUEUE}-depth"
    with current_app.connection_for_write() as conn, conn.SimpleQueue(queue) as simple:
        for n in range(3):
            simple.put({"n": n})
        depths = ops.queue_depths(conn, [queue, f"{queue}-none"])
        simple.clear()
    assert [(d.name, d.depth) for d in depths] == [(queue, 3), (f"{queue}-none", 0)]
