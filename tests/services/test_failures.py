"""Failure groups: the message normalisation, the grouping, the page and its actions."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from taskboard.failures import failure_groups, normalise_message, parse_days, search_hint
from taskboard.models import COMPLETED, FAILED, PENDING, AuditLog, BulkAction, Task
from tests.conftest import wait_for
from tests.factories import TaskFactory

HX = {"HX-Request": "true"}


# --- normalise_message (pure) --------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Timeout after 30s on 'db1'", "Timeout after <n>s on <str>"),
        ('KeyError: "user_42"', "KeyError: <str>"),
        ("KeyError: 'user_42'", "KeyError: <str>"),
        ("Task 3f2b8c1e-1111-4222-8333-444455556666 not found", "Task <id> not found"),
        ("Task 3f2b8c1e111142228333444455556666 not found", "Task <id> not found"),
        ("object at 0x7f3a9c0d12e0", "object at <hex>"),
        ("can't connect to 10.0.0.12:5432", "can't connect to <ip>"),
        ("File /var/data/export-123.csv missing", "File <path> missing"),
        ("C:\\Users\\x\\f.txt missing", "<path> missing"),
        ("failed at 2024-05-01T10:20:30Z", "failed at <time>"),
        ("failed at 2024-05-01 10:20:30.123+02:00", "failed at <time>"),
        ("took until 12:03:04", "took until <time>"),
        ("utf8 codec error at position 17", "utf8 codec error at position <n>"),
        ("value -5 too small", "value <n> too small"),
        ("-3 left", "<n> left"),
        ("worker-3 lost", "worker-<n> lost"),
        ("sha abcdef0123456789abcdef", "sha <id>"),
        ("GET https://api.example.com/v1/items?id=3 returned 503", "GET <url> returned <n>"),
        ("retry 1.5 seconds, 1,000 rows", "retry <n> seconds, <n> rows"),
        ("simulated failure (attempt 2)", "simulated failure (attempt <n>)"),
        ("a  b\n\t c ", "a b c"),
        ("no digits here", "no digits here"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalise_message_masks(message, expected):
    assert normalise_message(message) == expected


def test_normalise_message_groups_runs_that_differ_only_in_values():
    first = normalise_message("Took 30s on 'db1' (req 8f14e45f-ceea-467f-a0f5-1a2b3c4d5e6f)")
    second = normalise_message("Took 45s on 'db2' (req 0a1b2c3d-0000-4000-8000-abcdefabcdef)")
    assert first == second


def test_normalise_message_keeps_different_problems_apart():
    assert normalise_message("Timeout after 30s") != normalise_message("Refused after 30s")


def test_normalise_message_apostrophe_in_a_word_is_not_a_quote():
    assert normalise_message("can't reach 'db1' and won't retry") == (
        "can't reach <str> and won't retry"
    )


def test_normalise_message_masks_a_uuid_inside_quotes_once():
    assert normalise_message("no row 'b3c1f1e2-1111-4222-8333-444455556666'") == "no row <str>"


def test_normalise_message_reads_only_the_head_of_a_huge_message():
    assert len(normalise_message("x" * 100_000)) == 500


def test_search_hint_is_the_longest_literal_run():
    assert search_hint("Timeout after <n>s on <str>") == "Timeout after"


def test_search_hint_of_an_all_masked_message_is_empty():
    assert search_hint("<n>") == ""


@pytest.mark.parametrize(("raw", "days"), [("1", 1), ("30", 30), ("2", 7), ("x", 7), (None, 7)])
def test_parse_days_accepts_only_the_windows(raw, days):
    assert parse_days(raw) == days


# --- grouping (database) -------------------------------------------------------


def fail(owner, message="Timeout after 30s on 'db1'", *, name="demo.fail", ago=0, **fields):
    now = timezone.now() - timedelta(minutes=ago)
    fields.setdefault("error_type", "TimeoutError")
    return Task.objects.create(
        name=name,
        status=FAILED,
        owner=owner,
        error_message=message,
        created_at=now - timedelta(seconds=5),
        started_at=now - timedelta(seconds=4),
        finished_at=now,
        **fields,
    )


@pytest.mark.django_db
def test_failure_groups_group_by_name_type_and_normalised_message(user):
    fail(user, "Timeout after 30s on 'db1'")
    fail(user, "Timeout after 45s on 'db2'")
    fail(user, "Timeout after 30s on 'db1'", error_type="OSError")
    fail(user, "Timeout after 30s on 'db1'", name="demo.flaky")
    report = failure_groups(user=user)
    counts = sorted((g.name, g.error_type, g.count) for g in report.groups)
    assert counts == [
        ("demo.fail", "OSError", 1),
        ("demo.fail", "TimeoutError", 2),
        ("demo.flaky", "TimeoutError", 1),
    ]


@pytest.mark.django_db
def test_failure_groups_first_and_last_seen_and_latest(user):
    old = fail(user, "boom 1", ago=60)
    new = fail(user, "boom 2", ago=5)
    (group,) = failure_groups(user=user).groups
    assert group.first_seen == old.finished_at
    assert group.last_seen == new.finished_at
    assert group.latest_id == new.pk
    assert group.latest_message == "boom 2"


@pytest.mark.django_db
def test_failure_groups_biggest_first(user):
    fail(user, "rare")
    for _ in range(3):
        fail(user, "common 1")
    assert [g.count for g in failure_groups(user=user).groups] == [3, 1]


@pytest.mark.django_db
def test_failure_groups_sample_traceback_is_the_latest(user):
    fail(user, "boom", ago=10, traceback="old traceback")
    fail(user, "boom", ago=1, traceback="new traceback")
    (group,) = failure_groups(user=user).groups
    assert group.traceback == "new traceback"


@pytest.mark.django_db
def test_failure_groups_only_failed_tasks(user):
    fail(user)
    Task.objects.create(name="demo.fail", status=COMPLETED, owner=user, error_message="x")
    assert failure_groups(user=user).total == 1


@pytest.mark.django_db
def test_failure_groups_leave_out_older_than_the_window(user):
    fail(user, ago=60 * 24 * 3)
    assert failure_groups(user=user, days=1).groups == []
    assert failure_groups(user=user, days=7).total == 1


@pytest.mark.django_db
def test_failure_groups_bounded_window_says_truncated(user):
    for _ in range(3):
        fail(user)
    report = failure_groups(user=user, limit=2)
    assert report.total == 2
    assert report.truncated


@pytest.mark.django_db
def test_failure_groups_other_users_failures_are_hidden(user, other_user):
    fail(other_user)
    assert failure_groups(user=user).groups == []


@pytest.mark.django_db
def test_failure_groups_staff_see_everyones(staff_user, user, other_user):
    fail(user)
    fail(other_user)
    assert failure_groups(user=staff_user).total == 2


@pytest.mark.django_db
def test_failure_groups_two_queries_whatever_the_size(user, django_assert_num_queries):
    for i in range(10):
        fail(user, f"boom {i}", error_type=f"E{i % 3}")
    failure_groups(user=user)  # the user's permissions are read once, then cached
    with django_assert_num_queries(2):
        failure_groups(user=user)


# --- the page ------------------------------------------------------------------


def test_failures_page_anonymous_redirects_to_login(client):
    response = client.get("/tasks/failures/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_failures_page_anonymous_htmx_gets_hx_redirect(client):
    response = client.get("/tasks/failures/", headers=HX)
    assert response["HX-Redirect"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_failures_page_shows_groups(alice, user):
    fail(user, "Timeout after 30s on 'db1'")
    fail(user, "Timeout after 45s on 'db2'")
    body = alice.get("/tasks/failures/").content.decode()
    assert "Timeout after &lt;n&gt;s on &lt;str&gt;" in body
    assert 'class="fg-count"' in body
    assert re.search(r'class="fg-count"[^>]*>2<', body)


@pytest.mark.django_db
def test_failures_page_names_the_window(alice, user):
    body = alice.get("/tasks/failures/?days=30").content.decode()
    assert "last 30 days" in body
    assert "latest 5000 failures" in body


@pytest.mark.django_db
def test_failures_page_bad_window_falls_back(alice):
    assert alice.get("/tasks/failures/?days=%00").status_code == 200


@pytest.mark.django_db
def test_failures_page_empty(alice):
    assert "No failures in this window" in alice.get("/tasks/failures/").content.decode()


@pytest.mark.django_db
def test_failures_page_links_to_the_filtered_failed_tab(alice, user):
    fail(user, "Timeout after 30s on 'db1'")
    body = html.unescape(alice.get("/tasks/failures/").content.decode())
    assert (
        "/tasks/?status=failed&steps=all&name=demo.fail&error_type=TimeoutError&q=Timeout%20after"
        in body
    )


@pytest.mark.django_db
def test_failures_group_link_finds_the_group_rows(alice, user):
    mine = fail(user, "Timeout after 30s on 'db1'")
    fail(user, "Other problem", error_type="ValueError")
    response = alice.get(
        "/tasks/?status=failed&steps=all&name=demo.fail&error_type=TimeoutError&q=Timeout%20after"
    )
    ids = re.findall(r'<tr id="task-([0-9a-f-]{36})"', response.content.decode())
    assert ids == [str(mine.pk)]


@pytest.mark.django_db
def test_failures_group_link_finds_a_failed_workflow_step(alice, user):
    # The table hides workflow steps behind their root by default; a failure group's
    # rows are often steps, so its link asks for every step.
    root = TaskFactory(owner=user, completed=True)
    Task.objects.filter(pk=root.pk).update(root_id=root.pk)
    step = fail(user, root_id=root.pk, parent_id=root.pk)
    body = html.unescape(alice.get("/tasks/failures/").content.decode())
    link = re.search(r'href="(/tasks/\?status=failed[^"]+)"', body).group(1)
    ids = re.findall(r'<tr id="task-([0-9a-f-]{36})"', alice.get(link).content.decode())
    assert ids == [str(step.pk)]


@pytest.mark.django_db
def test_failures_page_escapes_messages(alice, user):
    fail(user, "<script>alert(1)</script>", error_type="<b>Err</b>")
    body = alice.get("/tasks/failures/").content.decode()
    assert "<script>alert(1)" not in body
    assert "<b>Err</b>" not in body


@pytest.mark.django_db
def test_failures_page_hides_other_users_groups(alice, other_user):
    fail(other_user, "secret of bob")
    assert "secret of bob" not in alice.get("/tasks/failures/").content.decode()


@pytest.mark.django_db
def test_failures_nav_link_is_current(alice):
    body = alice.get("/tasks/failures/").content.decode()
    assert 'href="/tasks/failures/" aria-current="page"' in body


# --- group actions: frozen as a bulk action, confirmed, run by the bulk machinery ------
#
# "Retry all" and "Delete all" post the group's key; the view freezes the group's ids
# as a BulkAction and sends the user to /tasks/bulk/<id>/ to confirm, like the table's
# bulk actions: small sets run in the request, large ones as a background bulk job.

LIST = "/tasks/failures/?days=7"


def group_key(user) -> str:
    (group,) = failure_groups(user=user).groups
    return group.key


def freeze(client, action: str, key: str, days: str = "7", **kwargs):
    return client.post(f"/tasks/failures/{action}/", {"key": key, "days": days}, **kwargs)


def frozen(client, user, action: str) -> BulkAction:
    """Freeze ``user``'s only failure group for ``action`` and return its bulk action."""
    response = freeze(client, action, group_key(user))
    bulk = BulkAction.objects.get()
    assert response.status_code == 303
    assert response["Location"] == f"/tasks/bulk/{bulk.pk}/?{urlencode({'next': LIST})}"
    return bulk


