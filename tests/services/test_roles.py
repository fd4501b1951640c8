"""Roles (taskboard/permissions.py): launch, own tasks, view all, act on all, read-only staff."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from taskboard import permissions
from taskboard.models import AuditLog, BulkAction, Task

# No broker in these tests: revoke broadcasts are recorded (tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("revokes")]


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def readonly(django_user_model):
    """Read-only staff: sees everyone's tasks, acts on none of theirs; not is_staff."""
    member = django_user_model.objects.create_user("rita", password="rita-secret-pw")
    # Only this role: out of the default group, so not a launcher either.
    member.groups.set([Group.objects.get(name="Read-only staff")])
    return member


@pytest.fixture
def operator(django_user_model):
    """An operator through the Operators group, without is_staff."""
    member = django_user_model.objects.create_user("otto", password="otto-secret-pw")
    member.groups.add(Group.objects.get(name="Operators"))
    return member


@pytest.fixture
def viewer(django_user_model, user):
    """A user taken out of the default group: may not launch."""
    member = django_user_model.objects.create_user("vera", password="vera-secret-pw")
    member.groups.clear()
    return member


def failed(owner) -> Task:
    return Task.objects.create(name="demo.fail", status="failed", owner=owner)


def pending(owner) -> Task:
    return Task.objects.create(name="demo.long", status="pending", owner=owner)


# --- the groups and the default role -------------------------------------------------


def test_migration_creates_the_role_groups():
    perms = {
        group.name: set(group.permissions.values_list("codename", flat=True))
        for group in Group.objects.filter(name__in=["Launchers", "Operators", "Read-only staff"])
    }
    assert perms["Launchers"] == {"add_task"}
    assert {"view_all_tasks", "act_on_all_tasks", "add_task"} <= perms["Operators"]
    assert "view_all_tasks" in perms["Read-only staff"]
    assert "act_on_all_tasks" not in perms["Read-only staff"]


def test_new_user_joins_the_sites_default_group_and_may_launch(settings, django_user_model):
    settings.TASKBOARD_DEFAULT_GROUP = "Launchers"
    newcomer = django_user_model.objects.create_user("nora", password="nora-secret-pw")
    assert list(newcomer.groups.values_list("name", flat=True)) == ["Launchers"]
    assert permissions.can_launch(newcomer)


def test_new_user_in_a_host_without_the_setting_joins_no_group(settings, django_user_model):
    # A host adding Taskboard does not set it: its users' groups are its own.
    del settings.TASKBOARD_DEFAULT_GROUP
    newcomer = django_user_model.objects.create_user("hank", password="hank-secret-pw")
    assert not newcomer.groups.exists()
    assert not permissions.can_launch(newcomer)


def test_new_user_without_default_group_may_not_launch(settings, django_user_model):
    settings.TASKBOARD_DEFAULT_GROUP = ""
    newcomer = django_user_model.objects.create_user("nina", password="nina-secret-pw")
    assert not permissions.can_launch(newcomer)
    assert login(newcomer).post("/launch/demo.quick/", {"x": 1, "y": 2}).status_code == 403


def test_default_group_is_created_when_missing(settings, django_user_model):
    settings.TASKBOARD_DEFAULT_GROUP = "Launchers"
    Group.objects.filter(name="Launchers").delete()
    newcomer = django_user_model.objects.create_user("nick", password="nick-secret-pw")
    assert newcomer.has_perm("taskboard.add_task")


def group_perms() -> dict[str, set[str]]:
    return {
        group.name: set(group.permissions.values_list("codename", flat=True))
        for group in Group.objects.filter(name__in=permissions.GROUPS)
    }


def test_taskboard_groups_creates_the_groups_idempotently():
    from django.core.management import call_command

    Group.objects.filter(name__in=permissions.GROUPS).delete()
    call_command("taskboard_groups", verbosity=0)
    call_command("taskboard_groups", verbosity=0)
    assert Group.objects.filter(name__in=permissions.GROUPS).count() == 3
    assert group_perms() == {name: set(codes) for name, codes in permissions.GROUPS.items()}


