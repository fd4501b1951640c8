"""Link the rows a bulk action creates to it (no index: see Task.bulk)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0005_drop_redundant_owner_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="bulk",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="tasks.bulkaction",
            ),
        ),
    ]