def confirm(client, bulk: BulkAction, **kwargs):
    return client.post(f"/tasks/bulk/{bulk.pk}/", {"next": LIST}, **kwargs)


@pytest.fixture
def read_only_staff(django_user_model):
    from django.contrib.auth.models import Permission

    reader = django_user_model.objects.create_user("rita", password="rita-secret-pw")
    reader.user_permissions.add(Permission.objects.get(codename="view_all_tasks"))
    return reader


@pytest.mark.django_db
def test_failures_page_group_buttons_post_the_group_key(alice, user):
    fail(user)
    body = alice.get("/tasks/failures/").content.decode()
    key = group_key(user)
    assert '<form method="post" action="/tasks/failures/retry/">' in body
    assert '<form method="post" action="/tasks/failures/delete/">' in body
    assert f'name="key" value="{key}"' in body
    assert "Retry all 1…" in body


@pytest.mark.django_db
def test_failure_act_freezes_the_groups_ids_as_a_bulk_action(alice, user):
    tasks = [fail(user, f"boom {i}") for i in range(3)]
    bulk = frozen(alice, user, "retry")
    assert set(bulk.task_ids) == {str(t.pk) for t in tasks}
    assert bulk.count == 3
    assert bulk.action == "retry"
    assert bulk.actor == user
    assert bulk.confirmed_at is None
    assert "failure group demo.fail TimeoutError" in bulk.description
    # Freezing acts on nothing.
    assert not Task.objects.filter(retry_of__in=tasks).exists()


