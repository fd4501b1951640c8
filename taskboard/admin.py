from __future__ import annotations

from django.contrib import admin

from taskboard.models import Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "status", "owner", "created_at", "finished_at", "attempts")
    list_filter = ("status", "name")
    search_fields = ("id", "name", "error_message")
    readonly_fields = [f.name for f in Task._meta.fields]
    show_full_result_count = False
