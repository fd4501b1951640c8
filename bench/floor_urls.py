"""The floor: a bare Django view answering 204, served only by the bench's gunicorn."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path


def floor(request: HttpRequest) -> HttpResponse:
    """Answer 204 with nothing else to do."""
    return HttpResponse(status=204)


urlpatterns = [path("floor/", floor)]
