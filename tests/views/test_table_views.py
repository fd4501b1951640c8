"""HTTP-level tests of the task table: /tasks/ as a page and as an htmx fragment."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from taskboard.models import Task

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def make_task(owner, status="completed", name="demo.quick", **fields) -> Task:
    return Task.objects.create(name=name, status=status, owner=owner, **fields)


def make_tasks(owner, count: int, statuses=("completed",)) -> list[Task]:
    return Task.objects.bulk_create(
        [
            Task(name="demo.quick", status=statuses[i % len(statuses)], owner=owner)
            for i in range(count)
        ]
    )


def row_ids(response) -> list[str]:
    return re.findall(r'<tr id="task-([0-9a-f-]{36})"', response.content.decode())


def test_task_list_anonymous_redirects_to_login(client):
    response = client.get("/tasks/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_task_list_anonymous_htmx_gets_hx_redirect(client):
    response = client.get("/tasks/", headers=HX)
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/login/")


def test_task_list_full_page_without_htmx(alice, user):
    make_task(user)
    response = alice.get("/tasks/")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.startswith("<!doctype html>")
    assert 'id="task-search"' in body
    assert 'id="task-rows"' in body


def test_task_list_fragment_with_htmx(alice, user):
    make_task(user)
    response = alice.get("/tasks/", headers=HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="task-table"')
    assert "<html" not in body
    assert 'id="task-search"' not in body


def test_task_list_history_restore_gets_full_page(alice):
    response = alice.get(
        "/tasks/?status=failed", headers={**HX, "HX-History-Restore-Request": "true"}
    )
    assert response.content.decode().startswith("<!doctype html>")


def test_task_list_varies_on_hx_request(alice):
    response = alice.get("/tasks/")
    assert "HX-Request" in response["Vary"]


def test_task_list_fragment_pushes_canonical_url(alice):
    response = alice.get("/tasks/?q=&status=failed&name=&page=1", headers=HX)
    assert response["HX-Push-Url"] == "/tasks/?status=failed"


def test_task_list_full_page_does_not_push_url(alice):
    response = alice.get("/tasks/?status=failed")
    assert "HX-Push-Url" not in response


def test_task_list_rows_have_stable_ids(alice, user):
    task = make_task(user)
    response = alice.get("/tasks/")
    assert row_ids(response) == [str(task.pk)]


def test_task_list_shows_only_own_tasks(alice, user, other_user):
    mine = make_task(user)
    make_task(other_user)
    assert row_ids(alice.get("/tasks/")) == [str(mine.pk)]


def test_task_list_hides_owner_column_from_users(alice, user):
    make_task(user)
    assert 'class="c-owner"' not in alice.get("/tasks/").content.decode()


def test_task_list_staff_see_everyones_tasks_with_owner(client, staff_user, user, other_user):
    make_task(user)
    make_task(other_user)
    client.force_login(staff_user)
    response = client.get("/tasks/")
    assert len(row_ids(response)) == 2
    assert ">bob</td>" in response.content.decode()


@pytest.mark.parametrize("status", ["completed", "failed", "pending", "running", "cancelled"])
def test_task_list_status_tab_filters(alice, user, status):
    tasks = {
        s: make_task(user, s) for s in ("pending", "running", "completed", "failed", "cancelled")
    }
    assert row_ids(alice.get(f"/tasks/?status={status}")) == [str(tasks[status].pk)]


def test_task_list_tabs_show_counts_over_other_filters(alice, user):
    make_task(user, "failed", name="demo.fail")
    make_task(user, "failed", name="demo.fail")
    make_task(user, "completed", name="demo.quick")
    body = alice.get("/tasks/?name=demo.fail&status=completed").content.decode()
    counts = dict(re.findall(r'data-tab="(\w+)".*?<span class="count">(\d+)</span>', body, re.S))
    assert counts == {
        "all": "2",
        "scheduled": "0",
        "pending": "0",
        "running": "0",
        "completed": "0",
        "failed": "2",
        "cancelled": "0",
    }


def test_task_list_tab_links_keep_other_filters(alice):
    body = alice.get("/tasks/?q=abc&sort=name&page=2").content.decode()
    assert 'href="/tasks/?q=abc&amp;sort=name&amp;status=failed"' in body


def test_task_list_search_matches_name(alice, user):
    hit = make_task(user, name="demo.long")
    make_task(user, name="demo.quick")
    assert row_ids(alice.get("/tasks/?q=LONG")) == [str(hit.pk)]


def test_task_list_search_matches_full_id(alice, user):
    hit = make_task(user)
    make_task(user)
    assert row_ids(alice.get(f"/tasks/?q={hit.pk}")) == [str(hit.pk)]


def test_task_list_search_matches_id_prefix(alice, user):
    hit = make_task(user, id=uuid.UUID("abcdef12-0000-4000-8000-000000000000"))
    make_task(user, id=uuid.UUID("12345678-0000-4000-8000-000000000000"))
    assert row_ids(alice.get("/tasks/?q=ABCDEF12")) == [str(hit.pk)]


def test_task_list_search_matches_arguments(alice, user):
    hit = make_task(user, kwargs={"message": "needle in the haystack"})
    make_task(user, kwargs={"message": "hay"})
    assert row_ids(alice.get("/tasks/?q=needle")) == [str(hit.pk)]


def test_task_list_search_matches_error_message(alice, user):
    hit = make_task(user, "failed", error_message="Disk quota exceeded")
    make_task(user, "failed", error_message="Timeout")
    assert row_ids(alice.get("/tasks/?q=quota")) == [str(hit.pk)]


def test_task_list_name_filter(alice, user):
    hit = make_task(user, name="demo.fail")
    make_task(user, name="demo.quick")
    assert row_ids(alice.get("/tasks/?name=demo.fail")) == [str(hit.pk)]


def test_task_list_name_filter_keeps_unregistered_name(alice, user):
    hit = make_task(user, name="reports.nightly")
    body = alice.get("/tasks/?name=reports.nightly").content.decode()
    assert '<option value="reports.nightly" selected>' in body
    assert re.findall(r'<tr id="task-([0-9a-f-]{36})"', body) == [str(hit.pk)]


def test_task_list_invalid_status_is_ignored_with_notice(alice, user):
    make_task(user, "failed")
    make_task(user, "completed")
    response = alice.get("/tasks/?status=bogus")
    assert response.status_code == 200
    assert len(row_ids(response)) == 2
    assert "Ignored an invalid filter: status" in response.content.decode()


@pytest.mark.parametrize("page", ["abc", "0", "-1", "999"])
def test_task_list_invalid_page_shows_first_page(alice, user, page):
    task = make_task(user)
    response = alice.get(f"/tasks/?page={page}")
    assert response.status_code == 200
    assert row_ids(response) == [str(task.pk)]


def test_task_list_sort_by_name(alice, user):
    b = make_task(user, name="b.task")
    a = make_task(user, name="a.task")
    c = make_task(user, name="c.task")
    assert row_ids(alice.get("/tasks/?sort=name")) == [str(a.pk), str(b.pk), str(c.pk)]
    assert row_ids(alice.get("/tasks/?sort=-name")) == [str(c.pk), str(b.pk), str(a.pk)]


def test_task_list_sort_by_status_follows_lifecycle(alice, user):
    done = make_task(user, "completed")
    waiting = make_task(user, "pending")
    assert row_ids(alice.get("/tasks/?sort=status")) == [str(waiting.pk), str(done.pk)]


def test_task_list_sort_by_runtime(alice, user):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    slow = make_task(user, started_at=now, finished_at=now + timedelta(seconds=9))
    fast = make_task(user, started_at=now, finished_at=now + timedelta(seconds=1))
    never = make_task(user, "cancelled")
    assert row_ids(alice.get("/tasks/?sort=-runtime")) == [
        str(slow.pk),
        str(fast.pk),
        str(never.pk),
    ]


def test_task_list_unknown_sort_is_ignored(alice, user):
    old = make_task(user)
    new = make_task(user)
    response = alice.get("/tasks/?sort=password")
    assert response.status_code == 200
    assert row_ids(response) == [str(new.pk), str(old.pk)]


def test_task_list_pages_newest_first_by_cursor(alice, user):
    Task.objects.bulk_create(
        [Task(name="demo.quick", status="completed", owner=user) for _ in range(30)]
    )
    with CaptureQueriesContext(connection) as queries:
        first = alice.get("/tasks/")
    assert len(row_ids(first)) == 25
    older = re.search(r'rel="next" href="(/tasks/\?cursor=[^"]+)"', first.content.decode())
    assert older, "no Older link"
    assert not any(" OFFSET " in q["sql"] for q in queries.captured_queries)
    second = alice.get(older.group(1).replace("&amp;", "&"))
    assert len(row_ids(second)) == 5
    assert not set(row_ids(second)) & set(row_ids(first))
    assert "Older →</span>" in second.content.decode()  # the last page: no link


def test_task_list_bad_cursor_is_ignored_with_a_note(alice, user):
    make_task(user, "completed")
    response = alice.get("/tasks/?cursor=nonsense")
    assert response.status_code == 200
    assert len(row_ids(response)) == 1
    assert "Ignored an invalid filter: cursor" in response.content.decode()


def test_task_list_numbered_pages_still_work_for_other_orders(alice, user):
    Task.objects.bulk_create(
        [Task(name="demo.quick", status="completed", owner=user) for _ in range(30)]
    )
    first = alice.get("/tasks/?sort=name")
    assert 'rel="next" href="/tasks/?sort=name&amp;page=2"' in first.content.decode()
    assert len(row_ids(alice.get("/tasks/?sort=name&page=2"))) == 5


def test_task_list_search_form_keeps_other_params_as_hidden_inputs(alice):
    body = alice.get("/tasks/?status=failed&sort=-created&q=x&page=3").content.decode()
    hidden = re.findall(
        r'<input type="hidden" form="task-search" name="(\w+)" value="([^"]*)">', body
    )
    assert hidden == [("status", "failed"), ("sort", "-created")]


def test_task_list_search_box_filters_as_you_type(alice):
    body = alice.get("/tasks/").content.decode()
    assert 'hx-trigger="input changed delay:300ms, search"' in body


def test_task_list_tabs_target_gets_only_tabs(alice, user):
    make_task(user, "failed")
    response = alice.get("/tasks/?status=failed", headers={**HX, "HX-Target": "status-tabs"})
    body = response.content.decode()
    assert body.lstrip().startswith('<nav id="status-tabs"')
    assert "<tr" not in body
    assert "HX-Push-Url" not in response


def test_task_list_poll_carries_in_flight_rows_only(alice, user):
    running = make_task(user, "running")
    make_task(user, "completed")
    body = alice.get("/tasks/").content.decode()
    poll = re.search(r'<div id="poll"[^>]*>', body).group(0)
    assert 'hx-post="/tasks/status/"' in poll
    # The ids ride in the body, whatever their number (the URL has a length limit).
    assert f'hx-vals="{{&quot;ids&quot;:&quot;{running.pk}:1.r&quot;}}"' in poll
    assert 'hx-trigger="every 2s"' in poll  # visibility is checked in poll.js (no eval)


def test_task_list_poll_has_no_trigger_when_nothing_in_flight(alice, user):
    make_task(user, "completed")
    body = alice.get("/tasks/").content.decode()
    poll = re.search(r'<div id="poll"[^>]*>', body).group(0)
    assert "hx-post" not in poll
    assert "hx-trigger" not in poll


def test_task_list_in_flight_row_has_poll_token_and_cancel(alice, user):
    task = make_task(user, "pending")
    body = alice.get("/tasks/").content.decode()
    assert f'data-poll="{task.pk}:1.p"' in body
    assert f'hx-post="/tasks/{task.pk}/cancel/"' in body
    # c cancels a row; x selects it for a bulk action (static/taskboard/js/keys.js).
    assert 'data-key="c"' in body


def test_task_list_finished_row_has_retry(alice, user):
    task = make_task(user, "failed")
    body = alice.get("/tasks/").content.decode()
    assert f'action="/tasks/{task.pk}/retry/"' in body
    assert "csrfmiddlewaretoken" in body


def test_task_list_escapes_task_data(alice, user):
    make_task(user, "failed", error_message="<script>alert(1)</script>", kwargs={"m": "<b>x</b>"})
    body = alice.get("/tasks/").content.decode()
    assert "<script>alert(1)" not in body
    assert "<b>x</b>" not in body


@pytest.mark.parametrize("rows", [5, 50])
def test_task_list_query_count_is_constant(alice, user, django_assert_num_queries, rows):
    Task.objects.bulk_create(
        [
            Task(name="demo.quick", status=("running", "failed")[i % 2], owner=user)
            for i in range(rows)
        ]
    )
    # session, user, the user's permissions (direct, through groups), status counts,
    # one page of rows (with owners), which of its rows in flight the user rang the bell of
    with django_assert_num_queries(7):
        alice.get("/tasks/")


@pytest.mark.parametrize("rows", [5, 50])
def test_task_list_staff_query_count_is_constant(
    client, staff_user, user, django_assert_num_queries, rows
):
    Task.objects.bulk_create(
        [Task(name="demo.quick", status="completed", owner=user) for _ in range(rows)]
    )
    client.force_login(staff_user)
    with django_assert_num_queries(4):
        client.get("/tasks/?q=quick&sort=owner")


def test_task_list_includes_launch_dialog_opener(alice):
    body = alice.get("/tasks/").content.decode()
    assert 'data-key="n"' in body
    assert 'href="/launch/"' in body


@pytest.mark.parametrize("sort", ["owner", "-owner", "arguments", "actions", ",,", "-"])
def test_task_list_sort_on_hidden_or_unsortable_column_is_ignored(alice, user, sort):
    task = make_task(user)
    response = alice.get("/tasks/", {"sort": sort})
    assert response.status_code == 200
    assert row_ids(response) == [str(task.pk)]


def test_task_list_overlong_search_is_ignored_with_notice(alice, user):
    make_task(user)
    response = alice.get("/tasks/", {"q": "x" * 500})
    assert len(row_ids(response)) == 1
    assert "Ignored an invalid filter: q" in response.content.decode()


def test_task_list_links_leave_out_empty_fields(alice):
    body = alice.get("/tasks/?q=flaky&name=&created=").content.decode()
    assert 'href="/tasks/?q=flaky&amp;status=failed"' in body
    hrefs = re.findall(r'href="(/tasks/\?[^"]*)"', body)
    assert hrefs
    assert not [href for href in hrefs if "name=&" in href or "created=&" in href]


# Rows drawn for one request never carry another session's CSRF input, another
# user's actions, or what a row held before.


def csrf_tokens(body: str) -> set[str]:
    return set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', body))


def test_task_list_reused_row_carries_no_other_sessions_csrf_token(
    django_user_model, staff_user, user
):
    task = make_task(user, "failed", name="demo.fail", kwargs={"message": "boom"})
    operator = django_user_model.objects.create_user("ops", is_staff=True)
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first.force_login(staff_user)
    second.force_login(operator)
    first_body = first.get("/tasks/?status=failed", headers=HX).content.decode()
    body = second.get("/tasks/?status=failed", headers=HX).content.decode()
    # One token per response (the bulk form's), never the other session's.
    assert len(csrf_tokens(body)) == 1
    assert csrf_tokens(body) != csrf_tokens(first_body)
    row = re.search(rf'<tr id="task-{task.pk}".*?</tr>', body, re.S).group(0)
    # The row's Retry is a GET of its confirmation page: no token to put in a URL.
    assert csrf_tokens(row) == set()
    token = csrf_tokens(body).pop()
    response = second.post(f"/tasks/{task.pk}/retry/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 303


def test_task_list_reused_row_shows_each_users_actions(client, django_user_model, staff_user):
    task = make_task(staff_user, "failed")
    viewer = django_user_model.objects.create_user("viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_all_tasks"))
    client.force_login(staff_user)
    assert f'action="/tasks/{task.pk}/retry/"' in client.get("/tasks/", headers=HX).content.decode()
    client.force_login(viewer)
    body = client.get("/tasks/", headers=HX).content.decode()
    assert f'id="task-{task.pk}"' in body
    assert f'action="/tasks/{task.pk}/retry/"' not in body
    assert "You may look, not act" in body


def test_task_list_reused_row_shows_what_the_row_holds_now(alice, user):
    task = make_task(user, "failed", error_type="Timeout", error_message="db1 did not answer")
    assert "db1 did not answer" in alice.get("/tasks/", headers=HX).content.decode()
    # No state write (version unchanged): the row is drawn again all the same.
    Task.objects.filter(pk=task.pk).update(error_message="db2 did not answer")
    body = alice.get("/tasks/", headers=HX).content.decode()
    assert "db2 did not answer" in body
    assert "db1 did not answer" not in body


@pytest.mark.django_db
def test_the_all_tab_links_to_the_bare_list_url(alice):
    body = alice.get("/tasks/", {"status": "failed"}).content.decode()
    found = re.findall(r'<a href="([^"]*)" hx-get="[^"]*"[^>]*data-tab="(\w+)"', body)
    tabs = {tab: href for href, tab in found}
    assert tabs["all"] == "/tasks/"
    assert tabs["running"] == "/tasks/?status=running"
