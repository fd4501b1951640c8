"""The notify service in this process: what a finished task sends, grouped per window."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from celery import current_app
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from taskboard import webhooks
from taskboard.failures import normalise_message
from taskboard.models import NotificationWindow, Subscription, WebhookAttempt
from taskboard.services import notify
from taskboard.worker import interest as interest_module
from taskboard.worker import signals, tracking
from taskboard.worker.interest import interest
from tests.factories import RouteFactory, TaskFactory, UserFactory, WebhookFactory

pytestmark = pytest.mark.django_db


def failed(message: str = "Timeout after 30s on 'db1'", **kwargs):
    return TaskFactory(
        failed=True, name="demo.fail", error_type="TimeoutError", error_message=message, **kwargs
    )


def test_a_failure_sends_one_email_and_one_signed_webhook(receiver):
    hook = WebhookFactory(url=receiver.url)
    RouteFactory(webhook=hook)
    RouteFactory(emails="ops@example.com\noncall@example.com")
    task = failed()

    sent = notify.notify_finished(task_id=task.pk)

    assert sent == {"email": 1, "webhook": 1, "counted": 0}
    [email] = mail.outbox
    assert email.to == ["ops@example.com", "oncall@example.com"]
    assert "1 failure" in email.subject and "demo.fail" in email.subject
    assert str(task.pk) in email.body
    [post] = receiver.received
    assert webhooks.verify(
        hook.secret,
        post.headers[webhooks.TIMESTAMP_HEADER],
        post.body,
        post.headers[webhooks.SIGNATURE_HEADER],
    )
    assert not webhooks.verify(
        "another secret",
        post.headers[webhooks.TIMESTAMP_HEADER],
        post.body,
        post.headers[webhooks.SIGNATURE_HEADER],
    )
    assert post.headers["Content-Type"] == "application/json"
    assert post.json["event"] == "task.failed"
    assert post.json["count"] == 1
    assert post.json["task"]["id"] == str(task.pk)
    assert post.json["message"] == "Timeout after <n>s on <str>"
    [attempt] = WebhookAttempt.objects.all()
    assert (attempt.webhook, attempt.attempt, attempt.status_code) == (hook, 1, 200)
    assert str(attempt.delivery) == post.headers[webhooks.DELIVERY_HEADER]


def test_200_identical_failures_in_a_window_send_one_message_then_one_summary(receiver):
    hook = WebhookFactory(url=receiver.url)
    RouteFactory(webhook=hook)
    RouteFactory(emails="ops@example.com")
    tasks = [failed(f"Timeout after {n}s on 'db{n}'") for n in range(200)]

    outcomes = [notify.notify_finished(task_id=task.pk) for task in tasks]

    assert len(mail.outbox) == 1 and len(receiver.received) == 1
    assert sum(o["counted"] for o in outcomes) == 199
    [window] = NotificationWindow.objects.all()
    assert window.count == 200 and window.first_task_id == tasks[0].pk

    # Nothing more until the window has closed; then one summary per channel, once.
    assert notify.send_summaries(now=window.closes_at - timedelta(seconds=1)) == 0
    assert notify.send_summaries(now=window.closes_at) == 1
    assert notify.send_summaries(now=window.closes_at + timedelta(minutes=5)) == 0
    assert len(mail.outbox) == 2 and len(receiver.received) == 2
    assert mail.outbox[1].subject.startswith("[Taskboard] 199 more of the same failure")
    assert "200 in all" in mail.outbox[1].body
    summary = receiver.received[1].json
    assert (summary["event"], summary["count"], summary["total"]) == ("failures.summary", 199, 200)


def test_a_lone_failure_gets_no_summary():
    RouteFactory(emails="ops@example.com")
    notify.notify_finished(task_id=failed().pk)
    window = NotificationWindow.objects.get()
    assert notify.send_summary(key=window.key, now=window.closes_at)["summary"] == 1
    assert len(mail.outbox) == 1


def test_different_groups_and_the_next_window_send_again():
    RouteFactory(emails="ops@example.com")
    notify.notify_finished(task_id=failed("Timeout after 3s").pk)
    notify.notify_finished(task_id=failed("Disk full on /var/lib/x").pk)
    assert len(mail.outbox) == 2

    later = timezone.now() + timedelta(seconds=301)
    assert notify.open_window(failed("Timeout after 9s"), now=later) is not None


def test_open_window_counts_the_second_failure_of_a_group(settings):
    settings.TASKBOARD_NOTIFY_WINDOW_SECONDS = 60
    now = timezone.now()
    first = notify.open_window(failed("Timeout after 1s"), now=now)
    assert first is not None
    assert (first.closes_at - first.opened_at).total_seconds() == 60
    assert first.opened_at <= now < first.closes_at
    assert notify.open_window(failed("Timeout after 2s"), now=now) is None
    first.refresh_from_db()
    assert first.count == 2


def test_the_window_key_masks_what_varies_and_keeps_what_does_not():
    now = timezone.now()

    def key(name: str, error_type: str, message: str) -> str:
        # As open_window keys a failure: its message normalised first.
        return notify.window_key(name, error_type, normalise_message(message), now)

    assert key("a", "E", "disk 7 full, 30s on 'db1'") == key("a", "E", "disk 9 full, 5s on 'db7'")
    assert key("a", "E", "disk 7 full") != key("a", "E", "network down")
    assert key("a", "E", "disk 7 full") != key("b", "E", "disk 7 full")
    assert key("a", "E", "disk 7 full") != key("a", "F", "disk 7 full")


def test_routes_for_other_names_and_disabled_ones_send_nothing():
    RouteFactory(task_name="demo.other", emails="ops@example.com")
    RouteFactory(emails="ops@example.com", enabled=False)
    assert notify.notify_finished(task_id=failed().pk) == {"email": 0, "webhook": 0, "counted": 0}
    assert not mail.outbox and not NotificationWindow.objects.exists()


def test_a_route_of_any_task_takes_every_name():
    RouteFactory(task_name="", emails="ops@example.com")
    notify.notify_finished(task_id=failed().pk)
    assert len(mail.outbox) == 1


def test_the_bell_tells_its_user_of_a_completion_and_a_name_subscription_of_failures():
    bell_user = UserFactory(email="bell@example.com")
    name_user = UserFactory(email="name@example.com", is_staff=True)
    UserFactory(email="nobody@example.com")
    done = TaskFactory(completed=True, name="demo.fail")
    Subscription.objects.create(user=bell_user, task=done)
    Subscription.objects.create(user=name_user, task_name="demo.fail")

    notify.notify_finished(task_id=done.pk)
    [email] = mail.outbox
    assert email.to == ["bell@example.com"] and "completed" in email.subject

    mail.outbox.clear()
    notify.notify_finished(task_id=failed().pk)
    [email] = mail.outbox
    assert email.to == ["name@example.com"] and "1 failure" in email.subject


def test_a_name_follower_who_no_longer_sees_everyones_tasks_hears_nothing():
    # Followed while staff, then demoted: another user's failure must not reach them.
    follower = UserFactory(email="was-staff@example.com")
    Subscription.objects.create(user=follower, task_name="demo.fail")
    notify.notify_finished(task_id=failed().pk)
    assert mail.outbox == []


def test_a_webhook_that_cannot_be_sent_leaves_the_email_route_told(monkeypatch):
    # The window opens before anything is sent: one channel's error must not silence
    # the others, or the later summary would count a failure nobody heard of.
    RouteFactory(webhook=WebhookFactory())
    RouteFactory(emails="ops@example.com")

    def broker_down(**_):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(notify, "webhook_send", broker_down)
    notify.notify_finished(task_id=failed().pk)
    [email] = mail.outbox
    assert email.to == ["ops@example.com"]


def test_a_task_still_running_sends_nothing():
    user = UserFactory(email="bell@example.com")
    task = TaskFactory(running=True)
    Subscription.objects.create(user=user, task=task)
    assert notify.notify_finished(task_id=task.pk)["email"] == 0


def test_a_webhook_turned_private_is_refused_at_send_time(settings, receiver):
    hook = WebhookFactory(url=receiver.url)
    RouteFactory(webhook=hook)
    settings.TASKBOARD_WEBHOOK_ATTEMPTS = 1  # no retry: this test has no worker
    settings.TASKBOARD_WEBHOOK_ALLOW_PRIVATE = False
    notify.notify_finished(task_id=failed().pk)
    assert receiver.received == []
    [attempt] = WebhookAttempt.objects.all()
    assert attempt.status_code is None and "loopback" in attempt.error


def test_interest_reads_bells_on_tasks_in_flight_and_failure_names():
    user = UserFactory()
    running, done = TaskFactory(running=True), TaskFactory(completed=True)
    Subscription.objects.create(user=user, task=running)
    Subscription.objects.create(user=user, task=done)
    Subscription.objects.create(user=user, task_name="demo.fail")
    interest.forget()
    assert interest.wants(running.pk, "completed")
    assert not interest.wants(done.pk, "completed")
    assert interest.wants(TaskFactory().pk, "failed", "demo.fail")
    assert not interest.wants(TaskFactory().pk, "failed", "demo.quick")
    assert not interest.wants(TaskFactory().pk, "completed", "demo.fail")
    # The reconciler does not know the name: any interest in failures lets it through.
    assert interest.wants(TaskFactory().pk, "failed")


def test_interest_with_nothing_subscribed_wants_nothing_and_asks_no_query(
    django_assert_num_queries, settings
):
    settings.TASKBOARD_NOTIFY_REFRESH_SECONDS = 3600
    interest.forget()
    # The one reload: bells, then names and routes, in a savepoint of its own (the
    # test's transaction stands for the tracking write's).
    with django_assert_num_queries(4):
        assert not interest.wants(TaskFactory.build().pk, "failed", "demo.fail")
    with django_assert_num_queries(0):
        for _ in range(1000):
            assert not interest.wants(TaskFactory.build().pk, "failed", "demo.fail")


def test_a_failed_reload_never_costs_a_completion_its_write(monkeypatch, settings):
    # The reload runs inside the batched completion's transaction: a query that fails
    # there (a table missing, a lost connection) must leave the write to go through.
    task = TaskFactory(running=True)
    broken = Subscription.objects.extra(where=["no_such_column = 1"])
    monkeypatch.setattr(interest_module.Subscription, "objects", _Manager(broken))
    settings.TASKBOARD_NOTIFY_REFRESH_SECONDS = 3600
    interest.forget()
    tracking.track_succeeded_many(
        completions=[tracking.completion(task_id=task.pk, result=3, start=None)]
    )
    task.refresh_from_db()
    assert task.status == "completed"


class _Manager:
    """Stands for a model's manager whose every query is the one given."""

    def __init__(self, queryset):
        self.queryset = queryset

    def filter(self, **_):
        return self.queryset


