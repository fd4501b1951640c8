"""The read-only JSON API: authentication, visibility, filters, keyset pages, bad input."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskboard.models import ApiToken, Task
from taskboard.tokens import hash_key, token_create

pytestmark = pytest.mark.django_db


def make(owner, n: int = 1, **fields) -> list[Task]:
    return [Task.objects.create(name="demo.quick", owner=owner, **fields) for _ in range(n)]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def key(user) -> str:
    return token_create(user=user)[1]


def test_api_anonymous_gets_401_json(client):
    response = client.get("/api/tasks/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "error" in response.json()


def test_api_unknown_token_401(client):
    response = client.get("/api/tasks/", headers=bearer("tb_not-a-real-key"))
    assert response.status_code == 401


def test_api_other_scheme_401(client, user):
    response = client.get("/api/tasks/", headers={"Authorization": "Basic YWxpY2U6eA=="})
    assert response.status_code == 401


def test_api_inactive_user_token_401(client, user, key):
    user.is_active = False
    user.save()
    assert client.get("/api/tasks/", headers=bearer(key)).status_code == 401


def test_api_token_lists_only_own_tasks(client, user, other_user, key):
    mine = make(user, 2)
    make(other_user, 3)
    response = client.get("/api/tasks/", headers=bearer(key))
    assert response.status_code == 200
    assert {item["id"] for item in response.json()["results"]} == {str(t.pk) for t in mine}


def test_api_session_auth_works(client, user):
    make(user)
    client.force_login(user)
    response = client.get("/api/tasks/")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_api_token_records_last_use(client, user, key):
    client.get("/api/tasks/", headers=bearer(key))
    assert ApiToken.objects.get(user=user).last_used_at is not None


def test_api_staff_sees_everyone_with_owner(client, user, staff_user):
    make(user)
    make(None)
    client.force_login(staff_user)
    owners = [item["owner"] for item in client.get("/api/tasks/").json()["results"]]
    assert sorted(owners, key=str) == [None, "alice"]


def test_api_read_only_staff_sees_the_owner_as_the_table_does(client, user, django_user_model):
    from django.contrib.auth.models import Group

    rita = django_user_model.objects.create_user("rita", password="rita-secret-pw")
    rita.groups.set([Group.objects.get(name="Read-only staff")])
    make(user)
    client.force_login(rita)
    assert [item["owner"] for item in client.get("/api/tasks/").json()["results"]] == ["alice"]


def test_api_owner_hidden_from_non_staff(client, user, key):
    make(user)
    item = client.get("/api/tasks/", headers=bearer(key)).json()["results"][0]
    assert "owner" not in item


def test_api_item_fields(client, user, key):
    parent = make(user, status="failed")[0]
    task = Task.objects.create(
        name="demo.quick",
        owner=user,
        status="completed",
        args=[1],
        kwargs={"x": 2},
        result=42,
        attempts=1,
        retry_of=parent,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    item = client.get(f"/api/tasks/{task.pk}/", headers=bearer(key)).json()
    assert item["id"] == str(task.pk)
    assert item["url"] == f"/api/tasks/{task.pk}/"
    assert (item["name"], item["status"], item["result"]) == ("demo.quick", "completed", 42)
    assert (item["args"], item["kwargs"]) == ([1], {"x": 2})
    assert item["retry_of"] == str(parent.pk)
    assert item["attempts"] == 1
    assert item["version"] == task.version
    assert item["finished_at"] == task.finished_at.isoformat()
    assert item["live"] is None
    assert item["traceback"] == ""


def test_api_in_flight_item_has_live_badge(client, user, key):
    make(user, status="running")
    item = client.get("/api/tasks/", headers=bearer(key)).json()["results"][0]
    assert item["live"]["status"] == "running"
    assert item["live"]["label"] == "Running"


def test_api_detail_of_others_task_404_json(client, other_user, key):
    task = make(other_user)[0]
    response = client.get(f"/api/tasks/{task.pk}/", headers=bearer(key))
    assert response.status_code == 404
    assert response.json() == {"error": "No such task."}


def test_api_detail_unknown_and_malformed_ids_404(client, key):
    assert client.get(f"/api/tasks/{uuid.uuid4()}/", headers=bearer(key)).status_code == 404
    assert client.get("/api/tasks/not-a-uuid/", headers=bearer(key)).status_code == 404


def test_api_detail_anonymous_401(client, user):
    task = make(user)[0]
    assert client.get(f"/api/tasks/{task.pk}/").status_code == 401


def test_api_filters_like_the_table(client, user, key):
    failed = make(user, 2, status="failed", error_message="disk full")
    make(user, 3, status="completed")
    response = client.get("/api/tasks/?status=failed", headers=bearer(key))
    assert {i["id"] for i in response.json()["results"]} == {str(t.pk) for t in failed}
    response = client.get("/api/tasks/?q=disk", headers=bearer(key))
    assert {i["id"] for i in response.json()["results"]} == {str(t.pk) for t in failed}


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "limit=abc",
        "limit=0",
        "limit=201",
        "limit=-1",
        "cursor=!!!",
        "cursor=bm90IGpzb24",
        "cursor=WyJ4IiwgInkiXQ",
        "q=" + "x" * 500,
    ],
)
def test_api_bad_params_400_json(client, user, key, query):
    response = client.get(f"/api/tasks/?{query}", headers=bearer(key))
    assert response.status_code == 400
    assert "error" in response.json()


def test_api_nul_in_search_is_not_500(client, user, key):
    response = client.get("/api/tasks/?q=a%00b&name=x%00", headers=bearer(key))
    assert response.status_code in (200, 400)


def test_api_pages_walk_every_task_once_in_order(client, user, key):
    now = timezone.now()
    # Ties on created_at: the id breaks them, so no row is skipped or repeated.
    tasks = make(user, 4, created_at=now) + [
        make(user, created_at=now - timedelta(seconds=s))[0] for s in range(1, 4)
    ]
    expected = [str(t.pk) for t in sorted(tasks, key=lambda t: (t.created_at, t.pk), reverse=True)]
    seen, url = [], "/api/tasks/?limit=2"
    while url:
        body = client.get(url, headers=bearer(key)).json()
        seen += [item["id"] for item in body["results"]]
        url = body["next"]
    assert seen == expected


def test_api_next_keeps_filters(client, user, key):
    make(user, 3, status="failed")
    body = client.get("/api/tasks/?status=failed&limit=1", headers=bearer(key)).json()
    assert "status=failed" in body["next"]
    assert "limit=1" in body["next"]


def test_api_last_page_has_no_next(client, user, key):
    make(user, 2)
    body = client.get("/api/tasks/?limit=2", headers=bearer(key)).json()
    assert body["next"] is None
    assert body["next_cursor"] is None


def test_api_list_never_counts(client, user, key):
    make(user, 5)
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/tasks/?limit=2", headers=bearer(key))
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def test_api_list_query_count_is_bounded(client, user, key, django_assert_max_num_queries):
    make(user, 30)
    # Token lookup, last-use update, the user's permissions (two), the page:
    # whatever the page size.
    with django_assert_max_num_queries(6):
        client.get("/api/tasks/?limit=30", headers=bearer(key))


def test_api_post_not_allowed(client, user, key):
    assert client.post("/api/tasks/", headers=bearer(key)).status_code == 405


def test_create_api_token_prints_key_once_and_stores_hash(user):
    out = io.StringIO()
    call_command("create_api_token", "alice", stdout=out, stderr=io.StringIO())
    key = out.getvalue().strip()
    token = ApiToken.objects.get(user=user)
    assert key.startswith("tb_")
    assert token.key_hash == hash_key(key)
    assert not ApiToken.objects.filter(key_hash=key).exists()


def test_create_api_token_unknown_user_fails():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_api_token", "nobody", stdout=io.StringIO())


def test_api_token_from_command_authenticates(client, user):
    out = io.StringIO()
    call_command("create_api_token", "alice", stdout=out, stderr=io.StringIO())
    response = client.get("/api/tasks/", headers=bearer(out.getvalue().strip()))
    assert response.status_code == 200


FUZZ_TEXT = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(["", "\x00", "a\x00b", "9" * 40, "-1", "1e400", "١٢", "x" * 5000]),
)


@given(
    params=st.dictionaries(
        st.sampled_from(["status", "q", "name", "limit", "cursor"]), FUZZ_TEXT, max_size=5
    )
)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_fuzzed_params_never_500(client, user, key, params):
    response = client.get("/api/tasks/", params, headers=bearer(key))
    assert response.status_code in (200, 400)
    assert response["Content-Type"] == "application/json"