def test_taskboard_groups_restores_missing_permissions_and_keeps_added_ones():
    from django.core.management import call_command

    operators = Group.objects.get(name="Operators")
    operators.permissions.remove(Permission.objects.get(codename="act_on_all_tasks"))
    operators.permissions.add(Permission.objects.get(codename="delete_task"))
    call_command("taskboard_groups", verbosity=0)
    assert group_perms()["Operators"] == set(permissions.GROUPS["Operators"]) | {"delete_task"}


def test_taskboard_groups_leaves_users_groups_alone(viewer):
    from django.core.management import call_command

    call_command("taskboard_groups", verbosity=0)
    assert not viewer.groups.exists()


def test_taskboard_groups_flag_adds_every_existing_user_to_launchers(viewer, readonly):
    from django.core.management import call_command

    call_command("taskboard_groups", "--add-users-to-launchers", verbosity=0)
    assert viewer.groups.filter(name="Launchers").exists()
    assert set(readonly.groups.values_list("name", flat=True)) == {"Launchers", "Read-only staff"}
    assert permissions.can_launch(type(viewer).objects.get(pk=viewer.pk))


def test_migration_leaves_existing_users_groups_alone(viewer):
    import importlib

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    migration = importlib.import_module("taskboard.migrations.0002_roles_and_audit_index")
    state = MigrationLoader(connection).project_state(("taskboard", "0002_roles_and_audit_index"))
    migration.create_groups(state.apps, None)
    assert not viewer.groups.exists()


