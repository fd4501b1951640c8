"""HTTP: the bell, the notifications page, and the staff pages of routes and webhooks."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from taskboard.models import AuditLog, NotifyRoute, Subscription, Webhook
from tests.factories import RouteFactory, TaskFactory, UserFactory, WebhookFactory

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
NOTIFY = reverse("taskboard:notification_list")
ROUTES = reverse("taskboard:route_list")
HOOKS = reverse("taskboard:webhook_list")


def bell(task) -> str:
    return reverse("taskboard:task_bell", args=[task.pk])


def unsubscribe(sub) -> str:
    return reverse("taskboard:subscription_delete", args=[sub.pk])


@pytest.fixture
def sam(client, staff_user):
    client.force_login(staff_user)
    return client


# --- the bell -----------------------------------------------------------------


def test_the_detail_page_of_a_task_in_flight_has_a_bell_form(alice, user):
    task = TaskFactory(owner=user, running=True)
    html = alice.get(reverse("taskboard:task_detail", args=[task.pk])).content.decode()
    assert f'action="{bell(task)}"' in html
    assert 'id="bell-button"' in html and 'aria-pressed="false"' in html
    assert "Notify me" in html


def test_a_finished_task_without_a_bell_shows_none(alice, user):
    task = TaskFactory(owner=user, completed=True)
    html = alice.get(reverse("taskboard:task_detail", args=[task.pk])).content.decode()
    assert 'id="bell-button"' not in html


def test_the_bell_toggles_without_js_with_a_303_back(alice, user):
    task = TaskFactory(owner=user, running=True)
    response = alice.post(bell(task))
    assert response.status_code == 303
    assert response["Location"] == reverse("taskboard:task_detail", args=[task.pk])
    assert Subscription.objects.filter(user=user, task=task).exists()
    page = alice.get(response["Location"]).content.decode()
    assert "Notifying you" in page and 'aria-pressed="true"' in page
    assert alice.post(bell(task)).status_code == 303
    assert not Subscription.objects.filter(user=user, task=task).exists()


def test_the_bell_with_htmx_answers_the_detail_fragment(alice, user):
    task = TaskFactory(owner=user, running=True)
    response = alice.post(bell(task), headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="task-detail"' in html and "<html" not in html
    assert "Notifying you" in html and "You will be emailed" in html
    assert "HX-Request" in response["Vary"]


def test_the_bell_of_a_finished_task_is_refused_409(alice, user):
    # It would never ring: nothing is subscribed, and the page says why.
    done = TaskFactory(owner=user, completed=True)
    response = alice.post(bell(done), headers=HX)
    assert response.status_code == 409 and "already finished" in response.content.decode()
    assert not Subscription.objects.exists()


def test_the_bell_of_a_task_one_may_not_see_is_a_404(alice, other_user):
    theirs = TaskFactory(owner=other_user, running=True)
    assert alice.post(bell(theirs)).status_code == 404
    assert not Subscription.objects.exists()


def test_the_bell_refuses_get_and_needs_csrf(user):
    task = TaskFactory(owner=user, running=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(bell(task)).status_code == 405
    assert client.post(bell(task)).status_code == 403
    assert not Subscription.objects.exists()


# --- a user's notifications page -------------------------------------------------


def test_anonymous_is_sent_to_login(client):
    response = client.get(NOTIFY)
    assert response.status_code == 302 and "login" in response["Location"]
    assert client.get(NOTIFY, headers=HX).headers["HX-Redirect"].startswith("/accounts/login")


def test_the_page_lists_only_ones_own_subscriptions(alice, user, other_user):
    mine = TaskFactory(owner=user, running=True, name="demo.long")
    Subscription.objects.create(user=user, task=mine)
    Subscription.objects.create(user=user, task_name="demo.fail")
    Subscription.objects.create(user=other_user, task_name="bobs.secret.job")
    response = alice.get(NOTIFY)
    html = response.content.decode()
    assert response.status_code == 200
    assert reverse("taskboard:task_detail", args=[mine.pk]) in html
    assert "<code>demo.fail</code>" in html
    assert "bobs.secret.job" not in html
    assert f'href="{NOTIFY}"' in html and 'aria-current="page"' in html
    # Plain users get no link to the staff pages.
    assert ROUTES not in html


def test_subscribe_to_a_name_without_js_then_with_htmx(sam, staff_user):
    response = sam.post(NOTIFY, {"task_name": "demo.fail"})
    assert response.status_code == 303 and response["Location"] == NOTIFY
    assert Subscription.objects.filter(user=staff_user, task_name="demo.fail", task=None).exists()
    response = sam.post(NOTIFY, {"task_name": "demo.quick"}, headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "Subscribed to failures of demo.quick" in html
    assert "HX-Request" in response["Vary"]
    # Twice the same name is one subscription.
    sam.post(NOTIFY, {"task_name": "demo.fail"})
    assert Subscription.objects.filter(user=staff_user).count() == 2


def test_a_plain_user_follows_a_name_and_is_told_it_is_their_own_tasks_only(
    alice, user, staff_user
):
    # What a follower hears is what they may see: the page says which.
    page = alice.get(NOTIFY).content.decode()
    assert 'id="subscribe-form"' in page and "your own tasks only" in page
    staff = Client()
    staff.force_login(staff_user)
    assert "(anyone's task)" in staff.get(NOTIFY).content.decode()
    response = alice.post(NOTIFY, {"task_name": "demo.fail"})
    assert response.status_code == 303
    assert Subscription.objects.filter(user=user, task_name="demo.fail", task=None).exists()


def test_an_empty_name_is_refused_422_for_htmx(sam):
    assert sam.post(NOTIFY, {"task_name": ""}, headers=HX).status_code == 422
    response = sam.post(NOTIFY, {"task_name": ""})
    assert response.status_code == 200 and "has-error" in response.content.decode()
    assert not Subscription.objects.exists()


def test_unsubscribe_own_and_404_for_anothers(alice, user, other_user):
    mine = Subscription.objects.create(user=user, task_name="demo.fail")
    theirs = Subscription.objects.create(user=other_user, task_name="demo.fail")
    assert alice.post(unsubscribe(theirs)).status_code == 404
    assert alice.get(unsubscribe(mine)).status_code == 405
    response = alice.post(unsubscribe(mine), headers=HX)
    assert response.status_code == 200 and "Unsubscribed." in response.content.decode()
    assert list(Subscription.objects.all()) == [theirs]


def test_notifications_page_enforces_csrf(staff_user):
    sub = Subscription.objects.create(user=staff_user, task_name="demo.fail")
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert client.post(NOTIFY, {"task_name": "x"}).status_code == 403
    assert client.post(unsubscribe(sub)).status_code == 403
    assert list(Subscription.objects.all()) == [sub]


# --- staff: routes and webhooks ----------------------------------------------------


@pytest.mark.parametrize("url", [ROUTES, HOOKS])
def test_staff_pages_are_403_for_plain_users(alice, url):
    assert alice.get(url).status_code == 403
    assert (
        alice.post(url, {"name": "x", "url": "http://127.0.0.1/", "emails": "a@b.c"}).status_code
        == 403
    )
    assert not NotifyRoute.objects.exists() and not Webhook.objects.exists()


def test_staff_object_pages_are_403_for_plain_users(alice):
    hook, route = WebhookFactory(), RouteFactory(emails="a@example.com")
    assert alice.get(reverse("taskboard:webhook_detail", args=[hook.pk])).status_code == 403
    detail = reverse("taskboard:webhook_detail", args=[hook.pk])
    assert alice.post(detail, {"action": "delete"}).status_code == 403
    act = reverse("taskboard:route_act", args=[route.pk])
    assert alice.post(act, {"action": "delete"}).status_code == 403
    assert Webhook.objects.exists() and NotifyRoute.objects.exists()


def test_the_permission_opens_the_staff_pages_without_is_staff(client):
    manager = UserFactory(username="mo")
    manager.user_permissions.add(Permission.objects.get(codename="change_webhook"))
    client.force_login(manager)
    assert client.get(ROUTES).status_code == 200
    assert ROUTES in client.get(NOTIFY).content.decode()


def test_missing_objects_are_404_for_staff(sam):
    assert sam.get(reverse("taskboard:webhook_detail", args=[999])).status_code == 404
    assert (
        sam.post(reverse("taskboard:route_act", args=[999]), {"action": "delete"}).status_code
        == 404
    )


def test_staff_add_a_webhook_and_see_its_secret_on_its_page(sam, staff_user):
    response = sam.post(HOOKS, {"name": "pager", "url": "http://127.0.0.1:9/hook"})
    hook = Webhook.objects.get()
    assert response.status_code == 303
    assert response["Location"] == reverse("taskboard:webhook_detail", args=[hook.pk])
    assert len(hook.secret) >= 40 and hook.created_by == staff_user
    page = sam.get(response["Location"])
    assert hook.secret in page.content.decode()
    assert "no-cache" in page["Cache-Control"] or "max-age=0" in page["Cache-Control"]
    assert AuditLog.objects.filter(action=AuditLog.NOTIFY, note__contains="pager").exists()
    htmx = sam.post(HOOKS, {"name": "two", "url": "http://127.0.0.1:9/b"}, headers=HX)
    assert htmx.status_code == 200 and htmx["HX-Redirect"].startswith("/notifications/webhooks/")


def test_a_webhook_to_a_refused_address_is_not_saved(sam, settings):
    settings.TASKBOARD_WEBHOOK_ALLOW_PRIVATE = False
    response = sam.post(HOOKS, {"name": "meta", "url": "http://169.254.169.254/latest/"})
    assert response.status_code == 200
    assert "link-local" in response.content.decode()
    assert (
        sam.post(HOOKS, {"name": "f", "url": "ftp://example.com/"}, headers=HX).status_code == 422
    )
    assert not Webhook.objects.exists()


def test_staff_disable_enable_and_delete_a_webhook(sam):
    hook = WebhookFactory(name="pager")
    url = reverse("taskboard:webhook_detail", args=[hook.pk])
    response = sam.post(url, {"action": "disable"}, headers=HX)
    assert response.status_code == 200 and "Webhook disabled." in response.content.decode()
    assert "<html" not in response.content.decode()
    hook.refresh_from_db()
    assert not hook.enabled
    assert sam.post(url, {"action": "enable"}).status_code == 303
    hook.refresh_from_db()
    assert hook.enabled
    assert sam.post(url, {"action": "bogus"}).status_code == 400
    response = sam.post(url, {"action": "delete"}, headers=HX)
    assert response["HX-Redirect"] == HOOKS
    assert not Webhook.objects.exists()


def test_staff_add_routes_to_emails_or_a_webhook(sam):
    hook = WebhookFactory(name="pager")
    response = sam.post(
        ROUTES, {"task_name": "demo.fail", "emails": "a@example.com\nb@example.com"}
    )
    assert response.status_code == 303
    response = sam.post(ROUTES, {"task_name": "", "webhook": hook.pk}, headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "any task" in html and "pager" in html and "a@example.com, b@example.com" in html
    routes = {r.task_name: r for r in NotifyRoute.objects.all()}
    assert routes["demo.fail"].email_list == ["a@example.com", "b@example.com"]
    assert routes[""].webhook == hook


@pytest.mark.parametrize(
    "data",
    [
        {"task_name": "demo.fail"},
        {"task_name": "demo.fail", "emails": "not-an-address"},
    ],
)
def test_a_route_needs_one_valid_target(sam, data):
    assert sam.post(ROUTES, data, headers=HX).status_code == 422
    assert not NotifyRoute.objects.exists()


def test_a_route_with_both_targets_is_refused(sam):
    hook = WebhookFactory()
    response = sam.post(ROUTES, {"emails": "a@example.com", "webhook": hook.pk})
    assert response.status_code == 200 and "one of the two" in response.content.decode()
    assert not NotifyRoute.objects.exists()


def test_staff_disable_and_delete_a_route(sam):
    route = RouteFactory(emails="a@example.com")
    act = reverse("taskboard:route_act", args=[route.pk])
    assert sam.post(act, {"action": "disable"}).status_code == 303
    route.refresh_from_db()
    assert not route.enabled
    response = sam.post(act, {"action": "delete"}, headers=HX)
    assert response.status_code == 200 and "Route deleted." in response.content.decode()
    assert not NotifyRoute.objects.exists()
    assert AuditLog.objects.filter(action=AuditLog.NOTIFY).count() == 2


def test_staff_pages_enforce_csrf(staff_user):
    hook = WebhookFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert client.post(HOOKS, {"name": "x", "url": "http://127.0.0.1/"}).status_code == 403
    assert client.post(ROUTES, {"emails": "a@example.com"}).status_code == 403
    detail = reverse("taskboard:webhook_detail", args=[hook.pk])
    assert client.post(detail, {"action": "delete"}).status_code == 403
    assert Webhook.objects.count() == 1 and not NotifyRoute.objects.exists()


def test_the_webhook_page_shows_its_attempts(sam):
    hook = WebhookFactory()
    hook.attempts.create(
        delivery="6f1c1b7e-0000-4000-8000-000000000001", attempt=1, status_code=500
    )
    hook.attempts.create(
        delivery="6f1c1b7e-0000-4000-8000-000000000001", attempt=2, error="URLError: refused"
    )
    html = sam.get(reverse("taskboard:webhook_detail", args=[hook.pk])).content.decode()
    assert html.count('class="attempt-status') == 2
    assert "HTTP 500" in html and "no answer" in html and "URLError: refused" in html


# --- the bell on a row of the table ---------------------------------------------------


def test_rows_in_flight_have_a_bell_showing_its_state(alice, user):
    rung = TaskFactory(owner=user, running=True)
    silent = TaskFactory(owner=user)
    done = TaskFactory(owner=user, completed=True)
    Subscription.objects.create(user=user, task=rung)
    html = alice.get(reverse("taskboard:task_list")).content.decode()
    assert html.count('class="row-bell"') == 2
    assert f'aria-label="Stop notifying me about demo.quick {str(rung.pk)[:8]}"' in html
    assert f'aria-label="Notify me about demo.quick {str(silent.pk)[:8]}"' in html
    assert bell(done) not in html


def test_the_row_bell_with_htmx_answers_the_row(alice, user):
    task = TaskFactory(owner=user, running=True)
    response = alice.post(bell(task), headers={**HX, "HX-Target": f"task-{task.pk}"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith(f'<tr id="task-{task.pk}"')
    assert 'aria-pressed="true"' in html
    assert Subscription.objects.filter(user=user, task=task).exists()


def test_the_row_bell_without_js_goes_back_to_the_table(alice, user):
    task = TaskFactory(owner=user, running=True)
    response = alice.post(bell(task), {"next": "/tasks/?status=running"})
    assert response.status_code == 303 and response["Location"] == "/tasks/?status=running"
    assert Subscription.objects.filter(user=user, task=task).exists()


def test_the_poll_redraws_a_row_with_its_bell_rung(alice, user):
    task = TaskFactory(owner=user, running=True)
    Subscription.objects.create(user=user, task=task)
    response = alice.get(reverse("taskboard:task_status"), {"ids": f"{task.pk}:0.r"})
    html = response.content.decode()
    assert "Stop notifying me about" in html and 'aria-pressed="true"' in html
