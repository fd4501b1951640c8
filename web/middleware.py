from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect


class HtmxLoginRedirectMiddleware:
    """Turn a redirect to the login page into HX-Redirect for htmx requests.

    Otherwise htmx would follow the 302 and swap the login page into a fragment.
    The login page is the site's settings.LOGIN_URL (a host's own, maybe on another
    host), as ``login_required`` redirects to it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            getattr(request, "htmx", False)
            and response.status_code == 302
            and _is_login_url(response["Location"])
        ):
            return HttpResponseClientRedirect(response["Location"])
        return response


def _is_login_url(location: str) -> bool:
    """Return whether ``location`` is the login page, whatever its query (?next=...)."""
    login = urlsplit(resolve_url(settings.LOGIN_URL))
    target = urlsplit(location)
    return (target.scheme, target.netloc, target.path) == (login.scheme, login.netloc, login.path)
