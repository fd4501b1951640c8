"""The floors: Django views answering 204, served only by the bench's gunicorn."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import path


def floor(request: HttpRequest) -> HttpResponse:
    """Answer 204 with nothing else to do."""
    return HttpResponse(status=204)


@login_required
def logged_in_floor(request: HttpRequest) -> HttpResponse:
    """Answer 204 once the session and its user are loaded, as every logged-in page does.

    login_required reads request.user.is_authenticated, which loads the session and
    then the user from the database; the pk is read as well so that the user is a
    real row, not the lazy object alone.
    """
    return HttpResponse(status=204, headers={"X-User": str(request.user.pk)})


urlpatterns = [path("floor/", floor), path("floor/user/", logged_in_floor)]
