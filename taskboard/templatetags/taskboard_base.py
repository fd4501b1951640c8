"""Tags of the page skeleton (taskboard/layout.html)."""

from __future__ import annotations

from django import template
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch

from taskboard.conf import app_settings

register = template.Library()


@register.simple_tag
def taskboard_logout_url() -> str:
    """Return the host's logout URL (TASKBOARD_LOGOUT_URL), or "" when it has none."""
    if not app_settings.LOGOUT_URL:
        return ""
    try:
        return resolve_url(app_settings.LOGOUT_URL)
    except NoReverseMatch:
        return ""
