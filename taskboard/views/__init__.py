"""Views: thin functions that parse, call a selector or service, and render."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def see_other(url: str) -> HttpResponseRedirect:
    """Redirect after a POST with 303, so the browser follows with a GET."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def safe_next(request: HttpRequest, default: str) -> str:
    """Return the request's ``next`` (POST, else GET) if it is a URL of this site, else default."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def redirect_after_post(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """Redirect after a POST: 303 for a browser, HX-Redirect for htmx (never a swapped page)."""
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return see_other(url)


def dashboard_view(view: Callable) -> Callable:
    """``login_required`` for Taskboard's pages, asking nothing of the host's middleware.

    It gives the request django-htmx's ``request.htmx`` when the host has no
    HtmxMiddleware, and sends an anonymous htmx request (a poll whose session
    expired) to the host's login page with HX-Redirect: a 302 would be followed by
    htmx and the login page swapped into a fragment.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not hasattr(request, "htmx"):
            request.htmx = HtmxDetails(request)
        if not request.user.is_authenticated:
            to_login = redirect_to_login(request.get_full_path(), resolve_url(settings.LOGIN_URL))
            if request.htmx:
                return HttpResponseClientRedirect(to_login["Location"])
            return to_login
        return view(request, *args, **kwargs)

    return wrapped
