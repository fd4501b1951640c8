"""Views: thin functions that parse, call a selector or service, and render."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def see_other(url: str) -> HttpResponseRedirect:
    """Redirect after a POST with 303, so the browser follows with a GET."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def redirect_after_post(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """Redirect after a POST: 303 for a browser, HX-Redirect for htmx (never a swapped page)."""
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return see_other(url)
