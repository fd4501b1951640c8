"""A real worker of the host's Celery app runs the host's tasks launched over HTTP."""

import re

import pytest

from taskboard.models import Task

pytestmark = pytest.mark.django_db(transaction=True)

DETAIL = re.compile(r"^/ops/jobs/tasks/([0-9a-f-]{36})/$")


def launched(response) -> str:
    """Return the id of the task a launch (or retry) redirected to."""
    assert response.status_code == 303, response.content.decode()[:2000]
    return DETAIL.match(response["Location"]).group(1)


def test_launch_over_http_runs_on_the_hosts_worker(host_worker, finished, member_client, member):
    response = member_client.post("/ops/jobs/launch/hostproj.add/", {"x": "2", "y": "40"})
    task_id = launched(response)
    created = Task.objects.get(pk=task_id)
    assert created.owner == member
    assert created.kwargs == {"x": 2, "y": 40}

    row = finished(task_id)
    assert row.status == "completed", row.error_message
    assert row.result == 42
    assert row.worker.startswith("host-")

    page = member_client.get(f"/ops/jobs/tasks/{task_id}/").content.decode()
    assert "Launched “Host: add two numbers”." in page
    assert "carol@example.com" in page
    # The table's poll, from the token the row had when launched, answers it finished.
    poll = member_client.get("/ops/jobs/tasks/status/", {"ids": f"{task_id}:1.p"})
    assert f'<tr id="task-{task_id}" class="task-row status-completed"' in poll.content.decode()


def test_retry_of_a_failed_task_over_http(host_worker, finished, member_client, member):
    first = launched(
        member_client.post("/ops/jobs/launch/hostproj.fail/", {"message": "host boom"})
    )
    failed = finished(first)
    assert failed.status == "failed"
    assert failed.error_type == "HostFailure"
    assert failed.error_message == "host boom"

    second = launched(member_client.post(f"/ops/jobs/tasks/{first}/retry/"))
    assert second != first
    retry = finished(second)
    assert retry.retry_of_id == failed.pk
    assert retry.owner == member
    assert retry.kwargs == {"message": "host boom"}
    assert retry.status == "failed"

    body = member_client.get("/ops/jobs/tasks/").content.decode()
    assert f'id="task-{first}"' in body
    assert f'id="task-{second}"' in body
