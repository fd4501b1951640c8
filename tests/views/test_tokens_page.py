"""The API tokens page: a user lists, creates and revokes their own tokens, nobody else's."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from taskboard.models import ApiToken, Task
from taskboard.tokens import MAX_PER_USER, TooManyTokens, hash_key, token_create

pytestmark = pytest.mark.django_db

URL = "/tokens/"
KEY = re.compile(r"tb_[\w-]{40,}")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def revoke_url(token: ApiToken) -> str:
    return f"{URL}{token.pk}/revoke/"


def create(client, name: str = "CI", **headers):
    return client.post(URL, {"name": name}, headers=headers)


def test_tokens_page_anonymous_redirects_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/tokens/")


def test_tokens_page_lists_only_own_tokens(alice, user, other_user):
    mine, _ = token_create(user=user, name="laptop script")
    theirs, _ = token_create(user=other_user, name="bobs-secret-job")
    response = alice.get(URL)
    assert response.status_code == 200
    content = response.content.decode()
    assert "laptop script" in content and f"{mine.prefix}…" in content
    assert "bobs-secret-job" not in content and theirs.prefix not in content
    assert revoke_url(theirs) not in content


def test_tokens_page_linked_from_header(alice):
    assert f'href="{URL}"' in alice.get("/tasks/").content.decode()


def test_token_create_shows_key_once_and_stores_only_its_hash(alice, user):
    response = create(alice, "CI")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    content = response.content.decode()
    [key] = set(KEY.findall(content))
    assert content.count(key) == 1
    token = ApiToken.objects.get(user=user)
    assert (token.name, token.prefix, token.key_hash) == ("CI", key[:12], hash_key(key))
    assert not ApiToken.objects.filter(key_hash=key).exists()
    assert key not in alice.get(URL).content.decode()


def test_token_create_htmx_answers_the_fragment_with_the_key(alice, user):
    response = create(alice, "CI", HX_Request="true")
    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" not in content
    [key] = set(KEY.findall(content))
    assert 'data-copy="#new-token-key"' in content
    assert ApiToken.objects.get(user=user).key_hash == hash_key(key)


def test_token_created_on_the_page_works_against_the_api(alice, user, other_user):
    mine = Task.objects.create(name="demo.quick", owner=user)
    Task.objects.create(name="demo.quick", owner=other_user)
    [key] = set(KEY.findall(create(alice).content.decode()))
    response = Client().get("/api/tasks/", headers=bearer(key))
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [str(mine.pk)]


def test_token_create_needs_a_name(alice, user):
    response = create(alice, "  ", HX_Request="true")
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    assert not ApiToken.objects.filter(user=user).exists()


def test_token_create_refused_at_the_cap(alice, user):
    for i in range(MAX_PER_USER):
        token_create(user=user, name=f"t{i}")
    response = create(alice, "one more")
    assert response.status_code == 200
    content = response.content.decode()
    assert f"At most {MAX_PER_USER} tokens per user" in content
    assert not KEY.search(content)
    assert create(alice, "one more", HX_Request="true").status_code == 422
    assert ApiToken.objects.filter(user=user).count() == MAX_PER_USER


def test_token_cap_is_per_user(user, other_user):
    for _ in range(MAX_PER_USER):
        token_create(user=other_user)
    with pytest.raises(TooManyTokens):
        token_create(user=other_user)
    assert token_create(user=user)[0].user == user


def test_token_revoke_get_asks_to_confirm_and_keeps_the_token(alice, user):
    token, _ = token_create(user=user, name="CI")
    response = alice.get(revoke_url(token))
    assert response.status_code == 200
    content = response.content.decode()
    assert f'action="{revoke_url(token)}"' in content and "csrfmiddlewaretoken" in content
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_token_revoke_makes_the_key_401(alice, user):
    token, key = token_create(user=user, name="CI")
    assert Client().get("/api/tasks/", headers=bearer(key)).status_code == 200
    response = alice.post(revoke_url(token))
    assert response.status_code == 303
    assert response["Location"] == URL
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    assert Client().get("/api/tasks/", headers=bearer(key)).status_code == 401
    assert "Revoked “CI”" in alice.get(URL).content.decode()


def test_token_revoke_htmx_answers_the_list_without_it(alice, user):
    token, _ = token_create(user=user, name="CI")
    kept, _ = token_create(user=user, name="backup")
    response = alice.post(revoke_url(token), headers={"HX-Request": "true"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" not in content
    assert f'id="token-{token.pk}"' not in content and f'id="token-{kept.pk}"' in content
    assert "Revoked “CI”" in content


@pytest.mark.parametrize("method", ["get", "post"])
def test_token_revoke_of_another_users_token_is_404_and_untouched(alice, other_user, method):
    theirs, key = token_create(user=other_user, name="bobs-secret-job")
    response = getattr(alice, method)(revoke_url(theirs))
    assert response.status_code == 404
    assert "bobs-secret-job" not in response.content.decode()
    assert ApiToken.objects.filter(pk=theirs.pk).exists()
    assert Client().get("/api/tasks/", headers=bearer(key)).status_code == 200


def test_tokens_page_enforces_csrf(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    token, _ = token_create(user=user)
    assert client.post(URL, {"name": "CI"}).status_code == 403
    assert client.post(revoke_url(token)).status_code == 403
    assert list(ApiToken.objects.filter(user=user)) == [token]


def test_revoke_command_revokes_the_users_token_by_prefix(user):
    token, key = token_create(user=user)
    call_command("create_api_token", "alice", "--revoke", f"{token.prefix}…", stderr=io.StringIO())
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    assert Client().get("/api/tasks/", headers=bearer(key)).status_code == 401


def test_revoke_command_leaves_another_users_token(user, other_user):
    theirs, _ = token_create(user=other_user)
    with pytest.raises(CommandError):
        call_command("create_api_token", "alice", "--revoke", theirs.prefix)
    assert ApiToken.objects.filter(pk=theirs.pk).exists()


def test_create_command_refused_at_the_cap(user):
    for _ in range(MAX_PER_USER):
        token_create(user=user)
    with pytest.raises(CommandError, match="revoke one first"):
        call_command("create_api_token", "alice", stdout=io.StringIO())


def test_token_name_is_escaped_on_the_page(alice, user):
    token_create(user=user, name='<script>x()</script>" hx-get="/x')
    content = alice.get(URL).content.decode()
    assert "<script>x()" not in content and 'hx-get="/x' not in content
    assert "&lt;script&gt;x()&lt;/script&gt;&quot; hx-get=&quot;/x" in content