@pytest.mark.django_db
def test_failure_confirm_page_shows_the_count_and_a_preview(alice, user):
    tasks = [fail(user, f"boom {i}") for i in range(3)]
    bulk = frozen(alice, user, "retry")
    body = alice.get(f"/tasks/bulk/{bulk.pk}/?next={LIST}").content.decode()
    assert "Retry these 3 tasks?" in body
    assert "the failure group demo.fail TimeoutError" in body
    for task in tasks:
        assert str(task.pk) in body
    assert f'<a href="{html.escape(LIST)}">Failures</a>' in body


@pytest.mark.django_db
def test_failure_retry_leaves_a_failure_that_arrives_after_the_freeze(alice, user):
    first = fail(user, "boom 1")
    bulk = frozen(alice, user, "retry")
    late = fail(user, "boom 2")  # same group, arrives before the user confirms
    response = confirm(alice, bulk)
    assert response.status_code == 303
    assert response["Location"] == LIST
    assert Task.objects.filter(retry_of=first).count() == 1
    assert not Task.objects.filter(retry_of=late).exists()


@pytest.mark.django_db
def test_failure_delete_leaves_a_failure_that_arrives_after_the_freeze(alice, user):
    first = fail(user, "boom 1")
    bulk = frozen(alice, user, "delete")
    late = fail(user, "boom 2")
    confirm(alice, bulk)
    assert not Task.objects.filter(pk=first.pk).exists()
    assert Task.objects.filter(pk=late.pk).exists()


