"""Task table and the poll fragment (being built: issue 3)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tasks import selectors
from tasks.live import badges_for


@login_required
def task_list(request: HttpRequest) -> HttpResponse:
    tasks = list(selectors.visible_tasks(request.user).select_related("owner")[:50])
    badges, live = badges_for(tasks)
    rows = [(t, badges[str(t.pk)]) for t in tasks]
    return render(request, "tasks/list.html", {"rows": rows, "live": live})


@login_required
def task_status(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=204)
