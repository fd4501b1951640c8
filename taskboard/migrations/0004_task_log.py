"""The stored task log, and on PostgreSQL the full-text index the table's search uses."""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations, models
import django.db.models.deletion
import django.utils.timezone

# The same expression as the search's (taskboard/filters.py), so the planner uses it.
SEARCH_INDEX = "tasklog_search_idx"


def _search_index() -> GinIndex:
    return GinIndex(SearchVector("text", config="english"), name=SEARCH_INDEX)


def add_search_index(apps, schema_editor):
    # A GIN index exists on PostgreSQL only; elsewhere the search is a substring match.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("taskboard", "TaskLog"), _search_index())


def remove_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("taskboard", "TaskLog"), _search_index())


class Migration(migrations.Migration):

    dependencies = [
        ("taskboard", "0003_workflow"),
    ]

    operations = [
        migrations.CreateModel(
            name="TaskLog",
            fields=[
                (
                    "task",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="stored_log",
                        serialize=False,
                        to="taskboard.task",
                    ),
                ),
                ("entries", models.JSONField(blank=True, default=list)),
                ("dropped", models.PositiveIntegerField(default=0)),
                ("text", models.TextField(blank=True)),
                ("stored_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.RunPython(add_search_index, remove_search_index),
    ]