@pytest.mark.django_db
def test_failure_retry_creates_linked_pending_runs(alice, user):
    tasks = [fail(user, "boom", kwargs={"message": "boom"}) for _ in range(2)]
    confirm(alice, frozen(alice, user, "retry"))
    retries = Task.objects.filter(retry_of__in=tasks)
    assert sorted(r.status for r in retries) == [PENDING, PENDING]


@pytest.mark.django_db
def test_failure_retry_reports_in_a_message_on_the_failures_page(alice, user):
    fail(user)
    response = confirm(alice, frozen(alice, user, "retry"), follow=True)
    assert response.redirect_chain[-1][0] == LIST
    assert "Retried 1 task." in response.content.decode()


@pytest.mark.django_db
def test_failure_retry_is_not_stopped_by_the_launch_rate_limit(alice, user, settings):
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 2
    tasks = [fail(user, ago=5) for _ in range(3)]
    response = confirm(alice, frozen(alice, user, "retry"), follow=True)
    assert Task.objects.filter(retry_of__in=tasks).count() == 3
    assert "Retried 3 tasks." in response.content.decode()


@pytest.mark.django_db
def test_failure_retry_all_twice_retries_each_failure_once(alice, user):
    tasks = [fail(user, f"boom {i}") for i in range(2)]
    confirm(alice, frozen(alice, user, "retry"))
    # The retries fail the same way and join the group: only they are retried next.
    for task in tasks:
        Task.objects.filter(retry_of=task).update(
            status=FAILED, error_type="TimeoutError", error_message="boom 9"
        )
    response = freeze(alice, "retry", group_key(user))
    second = BulkAction.objects.latest("created_at")
    assert set(second.task_ids) == {
        str(pk) for pk in Task.objects.filter(retry_of__in=tasks).values_list("pk", flat=True)
    }
    body = alice.get(response["Location"]).content.decode()
    assert "2 of the selected tasks were already retried and are left out" in body
    confirm(alice, second)
    for task in tasks:
        assert Task.objects.filter(retry_of=task).count() == 1


