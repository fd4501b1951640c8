"""Task detail, retry, cancel and download at the HTTP level (no broker, no worker)."""

from __future__ import annotations

import json
import os

import pytest
from django.test import Client
from django.utils import timezone

from taskboard.maintenance import export_path
from taskboard.models import Task
from tests.conftest import wait_for
from tests.factories import TaskFactory

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def client_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def failed(user):
    return TaskFactory(
        failed=True,
        name="demo.fail",
        owner=user,
        kwargs={"message": "boom"},
        error_type="DemoFailure",
        error_message="boom (while running the demo)",
        traceback=(
            'Traceback (most recent call last):\n  File "x.py", line 1\nDemoFailure: <b>boom</b>'
        ),
        worker="w1@host",
    )


@pytest.fixture
def pending(user):
    return TaskFactory(name="demo.long", owner=user, kwargs={})


# --- detail -------------------------------------------------------------------


@pytest.mark.django_db
def test_detail_full_page(client_in, failed):
    response = client_in.get(f"/tasks/{failed.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body
    assert 'id="task-detail"' in body
    assert response["Vary"].count("HX-Request") == 1


@pytest.mark.django_db
def test_detail_fragment_for_htmx(client_in, failed):
    response = client_in.get(f"/tasks/{failed.pk}/", **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert body.lstrip().startswith('<section id="task-detail"')


@pytest.mark.django_db
def test_detail_shows_error_and_escaped_traceback(client_in, failed):
    body = client_in.get(f"/tasks/{failed.pk}/").content.decode()
    assert "DemoFailure" in body
    assert "boom (while running the demo)" in body
    assert "Traceback (most recent call last):" in body
    assert "&lt;b&gt;boom&lt;/b&gt;" in body
    assert 'data-copy="#traceback"' in body
    assert "w1@host" in body


@pytest.mark.django_db
def test_detail_shows_pretty_arguments(client_in, failed):
    body = client_in.get(f"/tasks/{failed.pk}/").content.decode()
    assert "{\n  &quot;message&quot;: &quot;boom&quot;\n}" in body


@pytest.mark.django_db
def test_detail_shows_pretty_result(client_in, user):
    task = TaskFactory(
        completed=True, name="demo.long", owner=user, result={"seconds": 1, "steps": 2}
    )
    body = client_in.get(f"/tasks/{task.pk}/").content.decode()
    assert "{\n  &quot;seconds&quot;: 1,\n  &quot;steps&quot;: 2\n}" in body


@pytest.mark.django_db
def test_detail_flags_a_truncated_result(client_in, user):
    task = TaskFactory(
        completed=True,
        owner=user,
        result={"truncated": True, "preview": '{"big": "aaaa'},
        result_truncated=True,
    )
    body = client_in.get(f"/tasks/{task.pk}/").content.decode()
    assert "shown truncated" in body
    assert "{&quot;big&quot;: &quot;aaaa" in body


@pytest.mark.django_db
def test_detail_links_the_retry_chain_both_ways(client_in, user, failed):
    retry = TaskFactory(failed=True, name="demo.fail", owner=user, retry_of=failed)
    newer = TaskFactory(name="demo.fail", owner=user, retry_of=retry)
    body = client_in.get(f"/tasks/{retry.pk}/").content.decode()
    assert f'href="/tasks/{failed.pk}/"' in body
    assert f'href="/tasks/{newer.pk}/"' in body


@pytest.mark.django_db
def test_detail_queries_stay_few(client_in, user, failed, django_assert_max_num_queries):
    retry = TaskFactory(failed=True, name="demo.fail", owner=user, retry_of=failed)
    # Session, user, the user's permissions (direct, through groups), the task, one per
    # earlier run in the chain, its retries, its audit entries, and how many retries it
    # has in all (the Retry form carries it, so that a double submit launches once), and
    # its stored log (only the whole page draws it; the detail's own poll does not), and
    # whether the user rang its bell.
    with django_assert_max_num_queries(11):
        client_in.get(f"/tasks/{retry.pk}/")


@pytest.mark.django_db
def test_detail_of_in_flight_task_polls_itself(client_in, pending):
    body = client_in.get(f"/tasks/{pending.pk}/", **HX).content.decode()
    assert 'hx-trigger="every 2s' in body
    assert f'hx-get="/tasks/{pending.pk}/?since=' in body


@pytest.mark.django_db
def test_detail_of_terminal_task_stops_polling(client_in, failed):
    body = client_in.get(f"/tasks/{failed.pk}/", **HX).content.decode()
    assert "hx-trigger" not in body


@pytest.mark.django_db
def test_detail_poll_unchanged_is_204(client_in, pending):
    first = client_in.get(f"/tasks/{pending.pk}/", **HX).content.decode()
    since = first.split("?since=", 1)[1].split('"', 1)[0]
    response = client_in.get(f"/tasks/{pending.pk}/?since={since}", **HX)
    assert response.status_code == 204


@pytest.mark.django_db
def test_detail_poll_changed_answers_the_fragment(client_in, pending):
    first = client_in.get(f"/tasks/{pending.pk}/", **HX).content.decode()
    since = first.split("?since=", 1)[1].split('"', 1)[0]
    Task.objects.filter(pk=pending.pk).update(status="completed", version=2, result=5)
    response = client_in.get(f"/tasks/{pending.pk}/?since={since}", **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-status="completed"' in body
    assert "hx-trigger" not in body


@pytest.mark.django_db
def test_detail_of_someone_elses_task_is_404(client_in, other_user):
    task = TaskFactory(completed=True, owner=other_user)
    assert client_in.get(f"/tasks/{task.pk}/").status_code == 404


@pytest.mark.django_db
def test_detail_staff_sees_others_tasks(client, staff_user, failed):
    client.force_login(staff_user)
    body = client.get(f"/tasks/{failed.pk}/").content.decode()
    assert "alice" in body  # the owner is shown to staff


@pytest.mark.django_db
def test_detail_anonymous_redirects_to_login(client, failed):
    response = client.get(f"/tasks/{failed.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_detail_anonymous_htmx_gets_hx_redirect(client, pending):
    response = client.get(f"/tasks/{pending.pk}/", **HX)
    assert response["HX-Redirect"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_detail_terminal_task_offers_retry_not_cancel(client_in, failed):
    body = client_in.get(f"/tasks/{failed.pk}/").content.decode()
    assert 'data-key="r"' in body
    assert 'data-key="c"' not in body
    assert f'href="/launch/demo.fail/?retry_of={failed.pk}"' in body


@pytest.mark.django_db
def test_detail_in_flight_task_offers_cancel_not_retry(client_in, pending):
    body = client_in.get(f"/tasks/{pending.pk}/").content.decode()
    assert 'data-key="c"' in body
    assert 'data-key="r"' not in body


# --- retry --------------------------------------------------------------------


@pytest.mark.django_db
def test_retry_creates_a_linked_row(client_in, failed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_in.post(f"/tasks/{failed.pk}/retry/")
    new = Task.objects.get(retry_of=failed)
    assert response.status_code == 303
    assert response["Location"] == f"/tasks/{new.pk}/"
    assert new.kwargs == failed.kwargs
    assert new.status == "pending"
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_retry_htmx_redirects_to_the_new_task(client_in, failed):
    response = client_in.post(f"/tasks/{failed.pk}/retry/", **HX)
    new = Task.objects.get(retry_of=failed)
    assert response["HX-Redirect"] == f"/tasks/{new.pk}/"


@pytest.mark.django_db
def test_retry_of_in_flight_task_is_409(client_in, pending):
    response = client_in.post(f"/tasks/{pending.pk}/retry/", **HX)
    assert response.status_code == 409
    assert "Only a finished task can be retried." in response.content.decode()
    assert Task.objects.count() == 1


@pytest.mark.django_db
def test_retry_of_someone_elses_task_is_404(client_in, other_user):
    task = TaskFactory(failed=True, name="demo.fail", owner=other_user)
    assert client_in.post(f"/tasks/{task.pk}/retry/").status_code == 404
    assert Task.objects.count() == 1


@pytest.mark.django_db
def test_retry_with_put_is_405(client_in, failed):
    # GET is the confirmation page (tests/views/test_confirmations.py).
    assert client_in.put(f"/tasks/{failed.pk}/retry/").status_code == 405


@pytest.mark.django_db
def test_retry_without_csrf_token_is_403(user, failed):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(f"/tasks/{failed.pk}/retry/").status_code == 403
    assert Task.objects.count() == 1


@pytest.mark.django_db
def test_retry_with_invalid_old_arguments_is_409(client_in, user):
    task = TaskFactory(failed=True, name="demo.long", owner=user, kwargs={"seconds": -1})
    response = client_in.post(f"/tasks/{task.pk}/retry/")
    assert response.status_code == 409
    assert "Retry with changes" in response.content.decode()


# --- cancel -------------------------------------------------------------------


@pytest.mark.django_db
def test_cancel_pending_task_cancels_it(client_in, pending, revokes):
    response = client_in.post(f"/tasks/{pending.pk}/cancel/")
    pending.refresh_from_db()
    assert response.status_code == 303
    assert response["Location"] == f"/tasks/{pending.pk}/"
    assert pending.status == "cancelled"
    assert revokes == [str(pending.pk)]


@pytest.mark.django_db
def test_cancel_htmx_answers_the_updated_fragment(client_in, pending, revokes):
    response = client_in.post(f"/tasks/{pending.pk}/cancel/", **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert 'data-status="cancelled"' in body
    assert "hx-trigger" not in body


@pytest.mark.django_db
def test_cancel_running_task_asks_it_to_stop(client_in, user, revokes):
    task = TaskFactory(running=True, name="demo.long", owner=user, kwargs={})
    body = client_in.post(f"/tasks/{task.pk}/cancel/", **HX).content.decode()
    task.refresh_from_db()
    assert task.status == "running"
    assert task.cancel_requested
    assert "stops at its next progress report" in body


@pytest.mark.django_db
def test_cancel_terminal_task_is_409(client_in, failed, revokes):
    response = client_in.post(f"/tasks/{failed.pk}/cancel/")
    assert response.status_code == 409
    assert "This task has already finished." in response.content.decode()
    assert revokes == []


@pytest.mark.django_db
def test_cancel_goes_back_to_a_safe_next(client_in, pending, revokes):
    response = client_in.post(f"/tasks/{pending.pk}/cancel/", {"next": "/tasks/?status=running"})
    assert response["Location"] == "/tasks/?status=running"


@pytest.mark.django_db
def test_cancel_ignores_an_offsite_next(client_in, pending, revokes):
    response = client_in.post(f"/tasks/{pending.pk}/cancel/", {"next": "https://evil.example/"})
    assert response["Location"] == f"/tasks/{pending.pk}/"


@pytest.mark.django_db
def test_cancel_of_someone_elses_task_is_404(client_in, other_user, revokes):
    task = TaskFactory(name="demo.long", owner=other_user, kwargs={})
    assert client_in.post(f"/tasks/{task.pk}/cancel/").status_code == 404
    task.refresh_from_db()
    assert task.status == "pending"
    assert revokes == []


@pytest.mark.django_db
def test_cancel_staff_may_cancel_others(client, staff_user, pending, revokes):
    client.force_login(staff_user)
    client.post(f"/tasks/{pending.pk}/cancel/")
    pending.refresh_from_db()
    assert pending.status == "cancelled"


@pytest.mark.django_db
def test_cancel_without_csrf_token_is_403(user, pending, revokes):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(f"/tasks/{pending.pk}/cancel/").status_code == 403
    pending.refresh_from_db()
    assert pending.status == "pending"


@pytest.mark.django_db
def test_cancel_anonymous_redirects_to_login(client, pending, revokes):
    response = client.post(f"/tasks/{pending.pk}/cancel/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- download -----------------------------------------------------------------


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.TASKBOARD_EXPORT_DIR = tmp_path
    return tmp_path


def _export(owner, export_dir, write=True) -> Task:
    task = TaskFactory(completed=True, name="taskboard.export_csv", owner=owner, kwargs={})
    task.result = {"file": f"{task.pk}.csv", "rows": 1}
    task.save()
    if write:
        (export_dir / f"{task.pk}.csv").write_text("id,name\n1,x\n")
    return task


@pytest.mark.django_db
def test_download_serves_the_file_as_attachment(client_in, user, export_dir):
    task = _export(user, export_dir)
    response = client_in.get(f"/tasks/{task.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{task.pk}.csv"'
    assert b"".join(response.streaming_content) == b"id,name\n1,x\n"


@pytest.mark.django_db
def test_download_link_shown_on_detail(client_in, user, export_dir):
    task = _export(user, export_dir)
    body = client_in.get(f"/tasks/{task.pk}/").content.decode()
    assert f'href="/tasks/{task.pk}/download/"' in body


@pytest.mark.django_db
def test_download_of_someone_elses_file_is_404(client_in, other_user, export_dir):
    task = _export(other_user, export_dir)
    assert client_in.get(f"/tasks/{task.pk}/download/").status_code == 404


@pytest.mark.django_db
def test_download_staff_may_fetch_others_files(client, staff_user, user, export_dir):
    task = _export(user, export_dir)
    client.force_login(staff_user)
    assert client.get(f"/tasks/{task.pk}/download/").status_code == 200


@pytest.mark.django_db
def test_download_missing_file_is_404(client_in, user, export_dir):
    task = _export(user, export_dir, write=False)
    assert client_in.get(f"/tasks/{task.pk}/download/").status_code == 404


@pytest.mark.django_db
def test_download_without_file_result_is_404(client_in, failed):
    assert client_in.get(f"/tasks/{failed.pk}/download/").status_code == 404


@pytest.mark.django_db
def test_download_never_follows_the_stored_name(client_in, user, export_dir):
    task = _export(user, export_dir)
    task.result = {"file": "../../etc/passwd", "rows": 1}
    task.save()
    response = client_in.get(f"/tasks/{task.pk}/download/")
    assert response["Content-Disposition"] == 'attachment; filename="passwd"'
    assert b"".join(response.streaming_content) == b"id,name\n1,x\n"


# --- actions sent from a row of the table -------------------------------------

ROW_HX = {**HX, "HTTP_X_TASKBOARD_ROWS": "1"}


@pytest.mark.django_db
def test_retry_from_the_table_answers_the_new_row(client_in, failed):
    response = client_in.post(f"/tasks/{failed.pk}/retry/", **ROW_HX)
    new = Task.objects.get(retry_of=failed)
    assert response.status_code == 200
    assert f'id="task-{new.pk}"' in response.content.decode()
    assert response["HX-Retarget"] == "#task-rows"
    assert response["HX-Reswap"] == "afterbegin"
    trigger = json.loads(response["HX-Trigger"])
    assert trigger["taskboard:launched"]["notice"] == "Retry launched."


@pytest.mark.django_db
def test_retry_htmx_from_the_task_page_shows_the_message_there(client_in, failed):
    response = client_in.post(f"/tasks/{failed.pk}/retry/", **HX)
    assert "Retry launched." in client_in.get(response["HX-Redirect"]).content.decode()


@pytest.mark.django_db
def test_retry_no_js_from_the_table_goes_back(client_in, failed):
    response = client_in.post(f"/tasks/{failed.pk}/retry/", {"next": "/tasks/?status=failed"})
    assert response["Location"] == "/tasks/?status=failed"


@pytest.mark.django_db
def test_cancel_from_the_row_answers_the_row(client_in, pending, revokes):
    response = client_in.post(
        f"/tasks/{pending.pk}/cancel/", HTTP_HX_TARGET=f"task-{pending.pk}", **HX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<tr id="task-{pending.pk}"')
    assert 'data-status="cancelled"' in body


@pytest.mark.django_db
def test_cancel_finished_task_from_the_row_is_409_with_the_row(client_in, failed, revokes):
    response = client_in.post(
        f"/tasks/{failed.pk}/cancel/", HTTP_HX_TARGET=f"task-{failed.pk}", **HX
    )
    assert response.status_code == 409
    assert f'<tr id="task-{failed.pk}"' in response.content.decode()
    assert response["HX-Retarget"] == f"#task-{failed.pk}"


@pytest.mark.django_db
def test_retry_over_the_rate_limit_is_429(client_in, failed, settings):
    settings.TASKBOARD_LAUNCH_RATE_PER_MINUTE = 1
    response = client_in.post(f"/tasks/{failed.pk}/retry/")
    assert response.status_code == 429
    assert "in the last minute" in response.content.decode()
    assert Task.objects.count() == 1


# --- through a real worker ------------------------------------------------------


def _row_in(task_id, *statuses: str) -> Task | None:
    row = Task.objects.filter(pk=task_id).first()
    return row if row and row.status in statuses else None


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_cancel_running_task_through_the_view_reaches_cancelled(celery_worker, user):
    client = Client()
    client.force_login(user)
    client.post("/launch/demo.long/", {"seconds": "60", "steps": "60"})
    task = Task.objects.get()
    wait_for(lambda: _row_in(task.pk, "running"), message="the long task to start")
    response = client.post(f"/tasks/{task.pk}/cancel/", **HX)
    assert "stops at its next progress report" in response.content.decode()
    row = wait_for(
        lambda: _row_in(task.pk, "cancelled", "completed", "failed"), message="it to stop"
    )
    assert row.status == "cancelled"
    assert row.error_message == "Cancelled by user while running"
    body = client.get(f"/tasks/{task.pk}/").content.decode()
    assert 'data-status="cancelled"' in body


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_csv_export_through_the_worker_downloads_from_the_view(celery_worker, user):
    TaskFactory(completed=True, owner=user)
    client = Client()
    client.force_login(user)
    client.post("/launch/taskboard.export_csv/", {"status": "completed", "name": "", "days": "30"})
    task = Task.objects.get(name="taskboard.export_csv")
    row = wait_for(
        lambda: _row_in(task.pk, "completed", "failed", "cancelled"), message="the export"
    )
    try:
        assert row.status == "completed"
        name = f"tasks-completed-{timezone.localdate().isoformat()}.csv"
        assert row.result == {"file": name, "rows": 1}
        detail = client.get(f"/tasks/{task.pk}/").content.decode()
        assert f'href="/tasks/{task.pk}/download/"' in detail
        response = client.get(f"/tasks/{task.pk}/download/")
        content = b"".join(response.streaming_content).decode()
        assert response.status_code == 200
        assert response["Content-Disposition"] == f'attachment; filename="{name}"'
        assert content.splitlines()[0].startswith("id,name,status")
        assert "demo.quick" in content
    finally:
        os.remove(export_path(task.pk))


@pytest.mark.django_db
def test_retry_double_submitted_launches_once_and_shows_the_first_run(client_in, failed):
    form = {"retries": "0"}
    client_in.post(f"/tasks/{failed.pk}/retry/", form)
    response = client_in.post(f"/tasks/{failed.pk}/retry/", form, follow=True)
    new = Task.objects.get(retry_of=failed)
    assert response.redirect_chain[-1][0] == f"/tasks/{new.pk}/"
    assert "Already retried: this is its newest run." in response.content.decode()


@pytest.mark.django_db
def test_retry_double_submitted_with_htmx_redirects_to_the_first_run(client_in, failed):
    client_in.post(f"/tasks/{failed.pk}/retry/", {"retries": "0"}, **HX)
    response = client_in.post(f"/tasks/{failed.pk}/retry/", {"retries": "0"}, **HX)
    new = Task.objects.get(retry_of=failed)
    assert response["HX-Redirect"] == f"/tasks/{new.pk}/"


@pytest.mark.django_db
def test_retry_of_an_already_retried_task_from_its_page_runs_again(client_in, user, failed):
    TaskFactory(failed=True, name="demo.fail", owner=user, retry_of=failed)
    body = client_in.get(f"/tasks/{failed.pk}/").content.decode()
    assert '<input type="hidden" name="retries" value="1">' in body
    client_in.post(f"/tasks/{failed.pk}/retry/", {"retries": "1"})
    assert Task.objects.filter(retry_of=failed).count() == 2
