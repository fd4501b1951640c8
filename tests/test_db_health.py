"""web/postgres: a persistent connection the server dropped is noticed without a query."""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings
from django.db import close_old_connections, connection

from tasks.models import Task
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def terminate(pid: int) -> None:
    """End a server process from another connection, as a restart would."""
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname=db["NAME"],
        password=db["PASSWORD"] or None,
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_health_check_asks_nothing_of_a_live_connection(monkeypatch):
    connection.ensure_connection()
    statements = []
    monkeypatch.setattr(
        psycopg.Cursor, "execute", lambda self, *a, **k: statements.append(a) or self
    )
    assert connection.is_usable()
    assert statements == []


def test_request_after_the_server_dropped_the_connection_reconnects_and_answers():
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"]
    connection.ensure_connection()
    old = connection.connection
    terminate(old.info.backend_pid)
    wait_for(lambda: not connection.is_usable(), timeout=5, message="the dropped socket")
    # The next request: Django's request_started handler, then the first query.
    close_old_connections()
    assert Task.objects.count() == 0
    assert connection.connection is not old
