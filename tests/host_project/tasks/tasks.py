"""The host's own tasks, launchable from Taskboard."""

from celery import shared_task

from taskboard import launchable
from tasks.forms import AddForm, FailForm


class HostFailure(RuntimeError):
    pass


@launchable(form=AddForm, title="Host: add two numbers", description="Returns x + y.")
@shared_task(name="hostproj.add")
def add(x, y):
    return x + y


@launchable(form=FailForm, title="Host: always fails", description="Raises HostFailure.")
@shared_task(name="hostproj.fail")
def fail(message):
    raise HostFailure(message)
