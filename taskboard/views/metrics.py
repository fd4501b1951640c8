"""Prometheus /metrics: staff sessions, or the bearer token Prometheus is given."""

from __future__ import annotations

import hmac

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from taskboard import metrics, permissions
from taskboard.conf import app_settings


def _token_ok(request: HttpRequest) -> bool | None:
    """Return whether the bearer token matches; None when the request carries none."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    expected = app_settings.METRICS_TOKEN
    # An unset token never matches, not even an empty one.
    return bool(
        expected
        and scheme.lower() == "bearer"
        and hmac.compare_digest(token.strip().encode(), expected.encode())
    )


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Expose Taskboard's metrics in the Prometheus text format."""
    token = _token_ok(request)
    if token is False or (token is None and not request.user.is_authenticated):
        response = HttpResponse("Authentication required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="taskboard-metrics"'
        return response
    if token is None and not permissions.can_view_all(request.user):
        return HttpResponse("Staff only.\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(metrics.registry()), content_type=CONTENT_TYPE_LATEST)
