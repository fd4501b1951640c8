"""Notifications: send what a finished task's subscribers and the staff routes ask for.

Runs in the ``taskboard.notify`` Celery task, never in the tracking signal handlers
(taskboard/worker/interest.py only enqueues). Failures are grouped as the failures
page groups them (name, error type, normalised message): the failures of a group in
a window of TASKBOARD_NOTIFY_WINDOW_SECONDS are counted, and one message with the
count goes out when the window closes. A bell (one task) is told at once.
docs/operations.md, "Notifications", describes the channels and the signing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from celery import current_app
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Subquery
from django.utils import timezone

from taskboard import permissions, webhooks
from taskboard.conf import app_settings
from taskboard.failures import normalise_message
from taskboard.models import (
    COMPLETED,
    FAILED,
    AuditLog,
    NotificationWindow,
    NotifyRoute,
    Subscription,
    Task,
    Webhook,
    WebhookAttempt,
)
from taskboard.services.audit import audit_record
from taskboard.services.launch import ActionNotAllowed

logger = logging.getLogger(__name__)

DELIVER_TASK = "taskboard.webhook_deliver"
WINDOW_TASK = "taskboard.notify_window"
# How long a sender holds a window before the sweep may take it over (a crashed one).
CLAIM_SECONDS = 600


# --- subscriptions and staff configuration --------------------------------------


def subscription_toggle(*, user, task: Task) -> bool:
    """Subscribe ``user`` to ``task`` (the bell), or unsubscribe; return whether now on.

    A finished task's bell only goes off: it would never ring (ActionNotAllowed).
    """
    deleted, _ = Subscription.objects.filter(user=user, task=task).delete()
    if deleted:
        return False
    if task.is_terminal:
        raise ActionNotAllowed("This task has already finished: there is nothing left to hear.")
    Subscription.objects.get_or_create(user=user, task=task)
    return True


def subscribe_name(*, user, task_name: str) -> Subscription:
    """Subscribe ``user`` to failures of the tasks named ``task_name``.

    What they hear is what they may see: permissions.hears_every_failure.
    """
    subscription, _ = Subscription.objects.get_or_create(user=user, task=None, task_name=task_name)
    return subscription


def unsubscribe(*, subscription: Subscription) -> None:
    """Delete one of a user's subscriptions (the caller fetched it as theirs)."""
    subscription.delete()


def _audit(actor, note: str) -> None:
    # Configuration changes touch no task: the entry is an "ops" note with no ids.
    audit_record(actor=actor, action=AuditLog.NOTIFY, task_ids=[], note=note)


def webhook_create(*, actor, name: str, url: str) -> Webhook:
    """Create a webhook with a fresh secret, after checking its URL (raises UnsafeURL)."""
    _require_staff(actor)
    webhooks.check_url(url)
    hook = Webhook.objects.create(
        name=name, url=url, secret=webhooks.new_secret(), created_by=actor
    )
    # The host only: many webhook URLs carry their token in the path.
    _audit(actor, f"webhook “{name}” created (to {urlsplit(url).hostname})")
    return hook


def webhook_set_enabled(*, actor, webhook: Webhook, enabled: bool) -> None:
    """Enable or disable a webhook (a disabled one is skipped, its routes kept)."""
    _require_staff(actor)
    Webhook.objects.filter(pk=webhook.pk).update(enabled=enabled)
    webhook.enabled = enabled
    _audit(actor, f"webhook “{webhook.name}” {'enabled' if enabled else 'disabled'}")


def webhook_delete(*, actor, webhook: Webhook) -> None:
    """Delete a webhook, its routes and its attempts."""
    _require_staff(actor)
    name = webhook.name
    webhook.delete()
    _audit(actor, f"webhook “{name}” deleted")


def route_create(
    *, actor, task_name: str, emails: list[str], webhook: Webhook | None
) -> NotifyRoute:
    """Route failures of ``task_name`` (empty: any task) to ``emails`` or ``webhook``."""
    _require_staff(actor)
    route = NotifyRoute.objects.create(
        task_name=task_name, emails="\n".join(emails), webhook=webhook
    )
    _audit(actor, f"route created: failures of {route}")
    return route


def route_set_enabled(*, actor, route: NotifyRoute, enabled: bool) -> None:
    """Enable or disable a route."""
    _require_staff(actor)
    NotifyRoute.objects.filter(pk=route.pk).update(enabled=enabled)
    route.enabled = enabled
    _audit(actor, f"route {'enabled' if enabled else 'disabled'}: {route}")


