"""Launch catalog and per-task launch form (being built: issue 3)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tasks import registry


@login_required
def catalog(request: HttpRequest) -> HttpResponse:
    entries = [e for e in registry.all_launchables() if e.allowed_for(request.user)]
    return render(request, "launch/catalog.html", {"entries": entries})


@login_required
def launch(request: HttpRequest, name: str) -> HttpResponse:
    raise NotImplementedError
