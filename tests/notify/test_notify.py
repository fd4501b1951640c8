"""The notify service in this process: what a finished task sends, grouped per window."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

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


def close_windows() -> int:
    """Send every window as its delayed task would once it has closed; return how many."""
    later = timezone.now() + timedelta(seconds=notify.window_seconds() + 5)
    return notify.send_due_windows(now=later)


def test_a_failure_sends_one_email_and_one_signed_webhook_when_its_window_closes(receiver):
    hook = WebhookFactory(url=receiver.url)
    RouteFactory(webhook=hook)
    RouteFactory(emails="ops@example.com\noncall@example.com")
    task = failed()

    assert notify.notify_finished(task_id=task.pk) == {"email": 0, "opened": 1, "counted": 0}
    window = NotificationWindow.objects.get()
    assert notify.send_window(key=window.key, now=window.closes_at - timedelta(seconds=1)) == {
        "email": 0,
        "webhook": 0,
        "windows": 0,
    }
    assert mail.outbox == [] and receiver.received == []

    sent = notify.send_window(key=window.key, now=window.closes_at)

    assert sent == {"email": 1, "webhook": 1, "windows": 1}
    [email] = mail.outbox
    assert email.to == ["ops@example.com", "oncall@example.com"]
    assert "1 failure:" in email.subject and "demo.fail" in email.subject
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
    assert post.json["first_task"]["id"] == str(task.pk)
    assert post.json["message"] == "Timeout after <n>s on <str>"
    [attempt] = WebhookAttempt.objects.all()
    assert (attempt.webhook, attempt.attempt, attempt.status_code) == (hook, 1, 200)
    assert str(attempt.delivery) == post.headers[webhooks.DELIVERY_HEADER]


def test_200_identical_failures_in_a_window_send_one_message_with_the_count(receiver):
    hook = WebhookFactory(url=receiver.url)
    RouteFactory(webhook=hook)
    RouteFactory(emails="ops@example.com")
    tasks = [failed(f"Timeout after {n}s on 'db{n}'") for n in range(200)]
    now = timezone.now()

    outcomes = [notify.open_window(task, now=now) for task in tasks]

    assert [o is not None for o in outcomes] == [True] + [False] * 199
    [window] = NotificationWindow.objects.all()
    assert window.count == 200 and window.first_task_id == tasks[0].pk
    # Nothing until the window has closed; then one message per channel, once.
    assert notify.send_due_windows(now=window.closes_at - timedelta(seconds=1)) == 0
    assert mail.outbox == [] and receiver.received == []
    assert notify.send_due_windows(now=window.closes_at) == 1
    assert notify.send_due_windows(now=window.closes_at + timedelta(minutes=5)) == 0
    assert notify.send_window(key=window.key, now=window.closes_at)["windows"] == 0
    assert len(mail.outbox) == 1 and len(receiver.received) == 1
    assert mail.outbox[0].subject.startswith("[Taskboard] 200 failures: demo.fail TimeoutError")
    assert receiver.received[0].json["count"] == 200


def test_a_sender_that_died_holding_a_window_is_followed_by_the_sweep():
    RouteFactory(emails="ops@example.com")
    notify.notify_finished(task_id=failed().pk)
    window = NotificationWindow.objects.get()
    # A sender claimed it and died before sending: the claim holds, then lapses.
    NotificationWindow.objects.update(claimed_until=window.closes_at + timedelta(minutes=10))
    assert notify.send_due_windows(now=window.closes_at + timedelta(minutes=9)) == 0
    assert notify.send_due_windows(now=window.closes_at + timedelta(minutes=10)) == 1
    assert len(mail.outbox) == 1
    window.refresh_from_db()
    assert window.sent_at is not None


def test_different_groups_and_the_next_window_send_again():
    RouteFactory(emails="ops@example.com")
    notify.notify_finished(task_id=failed("Timeout after 3s").pk)
    notify.notify_finished(task_id=failed("Disk full on /var/lib/x").pk)
    assert close_windows() == 2
    assert len(mail.outbox) == 2

    later = timezone.now() + timedelta(seconds=notify.window_seconds() + 1)
    assert notify.open_window(failed("Timeout after 9s"), now=later) is not None


def test_open_window_counts_the_second_failure_of_a_group(settings):
    settings.TASKBOARD_NOTIFY_WINDOW_SECONDS = 60
    now = timezone.now()
    first = notify.open_window(failed("Timeout after 1s"), now=now)
    assert first is not None
    assert (first.opened_at, first.closes_at) == (now, now + timedelta(seconds=60))
    assert notify.open_window(failed("Timeout after 2s"), now=now) is None
    first.refresh_from_db()
    assert first.count == 2


def test_a_storm_shorter_than_a_window_is_one_window_wherever_it_starts(settings):
    # A window opens at the first failure: a storm that starts a second before a
    # minute's edge and goes on past it is still one message.
    settings.TASKBOARD_NOTIFY_WINDOW_SECONDS = 60
    edge = datetime.fromtimestamp(int(timezone.now().timestamp()) // 60 * 60 + 60, tz=UTC)
    start = edge - timedelta(seconds=1)
    times = [start + timedelta(seconds=n) for n in range(59)]
    opened = [notify.open_window(failed(f"Timeout after {n}s"), now=t) for n, t in enumerate(times)]
    assert [w is not None for w in opened] == [True] + [False] * 58
    window = NotificationWindow.objects.get()
    assert window.count == 59 and window.opened_at == start
    # The first failure after it closed opens the next one.
    assert notify.open_window(failed("Timeout after 99s"), now=window.closes_at) is not None
    assert notify.send_due_windows(now=window.closes_at) == 1
    assert mail.outbox == []  # nobody routed in this test: sent to no one, marked sent


def test_the_group_key_masks_what_varies_and_keeps_what_does_not():
    def key(name: str, error_type: str, message: str, owner_id=None) -> str:
        # As open_window keys a failure: its message normalised first.
        return notify.group_key(name, error_type, normalise_message(message), owner_id)

    assert key("a", "E", "disk 7 full, 30s on 'db1'") == key("a", "E", "disk 9 full, 5s on 'db7'")
    assert key("a", "E", "disk 7 full") != key("a", "E", "network down")
    assert key("a", "E", "disk 7 full") != key("b", "E", "disk 7 full")
    assert key("a", "E", "disk 7 full") != key("a", "F", "disk 7 full")
    assert key("a", "E", "disk 7 full") != key("a", "E", "disk 7 full", owner_id=7)


def test_routes_for_other_names_and_disabled_ones_send_nothing():
    RouteFactory(task_name="demo.other", emails="ops@example.com")
    RouteFactory(emails="ops@example.com", enabled=False)
    assert notify.notify_finished(task_id=failed().pk) == {"email": 0, "opened": 0, "counted": 0}
    assert not mail.outbox and not NotificationWindow.objects.exists()


def test_a_route_of_any_task_takes_every_name():
    RouteFactory(task_name="", emails="ops@example.com")
    notify.notify_finished(task_id=failed().pk)
    assert close_windows() == 1
    assert len(mail.outbox) == 1


def test_the_bell_tells_its_user_at_once_and_a_name_follower_when_the_window_closes():
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
    assert mail.outbox == []
    close_windows()
    [email] = mail.outbox
    assert email.to == ["name@example.com"] and "1 failure" in email.subject


def test_a_follower_who_sees_only_their_tasks_hears_of_their_own_failures_only():
    follower = UserFactory(email="plain@example.com")
    staff = UserFactory(email="staff@example.com", is_staff=True)
    Subscription.objects.create(user=follower, task_name="demo.fail")
    Subscription.objects.create(user=staff, task_name="demo.fail")
    others = [failed(f"Timeout after {n}s") for n in range(3)]
    own = [failed(f"Timeout after {n}s", owner=follower) for n in range(2)]
    now = timezone.now()

    for task in others + own:
        notify.notify_finished(task_id=task.pk, now=now)

    # Everyone's window (5 failures) for the staff follower; the owner's (2) for them.
    assert close_windows() == 2
    told = {email.to[0]: email for email in mail.outbox}
    assert sorted(told) == ["plain@example.com", "staff@example.com"]
    assert told["staff@example.com"].subject.startswith("[Taskboard] 5 failures")
    assert told["plain@example.com"].subject.startswith("[Taskboard] 2 failures")
    assert "of your own tasks" in told["plain@example.com"].body
    assert not any(str(task.pk) in told["plain@example.com"].body for task in others)


def test_a_follower_of_a_name_hears_nothing_of_other_peoples_failures():
    # Followed while staff, then demoted, or never staff: another user's failure
    # opens no window for them and reaches no one.
    follower = UserFactory(email="was-staff@example.com")
    Subscription.objects.create(user=follower, task_name="demo.fail")
    assert notify.notify_finished(task_id=failed().pk)["opened"] == 0
    assert close_windows() == 0
    assert mail.outbox == []


def test_a_follower_demoted_before_the_window_closes_hears_nothing_of_it():
    follower = UserFactory(email="staff@example.com", is_staff=True)
    Subscription.objects.create(user=follower, task_name="demo.fail")
    notify.notify_finished(task_id=failed().pk)
    follower.is_staff = False
    follower.save()
    assert close_windows() == 1
    assert mail.outbox == []


def test_a_webhook_that_cannot_be_sent_leaves_the_email_route_told(monkeypatch):
    # The window is claimed before anything is sent: one channel's error must not
    # silence the others.
    RouteFactory(webhook=WebhookFactory())
    RouteFactory(emails="ops@example.com")

    def broker_down(**_):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(notify, "webhook_send", broker_down)
    notify.notify_finished(task_id=failed().pk)
    close_windows()
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
    close_windows()
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
        "taskboard.notify_window",
        "taskboard.notify_windows",
        "taskboard.webhook_deliver",
    ]
    assert not any(signals.tracked(name) for name in names)