def route_delete(*, actor, route: NotifyRoute) -> None:
    """Delete a route."""
    _require_staff(actor)
    label = str(route)
    route.delete()
    _audit(actor, f"route deleted: {label}")


def _require_staff(actor) -> None:
    if not permissions.can_manage_notifications(actor):
        raise PermissionError("Only staff may change notification routes and webhooks.")


# --- what a finished task sends --------------------------------------------------


def notify_finished(*, task_id, now: datetime | None = None) -> dict[str, int]:
    """Tell the bells of the finished ``task_id`` now; count a failure in its windows.

    Return the bell emails sent, the windows this failure opened (each is sent with its
    count when it closes) and the windows it was only counted in. ``now`` is when the
    failure is counted (the present by default).
    """
    outcome = {"email": 0, "opened": 0, "counted": 0}
    task = (
        Task.objects.filter(pk=task_id, status__in=(COMPLETED, FAILED))
        .only("id", "name", "status", "error_type", "error_message", "owner_id")
        .first()
    )
    if task is None:
        return outcome
    told: set[int] = set()
    for sub in Subscription.objects.filter(task=task).select_related("user"):
        told.add(sub.user_id)
        outcome["email"] += _email([sub.user.email], *_bell_message(task))
    if task.status != FAILED:
        return outcome
    for owner_id in _scopes(task, told):
        window = open_window(task, owner_id=owner_id, now=now)
        if window is None:
            outcome["counted"] += 1
            continue
        outcome["opened"] += 1
        # Sent when the window closes: a delayed task now, and the beat sweep
        # (send_due_windows) for a window whose delayed task was lost.
        seconds = max(0.0, (window.closes_at - timezone.now()).total_seconds())
        transaction.on_commit(
            partial(current_app.send_task, WINDOW_TASK, args=[window.key], countdown=seconds + 1)
        )
    return outcome


def _scopes(task: Task, told: set[int]) -> list[int | None]:
    """Return the windows a failure of ``task`` counts in: None, or an owner's id.

    None is everyone's failures of the group, for the staff routes and the followers
    who see every task. An owner's id is that owner's own failures, for their follow
    of the name when they see only their own tasks (and did not ring this task's bell:
    they were just told).
    """
    scopes: list[int | None] = []
    followers = _following(task.name)
    if _routes(task.name) or any(permissions.hears_every_failure(s.user) for s in followers):
        scopes.append(None)
    if any(
        sub.user_id == task.owner_id
        and sub.user_id not in told
        and not permissions.hears_every_failure(sub.user)
        for sub in followers
    ):
        scopes.append(task.owner_id)
    return scopes


def window_seconds() -> int:
    """Return the length of a failure group's window (TASKBOARD_NOTIFY_WINDOW_SECONDS)."""
    return max(1, int(app_settings.NOTIFY_WINDOW_SECONDS))


def window_words(seconds: float | None = None) -> str:
    """Return a window's length as the pages and messages say it ("5-minute")."""
    seconds = round(window_seconds() if seconds is None else seconds)
    return f"{seconds // 60}-minute" if seconds % 60 == 0 else f"{seconds}-second"


def group_key(name: str, error_type: str, message: str, owner_id: int | None = None) -> str:
    """Return the key of a failure group (``message`` normalised), for one scope.

    ``owner_id`` keys one owner's own failures of the group (None: everyone's).
    """
    owner = "" if owner_id is None else str(owner_id)
    raw = "\x1f".join((name, error_type, message, owner))
    return hashlib.sha256(raw.encode()).hexdigest()


