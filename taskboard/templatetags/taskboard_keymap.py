"""The ``?`` overlay's list, drawn from taskboard/keymap.py for the page being rendered."""

from __future__ import annotations

from django import template

from taskboard.keymap import keys_for

register = template.Library()


@register.inclusion_tag("taskboard/partials/keyboard_help.html", takes_context=True)
def keyboard_help(context: template.Context) -> dict:
    """Return the keys that work on this page, for partials/keyboard_help.html."""
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    user = getattr(request, "user", None)
    return {
        "keys": keys_for(match.url_name if match else None, bool(user and user.is_authenticated))
    }