def test_every_role_rule_is_in_tasks_permissions():
    """Roles are asked of taskboard/permissions.py only: no other module reads flags or perms."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    rule = re.compile(r"\.is_staff\b|\.is_superuser\b|\.has_perm\(")
    found = [
        f"{path.relative_to(root)}: {line.strip()}"
        for package in ("taskboard", "tasks", "web", "templates")
        for path in sorted((root / package).rglob("*"))
        if path.suffix in {".py", ".html"}
        and "migrations" not in path.parts
        and "management" not in path.parts
        and path.name != "permissions.py"
        for line in path.read_text().splitlines()
        if rule.search(line)
    ]
    # The Admin link follows Django admin's own rule (is_staff), not a Taskboard role.
    assert [entry.split(":")[0] for entry in found] == ["templates/taskboard/base.html"], found


def test_permission_lookups_are_read_once_per_user(user, django_assert_num_queries):
    fresh = type(user).objects.get(pk=user.pk)
    # Django's ModelBackend: the direct and the group permissions, then its cache.
    with django_assert_num_queries(2):
        assert permissions.can_launch(fresh)
        assert not permissions.can_view_all(fresh)
        assert not permissions.can_act_on_all(fresh)


# --- launch --------------------------------------------------------------------------


def test_user_out_of_launchers_gets_403_on_launch(viewer):
    client = login(viewer)
    assert client.get("/launch/demo.quick/").status_code == 403
    assert client.post("/launch/demo.quick/", {"x": 1, "y": 2}).status_code == 403
    assert not Task.objects.exists()


def test_catalog_lists_nothing_to_a_user_who_may_not_launch(viewer):
    body = login(viewer).get("/launch/").content.decode()
    assert "/launch/demo.quick/" not in body


def test_operator_group_may_launch_staff_only_tasks(operator):
    assert login(operator).get("/launch/taskboard.purge/").status_code == 200


def test_read_only_staff_may_not_launch_staff_only_tasks(readonly):
    assert login(readonly).get("/launch/taskboard.purge/").status_code == 403


# --- view all ------------------------------------------------------------------------


def test_read_only_staff_sees_everyones_tasks_with_owner_column(readonly, user, other_user):
    mine, theirs = failed(user), failed(other_user)
    body = login(readonly).get("/tasks/").content.decode()
    assert f'id="task-{mine.pk}"' in body
    assert f'id="task-{theirs.pk}"' in body
    assert 'class="c-owner"' in body


def test_read_only_staff_opens_anyones_detail(readonly, user):
    assert login(readonly).get(f"/tasks/{failed(user).pk}/").status_code == 200


def test_read_only_staff_polls_anyones_rows(readonly, user):
    task = pending(user)
    response = login(readonly).get("/tasks/status/", {"ids": f"{task.pk}:0.x"})
    assert f'id="task-{task.pk}"' in response.content.decode()


def test_plain_user_does_not_see_the_owner_column(user):
    failed(user)
    assert 'class="c-owner"' not in login(user).get("/tasks/").content.decode()


# --- act: read-only staff ------------------------------------------------------------


def test_read_only_staff_gets_403_on_retry_of_others_task(readonly, user):
    task = failed(user)
    assert login(readonly).post(f"/tasks/{task.pk}/retry/").status_code == 403
    assert not Task.objects.filter(retry_of=task).exists()


def test_read_only_staff_gets_403_on_cancel_of_others_task(readonly, user, revokes):
    task = pending(user)
    assert login(readonly).post(f"/tasks/{task.pk}/cancel/").status_code == 403
    task.refresh_from_db()
    assert task.status == "pending"
    assert revokes == []


def test_read_only_staff_gets_403_on_pin_of_others_task(readonly, user):
    task = failed(user)
    assert login(readonly).post(f"/tasks/{task.pk}/pin/").status_code == 403
    task.refresh_from_db()
    assert not task.pinned


def test_read_only_staff_rows_have_no_actions_or_checkboxes(readonly, user):
    task = failed(user)
    body = login(readonly).get("/tasks/").content.decode()
    assert f'hx-post="/tasks/{task.pk}/retry/"' not in body
    assert "data-select" not in body
    assert 'id="bulk-form"' not in body


def test_read_only_staff_detail_has_no_action_buttons(readonly, user):
    body = login(readonly).get(f"/tasks/{failed(user).pk}/").content.decode()
    assert 'id="retry-button"' not in body
    assert 'id="pin-button"' not in body


def test_read_only_staff_bulk_freezes_nothing_of_others(readonly, user):
    task = failed(user)
    response = login(readonly).post("/tasks/bulk/", {"action": "retry", "ids": [str(task.pk)]})
    assert response.status_code == 303
    assert not BulkAction.objects.exists()


# --- act: operators and staff ----------------------------------------------------------


def test_operator_group_cancels_others_task(operator, user):
    task = pending(user)
    assert login(operator).post(f"/tasks/{task.pk}/cancel/").status_code == 303
    task.refresh_from_db()
    assert task.status == "cancelled"


def test_is_staff_still_acts_on_everyones_tasks(staff_user, user):
    task = failed(user)
    assert permissions.can_act(staff_user, task)
    assert login(staff_user).post(f"/tasks/{task.pk}/pin/").status_code == 303


def test_superuser_has_every_role(django_user_model, user):
    root = django_user_model.objects.create_superuser("root", password="root-secret-pw")
    task = failed(user)
    assert task in permissions.visible_filter(Task.objects.all(), root)
    assert permissions.can_act(root, task)
    assert permissions.can_launch(root)
    assert permissions.can_view_audit(root)


def test_act_on_all_alone_implies_view_all(django_user_model, user):
    member = django_user_model.objects.create_user("amy", password="amy-secret-pw")
    member.user_permissions.add(Permission.objects.get(codename="act_on_all_tasks"))
    task = failed(user)
    assert login(member).get(f"/tasks/{task.pk}/").status_code == 200
    assert permissions.can_act(member, task)


# --- act: own tasks --------------------------------------------------------------------


def test_launcher_acts_on_own_task(user):
    task = pending(user)
    assert permissions.can_act(user, task)
    assert login(user).post(f"/tasks/{task.pk}/cancel/").status_code == 303


def test_user_out_of_launchers_may_not_retry_own_task(viewer):
    task = failed(viewer)
    assert login(viewer).post(f"/tasks/{task.pk}/retry/").status_code == 403


def test_user_out_of_launchers_may_not_cancel_own_task(viewer):
    task = pending(viewer)
    assert login(viewer).post(f"/tasks/{task.pk}/cancel/").status_code == 403


# --- IDOR: others' tasks, bulk actions and the audit log -------------------------------


def test_pin_of_another_users_task_is_404(user, other_user):
    task = failed(other_user)
    assert login(user).post(f"/tasks/{task.pk}/pin/").status_code == 404
    task.refresh_from_db()
    assert not task.pinned


def test_bulk_with_another_users_ids_freezes_only_own(user, other_user):
    mine, theirs = failed(user), failed(other_user)
    login(user).post("/tasks/bulk/", {"action": "delete", "ids": [str(mine.pk), str(theirs.pk)]})
    bulk = BulkAction.objects.get()
    assert bulk.task_ids == [str(mine.pk)]


def test_bulk_all_matching_never_includes_others_tasks(user, other_user):
    mine = failed(user)
    failed(other_user)
    login(user).post("/tasks/bulk/?status=failed", {"action": "retry", "all": "1"})
    assert BulkAction.objects.get().task_ids == [str(mine.pk)]


def test_bulk_confirm_of_another_users_selection_is_404(user, other_user):
    task = failed(other_user)
    bulk = BulkAction.objects.create(
        actor=other_user, action="delete", task_ids=[str(task.pk)], count=1
    )
    client = login(user)
    assert client.get(f"/tasks/bulk/{bulk.pk}/").status_code == 404
    assert client.post(f"/tasks/bulk/{bulk.pk}/").status_code == 404
    assert Task.objects.filter(pk=task.pk).exists()


def test_bulk_run_rechecks_the_actors_permissions(user, other_user):
    from taskboard import services

    theirs = failed(other_user)
    # Frozen by someone who could, run after they lost the right: nothing happens.
    bulk = BulkAction.objects.create(
        actor=user, action="delete", task_ids=[str(theirs.pk)], count=1
    )
    services.bulk_confirm(user=user, bulk=bulk)
    assert Task.objects.filter(pk=theirs.pk).exists()


def test_audit_page_is_403_for_plain_users(user):
    assert login(user).get("/audit/").status_code == 403


def test_audit_page_is_open_to_read_only_staff(readonly):
    assert login(readonly).get("/audit/").status_code == 200


def test_audit_page_redirects_anonymous_to_login(client):
    response = client.get("/audit/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_detail_activity_shows_entries_of_a_visible_task_only(user, other_user):
    mine = failed(user)
    AuditLog.objects.create(actor=other_user, action="pin", task_ids=[str(mine.pk)], count=1)
    theirs = failed(other_user)
    assert login(user).get(f"/tasks/{theirs.pk}/").status_code == 404
    body = login(user).get(f"/tasks/{mine.pk}/").content.decode()
    assert "bob" in body


def test_read_only_staff_who_launches_acts_on_own_tasks_only(readonly, user):
    readonly.groups.add(Group.objects.get(name="Launchers"))
    own, theirs = failed(readonly), failed(user)
    body = login(readonly).get("/tasks/").content.decode()
    assert f'value="{own.pk}" form="bulk-form" data-select' in body
    assert f'value="{theirs.pk}" form="bulk-form"' not in body


def test_read_only_staff_reads_the_ops_page_link(readonly):
    assert 'href="/ops/"' in login(readonly).get("/tasks/").content.decode()


def test_read_only_staff_reads_metrics(readonly):
    assert login(readonly).get("/metrics").status_code == 200


def test_plain_user_gets_403_on_metrics_and_ops(user):
    client = login(user)
    assert client.get("/metrics").status_code == 403
    assert client.get("/ops/").status_code == 403
