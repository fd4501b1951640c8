"""Bulk actions: select, freeze the exact ids, confirm, run once (inline or in the background)."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlparse

import pytest
from celery import current_app
from django.contrib.auth.models import Group
from django.test import Client

from taskboard import services
from taskboard.models import AuditLog, BulkAction, Task
from taskboard.services import bulk as bulk_service
from tests.conftest import wait_for
from tests.factories import TaskFactory

# No broker in these tests: revoke broadcasts are recorded (tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("revokes")]


def failed(owner, **fields) -> Task:
    # demo.fail takes no x or y (the factory's default arguments): none, as it was launched.
    return TaskFactory(failed=True, name="demo.fail", owner=owner, kwargs={}, **fields)


def pending(owner) -> Task:
    return TaskFactory(name="demo.long", owner=owner, kwargs={})


def prepare(client: Client, action: str, ids=(), query: str = "", **extra) -> BulkAction:
    data = {"action": action, "ids": [str(i) for i in ids], "next": "/tasks/?status=failed"}
    response = client.post(f"/tasks/bulk/{query}", {**data, **extra})
    assert response.status_code == 303
    return BulkAction.objects.get()


# --- the table ---------------------------------------------------------------------------


def test_table_rows_have_a_checkbox_in_the_bulk_form(alice, user):
    task = failed(user)
    body = alice.get("/tasks/").content.decode()
    assert f'name="ids" value="{task.pk}" form="bulk-form" data-select' in body
    assert 'id="bulk-form"' in body
    assert 'action="/tasks/bulk/"' in body


def test_table_offers_all_matching_with_the_filtered_count(alice, user):
    failed(user), failed(user), pending(user)
    body = alice.get("/tasks/?status=failed").content.decode()
    assert "All 2 matching this filter" in body
    assert 'action="/tasks/bulk/?status=failed"' in body


def test_table_fragment_for_htmx_keeps_the_bulk_form(alice, user):
    failed(user)
    body = alice.get("/tasks/?status=failed", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="bulk-form"' in body


def test_row_from_the_poll_keeps_its_checkbox(alice, user):
    task = pending(user)
    body = alice.get("/tasks/status/", {"ids": f"{task.pk}:0.x"}).content.decode()
    assert f'value="{task.pk}" form="bulk-form" data-select' in body


# --- prepare: the frozen selection ----------------------------------------------------------


def test_prepare_freezes_the_selected_ids_and_redirects_to_confirm(alice, user):
    first, second = failed(user), failed(user)
    response = alice.post(
        "/tasks/bulk/", {"action": "retry", "ids": [first.pk, second.pk], "next": "/tasks/"}
    )
    bulk = BulkAction.objects.get()
    assert response.status_code == 303
    assert urlparse(response["Location"]).path == f"/tasks/bulk/{bulk.pk}/"
    assert parse_qs(urlparse(response["Location"]).query)["next"] == ["/tasks/"]
    assert set(bulk.task_ids) == {str(first.pk), str(second.pk)}
    assert bulk.count == 2
    assert bulk.confirmed_at is None


def test_prepare_leaves_out_tasks_the_action_does_not_apply_to(alice, user):
    done, running = failed(user), pending(user)
    bulk = prepare(alice, "retry", [done.pk, running.pk])
    assert bulk.task_ids == [str(done.pk)]
    assert bulk.outcome["selected"] == 2


def test_prepare_delete_leaves_out_pinned_tasks(alice, user):
    kept, gone = failed(user, pinned=True), failed(user)
    bulk = prepare(alice, "delete", [kept.pk, gone.pk])
    assert bulk.task_ids == [str(gone.pk)]


def test_prepare_all_matching_uses_the_filter_of_the_query_string(alice, user):
    wanted = failed(user)
    TaskFactory(completed=True, owner=user)
    bulk = prepare(alice, "delete", query="?status=failed", all="1")
    assert bulk.task_ids == [str(wanted.pk)]
    assert "status=failed" in bulk.description


def test_prepare_without_selection_goes_back_with_a_message(alice):
    response = alice.post("/tasks/bulk/", {"action": "retry", "next": "/tasks/"}, follow=True)
    assert "Select some rows first" in response.content.decode()
    assert not BulkAction.objects.exists()


def test_prepare_with_nothing_applicable_explains(alice, user):
    task = pending(user)
    response = alice.post("/tasks/bulk/", {"action": "retry", "ids": [task.pk]}, follow=True)
    assert "None of the selected tasks can be retried" in response.content.decode()
    assert not BulkAction.objects.exists()


def test_prepare_unknown_action_is_refused(alice, user):
    task = failed(user)
    response = alice.post("/tasks/bulk/", {"action": "explode", "ids": [task.pk]}, follow=True)
    assert "Unknown bulk action" in response.content.decode()
    assert not BulkAction.objects.exists()


def test_prepare_malformed_id_is_400(alice):
    response = alice.post("/tasks/bulk/", {"action": "retry", "ids": ["not-a-uuid"]})
    assert response.status_code == 400


def test_prepare_over_the_cap_is_refused(alice, user, settings):
    settings.TASKBOARD_BULK_MAX = 1
    failed(user), failed(user)
    response = alice.post("/tasks/bulk/", {"action": "delete", "all": "1"}, follow=True)
    assert "more than 1 tasks" in response.content.decode()
    assert not BulkAction.objects.exists()


def test_prepare_all_matching_over_the_cap_says_so_and_keeps_the_filter(alice, user, settings):
    settings.TASKBOARD_BULK_MAX = 2
    tasks = [failed(user) for _ in range(3)]
    data = {"action": "retry", "all": "1", "next": "/tasks/?status=failed"}
    response = alice.post("/tasks/bulk/?status=failed", data)
    assert response.status_code == 303
    assert response["Location"] == "/tasks/?status=failed"
    body = alice.get(response["Location"]).content.decode()
    assert "more than 2 tasks, the most one bulk action takes. Nothing was done" in body
    assert not BulkAction.objects.exists()
    assert not Task.objects.filter(retry_of__in=tasks).exists()


def test_prepare_all_matching_at_the_cap_is_frozen(alice, user, settings):
    settings.TASKBOARD_BULK_MAX = 2
    tasks = [failed(user), failed(user)]
    bulk = prepare(alice, "retry", query="?status=failed", all="1")
    assert set(bulk.task_ids) == {str(t.pk) for t in tasks}


def test_prepare_all_matching_never_counts_the_whole_history(alice, user, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.TASKBOARD_BULK_MAX = 2
    for _ in range(3):
        failed(user)
    with CaptureQueriesContext(connection) as queries:
        alice.post("/tasks/bulk/?status=failed", {"action": "delete", "all": "1"})
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert counts, "the selection is counted"
    assert all("LIMIT 3" in sql.upper() for sql in counts), counts


def test_prepare_with_1500_ticked_ids_in_one_field_freezes_them(alice, user):
    # Over DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000) as separate fields; the page sends one.
    tasks = Task.objects.bulk_create(
        TaskFactory.build_batch(1500, failed=True, name="demo.fail", owner=user, kwargs={})
    )
    ids = ",".join(str(t.pk) for t in tasks)
    response = alice.post("/tasks/bulk/", {"action": "delete", "ids": ids, "next": "/tasks/"})
    assert response.status_code == 303
    bulk = BulkAction.objects.get()
    assert bulk.count == 1500
    assert bulk.description == "1500 selected rows"


def test_prepare_with_more_ticked_ids_than_the_cap_says_to_use_all_matching(alice, user):
    ids = ",".join(str(uuid.uuid4()) for _ in range(10_001))
    response = alice.post("/tasks/bulk/", {"action": "retry", "ids": ids, "next": "/tasks/"})
    assert response.status_code == 303
    assert response["Location"] == "/tasks/"
    body = alice.get("/tasks/").content.decode()
    assert "More than 10,000 rows are ticked" in body
    assert "All N matching this filter" in body
    assert not BulkAction.objects.exists()


def test_prepare_with_more_ids_than_the_cap_as_separate_fields_says_so(alice, user, settings):
    settings.TASKBOARD_BULK_MAX = 1
    ids = [failed(user).pk, failed(user).pk]
    response = alice.post("/tasks/bulk/", {"action": "delete", "ids": ids}, follow=True)
    assert "More than 1 rows are ticked" in response.content.decode()
    assert not BulkAction.objects.exists()


def test_prepare_is_post_only(alice):
    assert alice.get("/tasks/bulk/").status_code == 405


def test_unsafe_next_is_replaced_by_the_table(alice, user):
    task = failed(user)
    response = alice.post(
        "/tasks/bulk/", {"action": "retry", "ids": [task.pk], "next": "https://evil.example/"}
    )
    assert parse_qs(urlparse(response["Location"]).query)["next"] == ["/tasks/"]


# --- confirm page ---------------------------------------------------------------------------


def test_confirm_page_shows_count_and_exact_ids(alice, user):
    tasks = [failed(user) for _ in range(3)]
    bulk = prepare(alice, "retry", [t.pk for t in tasks])
    body = alice.get(f"/tasks/bulk/{bulk.pk}/?next=/tasks/").content.decode()
    assert "Retry these 3 tasks?" in body
    for task in tasks:
        assert str(task.pk) in body
    assert 'id="bulk-confirm-button"' in body


def test_confirm_page_previews_the_first_ids_and_counts_the_rest(alice, user):
    tasks = [failed(user) for _ in range(23)]
    bulk = prepare(alice, "delete", [t.pk for t in tasks])
    body = alice.get(f"/tasks/bulk/{bulk.pk}/").content.decode()
    assert "…and 3 more." in body
    assert body.count('<code class="task-id">') == 20


def test_confirm_page_says_how_many_were_left_out(alice, user):
    bulk = prepare(alice, "retry", [failed(user).pk, pending(user).pk])
    body = alice.get(f"/tasks/bulk/{bulk.pk}/").content.decode()
    assert "1 of the 2 selected tasks is left out" in body


def test_confirm_page_of_unknown_selection_is_404(alice):
    assert alice.get(f"/tasks/bulk/{uuid.uuid4()}/").status_code == 404


# --- run: exactly the frozen ids, once ----------------------------------------------------


def test_confirm_retries_each_frozen_task_once(alice, user):
    tasks = [failed(user) for _ in range(3)]
    bulk = prepare(alice, "retry", [t.pk for t in tasks])
    response = alice.post(f"/tasks/bulk/{bulk.pk}/", {"next": "/tasks/?status=failed"})
    assert response.status_code == 303
    assert response["Location"] == "/tasks/?status=failed"
    for task in tasks:
        assert Task.objects.filter(retry_of=task).count() == 1


def test_confirm_tells_what_was_done(alice, user):
    bulk = prepare(alice, "delete", [failed(user).pk, failed(user).pk])
    response = alice.post(f"/tasks/bulk/{bulk.pk}/", {"next": "/tasks/"}, follow=True)
    assert "Deleted 2 tasks." in response.content.decode()


def test_task_created_after_confirmation_page_is_untouched_by_delete(alice, user):
    old = [failed(user) for _ in range(2)]
    bulk = prepare(alice, "delete", query="?status=failed", all="1")
    alice.get(f"/tasks/bulk/{bulk.pk}/")
    newcomer = failed(user)  # matches the filter, but arrived after the freeze
    alice.post(f"/tasks/bulk/{bulk.pk}/")
    assert not Task.objects.filter(pk__in=[t.pk for t in old]).exists()
    assert Task.objects.filter(pk=newcomer.pk).exists()


def test_task_created_after_confirmation_page_is_not_retried(alice, user):
    failed(user)
    bulk = prepare(alice, "retry", query="?status=failed", all="1")
    newcomer = failed(user)
    alice.post(f"/tasks/bulk/{bulk.pk}/")
    assert not Task.objects.filter(retry_of=newcomer).exists()
    assert Task.objects.filter(retry_of__isnull=False).count() == 1


def test_second_confirm_does_nothing_more(alice, user):
    task = failed(user)
    bulk = prepare(alice, "retry", [task.pk])
    alice.post(f"/tasks/bulk/{bulk.pk}/")
    response = alice.post(f"/tasks/bulk/{bulk.pk}/", follow=True)
    assert "already confirmed" in response.content.decode()
    assert Task.objects.filter(retry_of=task).count() == 1


def test_confirmed_page_shows_the_outcome(alice, user):
    bulk = prepare(alice, "delete", [failed(user).pk])
    alice.post(f"/tasks/bulk/{bulk.pk}/")
    body = alice.get(f"/tasks/bulk/{bulk.pk}/").content.decode()
    assert "Deleted 1 task." in body
    assert 'id="bulk-confirm-button"' not in body


def test_cancel_cancels_pending_tasks_with_one_revoke(alice, user, revokes):
    tasks = [pending(user) for _ in range(3)]
    bulk = prepare(alice, "cancel", [t.pk for t in tasks])
    alice.post(f"/tasks/bulk/{bulk.pk}/")
    assert set(Task.objects.values_list("status", flat=True)) == {"cancelled"}
    assert len(revokes) == 1
    assert sorted(revokes[0]) == sorted(str(t.pk) for t in tasks)


def test_delete_skips_a_task_pinned_after_the_freeze(alice, user):
    task = failed(user)
    bulk = prepare(alice, "delete", [task.pk])
    Task.objects.filter(pk=task.pk).update(pinned=True)
    alice.post(f"/tasks/bulk/{bulk.pk}/")
    assert Task.objects.filter(pk=task.pk).exists()


def test_retry_skips_a_task_deleted_after_the_freeze(alice, user):
    kept, gone = failed(user), failed(user)
    bulk = prepare(alice, "retry", [kept.pk, gone.pk])
    gone.delete()
    alice.post(f"/tasks/bulk/{bulk.pk}/")
    bulk.refresh_from_db()
    assert bulk.outcome["acted"] == 1
    assert bulk.outcome["skipped"] == 1


def test_bulk_retry_is_not_refused_by_the_launch_rate_limit(alice, user, settings):
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 5
    tasks = [failed(user) for _ in range(3)]
    Task.objects.filter(pk__in=[t.pk for t in tasks]).update(created_at="2020-01-01T00:00Z")
    TaskFactory.create_batch(3, completed=True, owner=user)
    bulk = prepare(alice, "retry", [t.pk for t in tasks])
    alice.post(f"/tasks/bulk/{bulk.pk}/")
    bulk.refresh_from_db()
    assert bulk.outcome["acted"] == 3
    assert not bulk.outcome.get("stopped")


def test_operator_bulk_retry_leaves_their_launch_rate_limit_untouched(
    client, staff_user, user, settings
):
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 3
    tasks = [failed(user) for _ in range(5)]
    client.force_login(staff_user)
    bulk = prepare(client, "retry", [t.pk for t in tasks])
    client.post(f"/tasks/bulk/{bulk.pk}/")
    assert Task.objects.filter(retry_of__isnull=False, owner=staff_user).count() == 5
    # The five retries are the bulk action's, not launches of the operator's own.
    response = client.post("/launch/demo.quick/", {"x": 1, "y": 2})
    assert response.status_code in (302, 303)
    assert Task.objects.filter(owner=staff_user, retry_of__isnull=True).count() == 1


def test_operator_bulk_retry_is_not_rate_limited(client, staff_user, user, settings):
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 1
    tasks = [failed(user) for _ in range(3)]
    client.force_login(staff_user)
    bulk = prepare(client, "retry", [t.pk for t in tasks])
    client.post(f"/tasks/bulk/{bulk.pk}/")
    assert Task.objects.filter(retry_of__isnull=False).count() == 3


# --- already retried: each failure once, unless asked ----------------------------------------


def test_second_retry_all_leaves_out_the_already_retried_and_says_why(alice, user):
    tasks = [failed(user) for _ in range(3)]
    first = prepare(alice, "retry", [t.pk for t in tasks])
    alice.post(f"/tasks/bulk/{first.pk}/")
    response = alice.post(
        "/tasks/bulk/", {"action": "retry", "ids": [t.pk for t in tasks], "next": "/tasks/"}
    )
    second = BulkAction.objects.exclude(pk=first.pk).get()
    assert second.count == 0
    body = alice.get(response["Location"]).content.decode()
    assert "3 of the selected tasks were already retried and are left out" in body
    assert "Include already retried: 3" in body
    assert 'id="bulk-confirm-button"' not in body
    for task in tasks:
        assert Task.objects.filter(retry_of=task).count() == 1


def test_confirm_page_counts_only_the_not_yet_retried(alice, user):
    retried, fresh = failed(user), failed(user)
    failed(user, retry_of=retried)
    bulk = prepare(alice, "retry", [retried.pk, fresh.pk])
    assert bulk.task_ids == [str(fresh.pk)]
    body = alice.get(f"/tasks/bulk/{bulk.pk}/").content.decode()
    assert "Retry these 1 task?" in body
    assert "1 of the selected tasks was already retried and is left out" in body
    assert "is left out: the action does not apply" not in body


def test_two_retry_alls_frozen_before_either_ran_retry_each_failure_once(alice, user):
    tasks = [failed(user) for _ in range(3)]
    data = {"action": "retry", "ids": [t.pk for t in tasks], "next": "/tasks/"}
    alice.post("/tasks/bulk/", data)
    alice.post("/tasks/bulk/", data)
    first, second = BulkAction.objects.order_by("created_at")
    alice.post(f"/tasks/bulk/{first.pk}/")
    response = alice.post(f"/tasks/bulk/{second.pk}/", {"next": "/tasks/"}, follow=True)
    for task in tasks:
        assert Task.objects.filter(retry_of=task).count() == 1
    second.refresh_from_db()
    assert second.outcome["acted"] == 0
    assert second.outcome["already_retried"] == 3
    assert "3 skipped: already retried meanwhile" in response.content.decode()


def test_include_already_retried_retries_them_once_more_on_request(alice, user):
    retried, fresh = failed(user), failed(user)
    failed(user, retry_of=retried)
    bulk = prepare(alice, "retry", [retried.pk, fresh.pk])
    response = alice.post(
        f"/tasks/bulk/{bulk.pk}/include-retried/", {"next": "/tasks/?status=failed"}
    )
    included = BulkAction.objects.exclude(pk=bulk.pk).get()
    assert urlparse(response["Location"]).path == f"/tasks/bulk/{included.pk}/"
    assert set(included.task_ids) == {str(retried.pk), str(fresh.pk)}
    body = alice.get(response["Location"]).content.decode()
    assert "Retry these 2 tasks?" in body
    assert "already retried are included" in body
    alice.post(f"/tasks/bulk/{included.pk}/")
    assert Task.objects.filter(retry_of=retried).count() == 2
    assert Task.objects.filter(retry_of=fresh).count() == 1


def test_include_already_retried_of_someone_elses_selection_is_404(client, other_user, user):
    retried = failed(user)
    failed(user, retry_of=retried)
    bulk = services.bulk_prepare(
        user=user, action="retry", queryset=Task.objects.filter(pk=retried.pk), selected=1
    )
    client.force_login(other_user)
    assert client.post(f"/tasks/bulk/{bulk.pk}/include-retried/").status_code == 404


def test_resumed_run_including_the_retried_retries_each_once(user):
    tasks = [failed(user) for _ in range(2)]
    bulk = BulkAction.objects.create(
        actor=user,
        action="retry",
        task_ids=[str(t.pk) for t in tasks],
        count=2,
        confirmed_at="2024-01-01T00:00Z",
        outcome={"include_retried": True},
    )
    # The run's worker died after retrying the first task, before recording the batch.
    failed(user, retry_of=tasks[0], bulk=bulk)
    outcome = services.bulk_run(bulk_id=bulk.pk)
    assert outcome["acted"] == 1
    assert Task.objects.filter(retry_of=tasks[0]).count() == 1
    assert Task.objects.filter(retry_of=tasks[1], bulk=bulk).count() == 1


def test_background_job_of_a_bulk_action_is_marked_with_it(alice, user, settings):
    settings.TASKBOARD_BULK_INLINE_MAX = 1
    tasks = [failed(user) for _ in range(2)]
    bulk = prepare(alice, "retry", [t.pk for t in tasks])
    alice.post(f"/tasks/bulk/{bulk.pk}/")
    bulk.refresh_from_db()
    assert bulk.job.bulk_id == bulk.pk


# --- large sets: a background task of their own ------------------------------------------


def test_large_set_runs_as_a_background_task_row(alice, user, settings):
    settings.TASKBOARD_BULK_INLINE_MAX = 2
    tasks = [failed(user) for _ in range(3)]
    bulk = prepare(alice, "delete", [t.pk for t in tasks])
    response = alice.post(f"/tasks/bulk/{bulk.pk}/")
    bulk.refresh_from_db()
    job = bulk.job
    assert job.name == "taskboard.bulk_action"
    assert job.owner == user
    assert job.kwargs == {"bulk_id": str(bulk.pk)}
    assert response["Location"] == f"/tasks/{job.pk}/"
    # Nothing is deleted in the request: the worker does it.
    assert Task.objects.filter(pk__in=[t.pk for t in tasks]).count() == 3


def test_background_run_acts_in_batches_and_resumes(user, monkeypatch):
    monkeypatch.setattr(bulk_service, "BULK_BATCH", 2)
    tasks = [failed(user) for _ in range(5)]
    bulk = BulkAction.objects.create(
        actor=user,
        action="delete",
        task_ids=[str(t.pk) for t in tasks],
        count=5,
        confirmed_at="2024-01-01T00:00Z",
        # A previous run (its worker died) finished the first batch.
        outcome={"done": 2, "acted": 2},
    )
    outcome = services.bulk_run(bulk_id=bulk.pk)
    assert outcome["done"] == 5
    assert outcome["acted"] == 5
    assert Task.objects.filter(pk__in=[t.pk for t in tasks[:2]]).count() == 2
    assert AuditLog.objects.filter(action="bulk_delete").count() == 2


def test_background_run_of_unconfirmed_selection_is_refused(user):
    bulk = BulkAction.objects.create(actor=user, action="delete", task_ids=[], count=0)
    with pytest.raises(services.ActionNotAllowed):
        services.bulk_run(bulk_id=bulk.pk)


def test_bulk_action_task_is_registered_but_not_launchable():
    from taskboard import registry

    assert "taskboard.bulk_action" in current_app.tasks
    with pytest.raises(registry.UnknownTask):
        registry.get("taskboard.bulk_action")


def test_operators_group_member_acts_on_others_in_bulk(client, django_user_model, user):
    member = django_user_model.objects.create_user("otto", password="otto-secret-pw")
    member.groups.add(Group.objects.get(name="Operators"))
    task = failed(user)
    client.force_login(member)
    bulk = prepare(client, "delete", [task.pk])
    client.post(f"/tasks/bulk/{bulk.pk}/")
    assert not Task.objects.filter(pk=task.pk).exists()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_large_bulk_retry_runs_on_the_worker_with_progress_row(celery_worker, user, settings):
    settings.TASKBOARD_BULK_INLINE_MAX = 2
    tasks = TaskFactory.create_batch(3, failed=True, owner=user, kwargs={"x": 1, "y": 2})
    bulk = services.bulk_prepare(user=user, action="retry", queryset=Task.objects.all(), selected=3)
    bulk = services.bulk_confirm(user=user, bulk=bulk)
    job = wait_for(
        lambda: Task.objects.filter(pk=bulk.job_id, status="completed").first(),
        timeout=60,
        message="the bulk job to complete",
    )
    assert job.result["acted"] == 3, job.result
    for task in tasks:
        assert Task.objects.filter(retry_of=task).count() == 1
