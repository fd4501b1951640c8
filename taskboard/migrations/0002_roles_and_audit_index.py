from django.db import migrations

# Roles as groups (docs/operations.md, "Roles"); taskboard/permissions.py reads the
# permissions, never the group names. A frozen copy of taskboard/permissions.py's
# GROUPS: a migration must not import the app's code.
GROUPS = {
    "Launchers": ["add_task"],
    "Operators": ["add_task", "view_all_tasks", "act_on_all_tasks", "view_auditlog"],
    "Read-only staff": ["view_all_tasks", "view_auditlog"],
}


def create_groups(apps, schema_editor):
    """Create the suggested role groups; users' groups are left alone (a host's users are its own).

    A site whose existing users should all launch runs
    `manage.py taskboard_groups --add-users-to-launchers`.
    """
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; the groups need them now.
    app_config = apps.get_app_config("taskboard")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="taskboard", codename__in=codenames)
        )


def add_task_ids_index(apps, schema_editor):
    """Index task_ids for the detail page's activity lookup (JSONB containment, PostgreSQL)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS taskboard_auditlog_task_ids_gin "
            "ON taskboard_auditlog USING gin (task_ids jsonb_path_ops)"
        )


def drop_task_ids_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS taskboard_auditlog_task_ids_gin")


class Migration(migrations.Migration):
    dependencies = [
        ("taskboard", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(add_task_ids_index, drop_task_ids_index),
        migrations.RunPython(create_groups, migrations.RunPython.noop),
    ]