def open_window(
    task: Task, *, owner_id: int | None = None, now: datetime | None = None
) -> NotificationWindow | None:
    """Count this failure in its group's open window, or open one at this moment.

    Return the new window when this failure opened it (the caller has it sent when it
    closes, one window length later), else None (counted). A window opens at its first
    failure, so a storm shorter than a window is one message, wherever it falls.

    Race-safe across processes: a window's unique key is its group and the window
    length's slot its first failure fell in, so of two first failures at one moment
    one INSERT succeeds and the other counts in it. Two first failures a moment apart
    on either side of a slot's edge both open one (two messages, never none); later
    failures count in the earlier.
    """
    now = now or timezone.now()
    seconds = window_seconds()
    message = normalise_message(task.error_message)
    group = group_key(task.name, task.error_type, message, owner_id)
    # One statement: the earliest window of the group still open at ``now``.
    earliest = (
        NotificationWindow.objects.filter(group=group, opened_at__lte=now, closes_at__gt=now)
        .order_by("opened_at")
        .values("pk")[:1]
    )
    if NotificationWindow.objects.filter(pk__in=Subquery(earliest)).update(count=F("count") + 1):
        return None
    slot = int(now.timestamp()) // seconds
    key = hashlib.sha256(f"{group}\x1f{slot}".encode()).hexdigest()
    try:
        with transaction.atomic():
            return NotificationWindow.objects.create(
                key=key,
                group=group,
                task_name=task.name,
                error_type=task.error_type,
                message=message,
                owner_id=owner_id,
                opened_at=now,
                closes_at=now + timedelta(seconds=seconds),
                first_task_id=task.pk,
            )
    except IntegrityError:
        NotificationWindow.objects.filter(key=key).update(count=F("count") + 1)
        return None