@pytest.mark.django_db
def test_failure_delete_keeps_pinned_rows_and_says_so(alice, user):
    pinned, gone = fail(user, pinned=True), fail(user)
    bulk = frozen(alice, user, "delete")
    assert bulk.task_ids == [str(gone.pk)]
    body = alice.get(f"/tasks/bulk/{bulk.pk}/").content.decode()
    assert "1 of the 2 selected tasks is left out" in body
    confirm(alice, bulk)
    assert Task.objects.filter(pk=pinned.pk).exists()
    assert not Task.objects.filter(pk=gone.pk).exists()


@pytest.mark.django_db
def test_failure_group_never_touches_another_users_ids(alice, user, other_user):
    mine, theirs = fail(user), fail(other_user)  # the same group key for both
    assert group_key(user) == group_key(other_user)
    bulk = frozen(alice, user, "delete")
    assert bulk.task_ids == [str(mine.pk)]
    confirm(alice, bulk)
    assert Task.objects.filter(pk=theirs.pk).exists()


@pytest.mark.django_db
def test_failure_group_of_only_another_user_freezes_nothing(alice, other_user):
    fail(other_user)
    response = freeze(alice, "retry", group_key(other_user), follow=True)
    assert "That group has no failures left in this window." in response.content.decode()
    assert not BulkAction.objects.exists()


@pytest.mark.django_db
def test_failure_group_staff_act_on_everyones(client, staff_user, user, other_user):
    tasks = [fail(user), fail(other_user)]
    client.force_login(staff_user)
    bulk = frozen(client, staff_user, "delete")
    assert set(bulk.task_ids) == {str(t.pk) for t in tasks}
    confirm(client, bulk)
    assert not Task.objects.filter(pk__in=[t.pk for t in tasks]).exists()


@pytest.mark.django_db
def test_failure_group_over_the_bulk_cap_is_refused_whole(alice, user, settings):
    settings.TASKBOARD_BULK_MAX = 2
    tasks = [fail(user) for _ in range(3)]
    response = freeze(alice, "delete", group_key(user), follow=True)
    assert response.redirect_chain[-1][0] == LIST
    assert "more than 2 tasks" in response.content.decode()
    assert not BulkAction.objects.exists()
    assert Task.objects.filter(pk__in=[t.pk for t in tasks]).count() == 3


# --- large groups: a background bulk job with its own progress row -------------------


@pytest.mark.django_db
def test_failure_large_group_becomes_a_background_bulk_job(alice, user, settings):
    settings.TASKBOARD_BULK_INLINE_MAX = 2
    tasks = [fail(user) for _ in range(3)]
    bulk = frozen(alice, user, "delete")
    response = confirm(alice, bulk)
    bulk.refresh_from_db()
    job = bulk.job
    assert job.name == "taskboard.bulk_action"
    assert job.owner == user
    assert job.kwargs == {"bulk_id": str(bulk.pk)}
    assert response["Location"] == f"/tasks/{job.pk}/"
    # Nothing is deleted in the request: the job does it, in batches.
    assert Task.objects.filter(pk__in=[t.pk for t in tasks]).count() == 3
    assert "runs in the background" in alice.get(response["Location"]).content.decode()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_failure_large_group_retry_runs_on_the_worker(celery_worker, alice, user, settings):
    settings.TASKBOARD_BULK_INLINE_MAX = 2
    tasks = [fail(user, name="demo.quick", kwargs={"x": 1, "y": 2}) for _ in range(3)]
    bulk = frozen(alice, user, "retry")
    confirm(alice, bulk)
    bulk.refresh_from_db()
    job = wait_for(
        lambda: Task.objects.filter(pk=bulk.job_id, status="completed").first(),
        timeout=60,
        message="the bulk job to complete",
    )
    assert job.result["acted"] == 3, job.result
    for task in tasks:
        assert Task.objects.filter(retry_of=task).count() == 1
    (entry,) = AuditLog.objects.filter(action=AuditLog.BULK_RETRY)
    assert entry.actor == user
    assert sorted(entry.task_ids) == sorted(str(t.pk) for t in tasks)


# --- the audit log ---------------------------------------------------------------


