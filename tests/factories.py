"""Rows for tests, made by factory-boy: a task in any state, and users.

``TaskFactory(owner=user)`` is a pending row; the traits give the other states with
the fields a real worker would have written (``TaskFactory(failed=True)``).
"""

from __future__ import annotations

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from taskboard.models import NotifyRoute, Status, Task, Webhook
from taskboard.webhooks import new_secret


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("factory-secret-pw")


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    name = "demo.quick"
    status = Status.PENDING
    kwargs = factory.LazyFunction(lambda: {"x": 1, "y": 2})

    class Params:
        running = factory.Trait(
            status=Status.RUNNING,
            attempts=1,
            worker="celery@test",
            started_at=factory.LazyFunction(timezone.now),
        )
        completed = factory.Trait(
            status=Status.COMPLETED,
            attempts=1,
            worker="celery@test",
            result=3,
            started_at=factory.LazyFunction(lambda: timezone.now() - timedelta(seconds=2)),
            finished_at=factory.LazyFunction(timezone.now),
        )
        failed = factory.Trait(
            status=Status.FAILED,
            attempts=1,
            worker="celery@test",
            error_type="DemoFailure",
            error_message="boom",
            traceback="Traceback (most recent call last):\nDemoFailure: boom",
            started_at=factory.LazyFunction(lambda: timezone.now() - timedelta(seconds=2)),
            finished_at=factory.LazyFunction(timezone.now),
        )
        cancelled = factory.Trait(
            status=Status.CANCELLED,
            finished_at=factory.LazyFunction(timezone.now),
        )


class WebhookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Webhook

    name = factory.Sequence(lambda n: f"hook {n}")
    url = "http://127.0.0.1:9/hook"
    secret = factory.LazyFunction(new_secret)


class RouteFactory(factory.django.DjangoModelFactory):
    """A route of demo.fail's failures; give ``webhook=`` or ``emails=``."""

    class Meta:
        model = NotifyRoute

    task_name = "demo.fail"