def send_window(*, key: str, now: datetime | None = None) -> dict[str, int]:
    """Send a closed window's one message, with its count; return what went out.

    Claimed by a conditional UPDATE, so one process sends it; the claim lapses after
    CLAIM_SECONDS, so a sender that died before marking it sent is followed by the
    sweep (a message may then go twice, never not at all).
    """
    now = now or timezone.now()
    sent = {"email": 0, "webhook": 0, "windows": 0}
    claimed = (
        NotificationWindow.objects.filter(key=key, sent_at__isnull=True, closes_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    )
    if not claimed:
        return sent
    window = NotificationWindow.objects.get(key=key)
    named, routes = _recipients(window)
    subject, text = _failure_message(window)
    _fan_out(sent, named, routes, subject, text, _payload(window))
    NotificationWindow.objects.filter(key=key).update(sent_at=timezone.now())
    sent["windows"] = 1
    return sent


def send_due_windows(*, now: datetime | None = None) -> int:
    """Send every closed window not sent yet (nor being sent); return how many."""
    now = now or timezone.now()
    keys = (
        NotificationWindow.objects.filter(sent_at__isnull=True, closes_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .values_list("key", flat=True)
    )
    return sum(send_window(key=key, now=now)["windows"] for key in list(keys[:500]))


def _following(task_name: str) -> list[Subscription]:
    return list(
        Subscription.objects.filter(task__isnull=True, task_name=task_name).select_related("user")
    )


def _routes(task_name: str) -> list[NotifyRoute]:
    return list(
        NotifyRoute.objects.filter(Q(task_name=task_name) | Q(task_name=""), enabled=True)
        .select_related("webhook")
        .order_by("pk")
    )


def _recipients(window: NotificationWindow) -> tuple[list[Subscription], list[NotifyRoute]]:
    """Return who hears of ``window`` now: its followers and, for everyone's, the routes.

    Read when sending: a follower who left, or whose view of the tasks changed since
    the failure, hears only what they may see now.
    """
    followers = [sub for sub in _following(window.task_name) if sub.user.is_active]
    if window.owner_id is not None:
        # The owner's own failures: to the owner alone, unless they now hear everyone's.
        return [
            sub
            for sub in followers
            if sub.user_id == window.owner_id and not permissions.hears_every_failure(sub.user)
        ], []
    named = [sub for sub in followers if permissions.hears_every_failure(sub.user)]
    return named, _routes(window.task_name)


def _fan_out(sent, named, routes, subject: str, text: str, payload: dict) -> None:
    for sub in named:
        sent["email"] += _email([sub.user.email], subject, text)
    body = json.dumps(payload, sort_keys=True).encode()
    for route in routes:
        if route.webhook_id:
            if route.webhook.enabled and _webhook(route.webhook, body):
                sent["webhook"] += 1
        elif route.email_list:
            sent["email"] += _email(route.email_list, subject, text)


def _webhook(webhook: Webhook, body: bytes) -> bool:
    """Send ``body`` to ``webhook``; False (logged) if even its first attempt could not start."""
    try:
        webhook_send(webhook=webhook, body=body)
    except Exception:
        # The window is claimed: the other channels must still be told.
        logger.exception("notify: webhook %s could not be sent to", webhook.pk)
        return False
    return True


def _email(addresses: list[str], subject: str, text: str) -> int:
    addresses = [address for address in addresses if address]
    if not addresses:
        return 0
    try:
        return send_mail(subject, text, app_settings.NOTIFY_FROM_EMAIL or None, addresses)
    except Exception:
        # One unreachable mail server must not keep the webhooks from being called.
        logger.exception("notify: email to %s failed", addresses)
        return 0


def _bell_message(task: Task) -> tuple[str, str]:
    verb = "completed" if task.status == COMPLETED else "failed"
    subject = f"[Taskboard] {task.name} {verb}"
    text = f"The task {task.name} ({task.pk}) {verb}."
    if task.status == FAILED:
        text += f"\n\n{task.error_type}: {task.error_message[:1000]}"
    return subject, text


def _failure_message(window: NotificationWindow) -> tuple[str, str]:
    what = f"{window.task_name} {window.error_type or 'Error'}: {window.message[:200]}"
    count = window.count
    failures = "1 failure" if count == 1 else f"{count} failures"
    whose = "" if window.owner_id is None else " of your own tasks"
    length = window_words((window.closes_at - window.opened_at).total_seconds())
    subject = f"[Taskboard] {failures}: {what}"[:250]
    text = (
        f"{failures} of {window.task_name}{whose} in the {length} window "
        f"that closed at {window.closes_at.isoformat()}; the first was task "
        f"{window.first_task_id}.\n\n{what}"
    )
    return subject, text


def _payload(window: NotificationWindow) -> dict[str, Any]:
    return {
        "event": "task.failed",
        "task_name": window.task_name,
        "error_type": window.error_type,
        "message": window.message,
        "count": window.count,
        "window": {
            "opened_at": window.opened_at.isoformat(),
            "closes_at": window.closes_at.isoformat(),
        },
        "first_task": {"id": str(window.first_task_id)},
    }


# --- webhook delivery -----------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a redirect could point a checked URL at a refused address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def webhook_send(*, webhook: Webhook, body: bytes) -> bool:
    """Make the first attempt of a new delivery; schedule the retries if it failed."""
    delivery = uuid.uuid4()
    if webhook_attempt(webhook_id=webhook.pk, delivery=delivery, body=body, attempt=1):
        return True
    schedule_retry(webhook_id=webhook.pk, delivery=delivery, body=body, attempt=2)
    return False


def schedule_retry(*, webhook_id: int, delivery, body: bytes, attempt: int) -> bool:
    """Enqueue attempt number ``attempt`` with backoff; return False when none is left."""
    if attempt > app_settings.WEBHOOK_ATTEMPTS:
        return False
    countdown = float(app_settings.WEBHOOK_BACKOFF) * 2 ** (attempt - 2)
    current_app.send_task(
        DELIVER_TASK,
        args=[webhook_id, str(delivery), body.decode(), attempt],
        countdown=countdown,
    )
    return True


def webhook_redeliver(*, webhook_id: int, delivery: str, body: str, attempt: int) -> bool:
    """Make a retry attempt; enqueue the next one if it failed. Return whether it succeeded."""
    data = body.encode()
    if webhook_attempt(webhook_id=webhook_id, delivery=delivery, body=data, attempt=attempt):
        return True
    schedule_retry(webhook_id=webhook_id, delivery=delivery, body=data, attempt=attempt + 1)
    return False


def webhook_attempt(*, webhook_id: int, delivery, body: bytes, attempt: int) -> bool:
    """POST ``body`` once to the webhook, record the attempt; return whether it succeeded.

    A deleted or disabled webhook counts as done (nothing is sent, nothing retried).
    """
    webhook = Webhook.objects.filter(pk=webhook_id, enabled=True).first()
    if webhook is None:
        return True
    status, error = _post(webhook, body, str(delivery))
    WebhookAttempt.objects.create(
        webhook=webhook, delivery=delivery, attempt=attempt, status_code=status, error=error[:500]
    )
    return status is not None and 200 <= status < 300


def _post(webhook: Webhook, body: bytes, delivery: str) -> tuple[int | None, str]:
    try:
        # Checked again at send time: the name may resolve elsewhere since it was saved.
        webhooks.check_url(webhook.url)
    except webhooks.UnsafeURL as exc:
        return None, str(exc)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Taskboard-Webhook/1",
        webhooks.DELIVERY_HEADER: delivery,
        **webhooks.signed_headers(webhook.secret, body),
    }
    request = urllib.request.Request(webhook.url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=app_settings.WEBHOOK_TIMEOUT) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
