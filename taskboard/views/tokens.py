"""A user's own API tokens: list them, create one (its key shown once), revoke one."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from taskboard import selectors, tokens
from taskboard.models import ApiToken
from taskboard.views import HtmxHttpRequest, dashboard_view, see_other


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What will use it, to tell tokens apart: “CI”, “backup script”.",
    )


def _render(
    request: HtmxHttpRequest, form: TokenForm | None = None, status: int = 200, **extra
) -> HttpResponse:
    context = {
        "tokens": selectors.api_tokens(user=request.user),
        "form": form or TokenForm(),
        "max_tokens": tokens.MAX_PER_USER,
        "api_url": request.build_absolute_uri(reverse("taskboard:api_task_list")),
        **extra,
    }
    template = "taskboard/account/tokens.html"
    if request.htmx:
        template += "#tokens"
    return render(request, template, context, status=status)


def _label(token: ApiToken) -> str:
    return f"“{token.name}” ({token.prefix}…)" if token.name else f"{token.prefix}…"


@dashboard_view
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@never_cache  # the POST answer holds a key that must not stay in any cache
def token_list(request: HtmxHttpRequest) -> HttpResponse:
    """List the user's tokens (GET), or create one and show its key this once (POST)."""
    if request.method == "GET":
        return _render(request)
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            token, key = tokens.token_create(user=request.user, name=form.cleaned_data["name"])
        except tokens.TooManyTokens as exc:
            form.add_error(None, str(exc))
        else:
            return _render(request, new_token=token, new_key=key)
    # 422 lets htmx tell a refused form from a creation; a full page stays a plain 200.
    return _render(request, form, status=422 if request.htmx else 200)


@dashboard_view
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def token_revoke(request: HtmxHttpRequest, token_id: int) -> HttpResponse:
    """Ask to confirm (GET), or revoke one of the user's own tokens (POST)."""
    token = selectors.api_token_get(user=request.user, token_id=token_id)
    if request.method == "GET":
        return render(request, "taskboard/account/token_revoke.html", {"token": token})
    tokens.token_revoke(token=token)
    notice = f"Revoked {_label(token)}: its key is refused from now on."
    if request.htmx:
        return _render(request, notice=notice)
    messages.success(request, notice)
    return see_other(reverse("taskboard:token_list"))
