"""Notifications: a user's subscriptions, and the staff pages of failure routes and webhooks."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from taskboard import permissions, registry, selectors
from taskboard.forms import NameForm, RouteForm, WebhookForm
from taskboard.live import badges_for
from taskboard.services import notify
from taskboard.views import HtmxHttpRequest, dashboard_view, redirect_after_post, see_other


def _task_names(user) -> list[str]:
    """Return the names to suggest: the launchable tasks ``user`` may launch."""
    return sorted(entry.name for entry in registry.all_launchables() if entry.allowed_for(user))


def _require_staff(request: HtmxHttpRequest) -> None:
    if not permissions.can_manage_notifications(request.user):
        raise PermissionDenied("Only staff manage notification routes and webhooks.")


def _page(
    request: HtmxHttpRequest, template: str, context: dict, partial: str, status: int = 200
) -> HttpResponse:
    if request.htmx:
        template += f"#{partial}"
    return render(request, template, context, status=status)


def _refused_status(request: HtmxHttpRequest) -> int:
    # 422 lets htmx tell a refused form from a success; a full page stays a plain 200.
    return 422 if request.htmx else 200


# --- a user's own subscriptions ---------------------------------------------------


def _render_subscriptions(
    request: HtmxHttpRequest, form: NameForm | None = None, status: int = 200, **extra
) -> HttpResponse:
    subscriptions = list(selectors.subscriptions(user=request.user))
    # A bell's task is shown as it is now: its live badge, as the table shows it.
    badges, _ = badges_for(sub.task for sub in subscriptions if sub.task)
    context = {
        "subscriptions": [(sub, sub.task and badges[str(sub.task.pk)]) for sub in subscriptions],
        "form": form or NameForm(),
        "task_names": _task_names(request.user),
        "window_length": notify.window_words(),
        **extra,
    }
    return _page(request, "taskboard/notify/list.html", context, "subscriptions", status)


@dashboard_view
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def notification_list(request: HtmxHttpRequest) -> HttpResponse:
    """List the user's subscriptions (GET), or subscribe to failures of a task name (POST)."""
    if request.method == "GET":
        return _render_subscriptions(request)
    form = NameForm(request.POST)
    if not form.is_valid():
        return _render_subscriptions(request, form, status=_refused_status(request))
    name = form.cleaned_data["task_name"]
    notify.subscribe_name(user=request.user, task_name=name)
    notice = f"Subscribed to failures of {name}."
    if request.htmx:
        return _render_subscriptions(request, notice=notice)
    messages.success(request, notice)
    return see_other(reverse("taskboard:notification_list"))


@dashboard_view
@require_POST
@vary_on_headers("HX-Request")
def subscription_delete(request: HtmxHttpRequest, subscription_id: int) -> HttpResponse:
    """Unsubscribe: delete one of the user's own subscriptions (another's is a 404)."""
    subscription = selectors.subscription_get(user=request.user, subscription_id=subscription_id)
    notify.unsubscribe(subscription=subscription)
    notice = "Unsubscribed."
    if request.htmx:
        return _render_subscriptions(request, notice=notice)
    messages.success(request, notice)
    return see_other(reverse("taskboard:notification_list"))


# --- staff: failure routes ---------------------------------------------------------


def _render_routes(
    request: HtmxHttpRequest, form: RouteForm | None = None, status: int = 200, **extra
) -> HttpResponse:
    context = {
        "routes": selectors.notify_routes(),
        "form": form or RouteForm(),
        "task_names": _task_names(request.user),
        "window_length": notify.window_words(),
        **extra,
    }
    return _page(request, "taskboard/notify/routes.html", context, "routes", status)


@dashboard_view
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def route_list(request: HtmxHttpRequest) -> HttpResponse:
    """List the failure routes (GET), or add one (POST). Staff only."""
    _require_staff(request)
    if request.method == "GET":
        return _render_routes(request)
    form = RouteForm(request.POST)
    if not form.is_valid():
        return _render_routes(request, form, status=_refused_status(request))
    route = notify.route_create(
        actor=request.user,
        task_name=form.cleaned_data["task_name"],
        emails=form.cleaned_data["emails"],
        webhook=form.cleaned_data["webhook"],
    )
    notice = f"Route added: failures of {route}."
    if request.htmx:
        return _render_routes(request, notice=notice)
    messages.success(request, notice)
    return see_other(reverse("taskboard:route_list"))


@dashboard_view
@require_POST
@vary_on_headers("HX-Request")
def route_act(request: HtmxHttpRequest, route_id: int) -> HttpResponse:
    """Enable, disable or delete a route (``action`` in the POST). Staff only."""
    _require_staff(request)
    route = selectors.notify_route_get(route_id=route_id)
    action = request.POST.get("action")
    if action == "delete":
        notify.route_delete(actor=request.user, route=route)
        notice = "Route deleted."
    elif action in ("enable", "disable"):
        notify.route_set_enabled(actor=request.user, route=route, enabled=action == "enable")
        notice = f"Route {action}d."
    else:
        return HttpResponse("Unknown action.", status=400)
    if request.htmx:
        return _render_routes(request, notice=notice)
    messages.success(request, notice)
    return see_other(reverse("taskboard:route_list"))


# --- staff: webhooks ---------------------------------------------------------------


def _render_webhooks(
    request: HtmxHttpRequest, form: WebhookForm | None = None, status: int = 200, **extra
) -> HttpResponse:
    context = {"webhooks": selectors.webhook_list(), "form": form or WebhookForm(), **extra}
    return _page(request, "taskboard/notify/webhooks.html", context, "webhooks", status)


@dashboard_view
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def webhook_list(request: HtmxHttpRequest) -> HttpResponse:
    """List the webhooks (GET), or create one (POST): its page then shows its secret."""
    _require_staff(request)
    if request.method == "GET":
        return _render_webhooks(request)
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _render_webhooks(request, form, status=_refused_status(request))
    hook = notify.webhook_create(
        actor=request.user, name=form.cleaned_data["name"], url=form.cleaned_data["url"]
    )
    messages.success(request, f"Webhook “{hook.name}” created: its secret is below.")
    return redirect_after_post(request, reverse("taskboard:webhook_detail", args=[hook.pk]))


@dashboard_view
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@never_cache  # the page shows the webhook's secret
def webhook_detail(request: HtmxHttpRequest, webhook_id: int) -> HttpResponse:
    """Show a webhook, its secret and its attempts (GET); enable, disable, delete (POST)."""
    _require_staff(request)
    hook = selectors.webhook_get(webhook_id=webhook_id)
    notice = ""
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "delete":
            notify.webhook_delete(actor=request.user, webhook=hook)
            messages.success(request, f"Webhook “{hook.name}” deleted.")
            return redirect_after_post(request, reverse("taskboard:webhook_list"))
        if action not in ("enable", "disable"):
            return HttpResponse("Unknown action.", status=400)
        notify.webhook_set_enabled(actor=request.user, webhook=hook, enabled=action == "enable")
        notice = f"Webhook {action}d."
        if not request.htmx:
            messages.success(request, notice)
            return see_other(reverse("taskboard:webhook_detail", args=[hook.pk]))
    context = {
        "webhook": hook,
        "attempts": selectors.webhook_attempts(webhook=hook),
        "notice": notice,
    }
    return _page(request, "taskboard/notify/webhook.html", context, "webhook")
