"""Drop the owner column's own index: task_owner_created_idx starts with owner.

Only the index goes; Django's AlterField would also drop and re-create (and so
re-validate over the whole history) the foreign-key constraint.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0004_apitoken"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="task",
                    name="owner",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="tasks",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "tasks_task_owner_id_db3dcc3e"',
                    reverse_sql='CREATE INDEX "tasks_task_owner_id_db3dcc3e" '
                    'ON "tasks_task" ("owner_id")',
                ),
            ],
        ),
    ]
