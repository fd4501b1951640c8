"""tasks/auth.py: a user and their permissions in one query."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection

from tasks.auth import OneQueryModelBackend

pytestmark = pytest.mark.django_db


def perm(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="tasks", codename=codename)


def test_user_brings_direct_and_group_permissions(user, django_assert_num_queries):
    user.user_permissions.add(perm("view_all_tasks"))
    group = Group.objects.create(name="operators-test")
    group.permissions.add(perm("act_on_all_tasks"))
    user.groups.add(group)
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 2):
        loaded = OneQueryModelBackend().get_user(user.pk)
        assert loaded.has_perm("tasks.view_all_tasks")
        assert loaded.has_perm("tasks.act_on_all_tasks")
        assert not loaded.has_perm("tasks.delete_task")


def test_superuser_has_every_permission(django_user_model):
    boss = django_user_model.objects.create_superuser("boss", password="boss-secret-pw")
    loaded = OneQueryModelBackend().get_user(boss.pk)
    backend_perms = OneQueryModelBackend().get_all_permissions(loaded)
    assert backend_perms == {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.select_related("content_type")
    }


def test_inactive_or_unknown_user_is_nobody(user):
    user.is_active = False
    user.save()
    assert OneQueryModelBackend().get_user(user.pk) is None
    assert OneQueryModelBackend().get_user(10**9) is None
