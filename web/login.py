"""The standalone site's login page: Django's view, with the demo account named when it exists."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views

from tasks import demo


class LoginView(auth_views.LoginView):
    """Log in; the page names the demo account (and its password) when the site has one."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["demo_account"] = demo.demo_account()
        return context