@pytest.mark.django_db
def test_failure_retry_writes_one_audit_entry_with_the_ids(alice, user):
    tasks = [fail(user) for _ in range(2)]
    bulk = frozen(alice, user, "retry")
    confirm(alice, bulk)
    (entry,) = AuditLog.objects.filter(action=AuditLog.BULK_RETRY)
    assert entry.actor == user
    assert sorted(entry.task_ids) == sorted(str(t.pk) for t in tasks)
    assert "failure group demo.fail" in entry.note
    assert str(bulk.pk) in entry.note


@pytest.mark.django_db
def test_failure_delete_writes_one_audit_entry(alice, user):
    task = fail(user)
    confirm(alice, frozen(alice, user, "delete"))
    (entry,) = AuditLog.objects.filter(action=AuditLog.BULK_DELETE)
    assert entry.task_ids == [str(task.pk)]


@pytest.mark.django_db
def test_failure_freeze_alone_writes_no_audit_entry(alice, user):
    fail(user)
    frozen(alice, user, "delete")
    assert not AuditLog.objects.exists()


# --- roles ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_failures_read_only_staff_see_groups_without_actions(client, read_only_staff, other_user):
    fail(other_user, "boom of bob")
    client.force_login(read_only_staff)
    body = client.get("/tasks/failures/").content.decode()
    assert "boom of bob" in body
    assert "Delete all" not in body
    assert "/tasks/failures/delete/" not in body


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["retry", "delete"])
def test_failures_read_only_staff_get_403(client, read_only_staff, other_user, action):
    theirs = fail(other_user)
    client.force_login(read_only_staff)
    assert freeze(client, action, group_key(other_user)).status_code == 403
    assert not BulkAction.objects.exists()
    assert Task.objects.filter(pk=theirs.pk).exists()
    assert not Task.objects.filter(retry_of=theirs).exists()


@pytest.mark.django_db
def test_failures_user_who_may_not_launch_gets_403(client, user):
    user.groups.clear()
    fail(user)
    client.force_login(user)
    assert freeze(client, "retry", group_key(user)).status_code == 403
    assert not BulkAction.objects.exists()


@pytest.mark.django_db
def test_failure_bulk_action_of_another_user_cannot_be_confirmed(client, user, other_user):
    theirs = fail(other_user)
    client.force_login(other_user)
    bulk = frozen(client, other_user, "delete")
    client.force_login(user)
    assert confirm(client, bulk).status_code == 404
    assert Task.objects.filter(pk=theirs.pk).exists()


# --- the request itself ----------------------------------------------------------------


@pytest.mark.django_db
def test_failure_act_unknown_group_goes_back_with_a_message(alice, user):
    fail(user)
    response = freeze(alice, "retry", "0000000000000000", days="1")
    assert response.status_code == 303
    assert response["Location"] == "/tasks/failures/?days=1"
    assert not BulkAction.objects.exists()


@pytest.mark.django_db
def test_failure_act_htmx_gets_hx_redirect_to_the_confirmation(alice, user):
    fail(user)
    response = freeze(alice, "delete", group_key(user), headers=HX)
    bulk = BulkAction.objects.get()
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/tasks/bulk/{bulk.pk}/?{urlencode({'next': LIST})}"


@pytest.mark.django_db
def test_failure_confirm_from_htmx_gets_hx_redirect_back(alice, user):
    task = fail(user)
    bulk = frozen(alice, user, "delete")
    response = confirm(alice, bulk, headers=HX)
    assert response["HX-Redirect"] == LIST
    assert not Task.objects.filter(pk=task.pk).exists()


@pytest.mark.django_db
def test_failure_action_get_is_405(alice):
    assert alice.get("/tasks/failures/delete/").status_code == 405


@pytest.mark.django_db
def test_failure_action_unknown_is_404(alice):
    assert alice.post("/tasks/failures/explode/", {"key": ""}).status_code == 404


@pytest.mark.django_db
def test_failure_action_requires_csrf(user):
    fail(user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert freeze(client, "delete", group_key(user)).status_code == 403
    assert not BulkAction.objects.exists()


def test_failure_action_anonymous_redirects_to_login(client):
    response = client.post("/tasks/failures/delete/", {"key": ""})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
