# Launch later: the Scheduled state, Task.run_at with its index of due rows, "Sent now" in the audit log.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("taskboard", "0005_schedules"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="run_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="auditlog",
            name="action",
            field=models.CharField(
                choices=[
                    ("retry", "Retry"),
                    ("cancel", "Cancel"),
                    ("delete", "Delete"),
                    ("launch", "Launch"),
                    ("purge", "Purge"),
                    ("pin", "Pin"),
                    ("unpin", "Unpin"),
                    ("bulk_retry", "Bulk retry"),
                    ("bulk_cancel", "Bulk cancel"),
                    ("bulk_delete", "Bulk delete"),
                    ("schedule_create", "Schedule created"),
                    ("schedule_edit", "Schedule edited"),
                    ("schedule_enable", "Schedule enabled"),
                    ("schedule_disable", "Schedule disabled"),
                    ("schedule_delete", "Schedule deleted"),
                    ("send_now", "Sent now"),
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="task",
            name="status",
            field=models.CharField(
                choices=[
                    ("scheduled", "Scheduled"),
                    ("pending", "Pending"),
                    ("running", "Running"),
                    ("completed", "Completed"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                ],
                default="pending",
                max_length=20,
            ),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                condition=models.Q(("status", "scheduled")), fields=["run_at"], name="task_due_idx"
            ),
        ),
    ]