@pytest.mark.django_db(transaction=True)
def test_racing_processes_open_one_window_and_count_every_failure():
    """Eight threads, each its own database connection, fail at once: one sends."""
    tasks = [failed(f"Timeout after {n}s") for n in range(8)]
    now = timezone.now()
    barrier = threading.Barrier(len(tasks))

    def fail(task):
        try:
            barrier.wait()
            return notify.open_window(task, now=now)
        finally:
            connection.close()

    with ThreadPoolExecutor(len(tasks)) as pool:
        opened = [w for w in pool.map(fail, tasks) if w is not None]
    assert len(opened) == 1
    assert NotificationWindow.objects.get().count == 8


def test_the_audit_page_shows_notification_changes(client, staff_user):
    client.force_login(staff_user)
    notify.webhook_create(actor=staff_user, name="pager", url="http://127.0.0.1:9/")
    html = client.get(reverse("taskboard:audit_list")).content.decode()
    assert "Notifications" in html and "pager" in html


def test_notification_deliveries_make_no_task_rows():
    # Housekeeping, like the reconciler: a delivery held for its window (a countdown)
    # would otherwise appear on the dashboard minutes later as a task of its own.
    names = [
        n for n in current_app.tasks if n.startswith(("taskboard.notify", "taskboard.webhook"))
    ]
    assert sorted(names) == [
        "taskboard.notify",
        "taskboard.notify_summaries",
        "taskboard.notify_summary",
        "taskboard.webhook_deliver",
    ]
    assert not any(signals.tracked(name) for name in names)
