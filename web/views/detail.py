"""Task detail and its actions: retry, cancel, download (being built: issue 3)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from tasks import selectors
from tasks.live import badges_for


@login_required
def task_detail(request: HttpRequest, task_id) -> HttpResponse:
    task = selectors.task_get(user=request.user, task_id=task_id)
    badges, live = badges_for([task])
    context = {"task": task, "badge": badges[str(task.pk)], "live": live}
    return render(request, "tasks/detail.html", context)


@require_POST
@login_required
def task_retry(request: HttpRequest, task_id) -> HttpResponse:
    raise NotImplementedError


@require_POST
@login_required
def task_cancel(request: HttpRequest, task_id) -> HttpResponse:
    raise NotImplementedError


@login_required
def task_download(request: HttpRequest, task_id) -> HttpResponse:
    raise NotImplementedError
