"""One message per failure group per window, sent when it closes; owners' own windows.

A window opens at its group's first failure (``group``) and is sent once (``sent_at``).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def mark_sent(apps, schema_editor):
    # Windows summed up under the old rule were told already: never send them again.
    # An open one (its first failure already sent) is sent once more, with its count.
    window = apps.get_model("taskboard", "NotificationWindow")
    window.objects.filter(summarised=True).update(sent_at=models.F("closes_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("taskboard", "0007_notifications"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="notificationwindow",
            name="sent_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(mark_sent, migrations.RunPython.noop),
        migrations.RemoveField(model_name="notificationwindow", name="summarised"),
        migrations.AddField(
            model_name="notificationwindow",
            name="claimed_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="notificationwindow",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="notificationwindow",
            name="group",
            field=models.CharField(default="", max_length=64),
        ),
        migrations.AddIndex(
            model_name="notificationwindow",
            index=models.Index(fields=["group", "closes_at"], name="notify_window_group_idx"),
        ),
    ]
