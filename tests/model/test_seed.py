"""The benchmark's seeding command: COPY into the real table, idempotent."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from taskboard.models import TERMINAL, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _seed(rows: int) -> str:
    out = io.StringIO()
    call_command(
        "seed_tasks",
        rows=rows,
        in_flight=5,
        batch=40,
        no_vacuum=True,
        stdout=out,
        stderr=io.StringIO(),
    )
    return out.getvalue()


def test_seed_fills_the_table_once_with_a_mix_of_states():
    _seed(120)
    assert Task.objects.count() == 120
    statuses = set(Task.objects.values_list("status", flat=True))
    assert statuses >= {"completed", "failed"}
    assert Task.objects.exclude(status__in=TERMINAL).count() == 5
    assert not Task.objects.filter(pinned=True).exists()
    _seed(120)
    assert Task.objects.count() == 120
