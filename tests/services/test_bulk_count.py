"""The bulk bar's "All N matching this filter" refreshes with the status tabs' counts."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from taskboard.models import Task

pytestmark = pytest.mark.django_db

TABS_REFRESH = {"HX-Request": "true", "HX-Target": "status-tabs"}


def failed(owner) -> Task:
    return Task.objects.create(name="demo.fail", status="failed", owner=owner)


def test_bulk_count_sits_in_its_own_element(alice, user):
    failed(user), failed(user)
    body = alice.get("/tasks/?status=failed").content.decode()
    assert '<span id="bulk-all-count">All 2 matching this filter</span>' in body


def test_tabs_refresh_carries_the_bulk_bars_new_count(alice, user):
    failed(user), failed(user)
    failed(user)  # a row that arrived after the page was drawn with "All 2"
    body = alice.get("/tasks/?status=failed", headers=TABS_REFRESH).content.decode()
    assert body.lstrip().startswith('<nav id="status-tabs"')
    assert '<span id="bulk-all-count" hx-swap-oob="true">All 3 matching this filter</span>' in body


def test_tabs_refresh_for_who_may_not_select_has_no_bulk_count(client, django_user_model):
    readonly = django_user_model.objects.create_user("rita", password="rita-secret-pw")
    readonly.groups.set([Group.objects.get(name="Read-only staff")])
    client.force_login(readonly)
    body = client.get("/tasks/", headers=TABS_REFRESH).content.decode()
    assert 'id="status-tabs"' in body and "bulk-all-count" not in body
