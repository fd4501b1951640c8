"""A real worker: a failing task reaches a local webhook; a 500 is retried with backoff.

The failure's window is 2 s in the test settings (which the worker reads too): its one
message comes when that window closes.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.urls import reverse

from taskboard import services, webhooks
from taskboard.models import Task, WebhookAttempt
from taskboard.services import notify
from tests.conftest import wait_for
from tests.factories import RouteFactory, TaskFactory, WebhookFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_failing_task_posts_one_signed_webhook(celery_worker, user, receiver):
    hook = WebhookFactory(url=receiver.url)
    RouteFactory(webhook=hook)
    # The worker reloads what is subscribed to every TASKBOARD_NOTIFY_REFRESH_SECONDS
    # (0.5 s in the test settings, which the worker reads too): let it see the route.
    time.sleep(3 * settings.TASKBOARD_NOTIFY_REFRESH_SECONDS)

    task = services.task_launch(user=user, name="demo.fail", params={"message": "disk 7 full"})

    post = wait_for(lambda: receiver.received and receiver.received[0], message="the webhook")
    assert post.json["first_task"]["id"] == str(task.pk)
    assert post.json["count"] == 1
    assert post.json["error_type"] == "DemoFailure"
    assert post.json["message"].startswith("disk <n> full")
    assert webhooks.verify(
        hook.secret,
        post.headers[webhooks.TIMESTAMP_HEADER],
        post.body,
        post.headers[webhooks.SIGNATURE_HEADER],
    )
    wait_for(lambda: WebhookAttempt.objects.filter(status_code=200).exists(), message="attempt")


def test_a_completed_task_with_nobody_subscribed_posts_nothing(celery_worker, user, receiver):
    RouteFactory(webhook=WebhookFactory(url=receiver.url))
    time.sleep(3 * settings.TASKBOARD_NOTIFY_REFRESH_SECONDS)
    task = services.task_launch(user=user, name="demo.quick", params={"x": 1, "y": 2})
    wait_for(lambda: Task.objects.get(pk=task.pk).status == "completed", message="completed")
    # Launched only once the success is tracked (and its notification, had there been
    # one, queued ahead): the failure's post is the barrier after which none may come.
    failing = services.task_launch(user=user, name="demo.fail", params={"message": "after"})
    wait_for(lambda: receiver.received, message="the webhook")
    assert [p.json["first_task"]["id"] for p in receiver.received] == [str(failing.pk)]


def test_a_webhook_answering_500_is_retried_until_its_attempts_run_out(
    celery_worker, receiver, staff_user, client
):
    receiver.status = 500
    hook = WebhookFactory(url=receiver.url)
    RouteFactory(webhook=hook)
    task = TaskFactory(failed=True, name="demo.fail")

    notify.notify_finished(task_id=task.pk)  # the worker sends the window when it closes

    attempts = settings.TASKBOARD_WEBHOOK_ATTEMPTS
    wait_for(
        lambda: WebhookAttempt.objects.filter(webhook=hook).count() == attempts,
        message=f"{attempts} attempts",
    )
    rows = list(WebhookAttempt.objects.filter(webhook=hook).order_by("attempt"))
    assert [(a.attempt, a.status_code) for a in rows] == [(n, 500) for n in range(1, attempts + 1)]
    assert len({a.delivery for a in rows}) == 1
    assert len(receiver.received) == attempts
    # Each retry is signed afresh, with the same delivery id.
    assert len({p.headers[webhooks.DELIVERY_HEADER] for p in receiver.received}) == 1

    client.force_login(staff_user)
    page = client.get(reverse("taskboard:webhook_detail", args=[hook.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('class="attempt-status') == attempts
    assert "500" in html
