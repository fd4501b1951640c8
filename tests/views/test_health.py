from __future__ import annotations

import pytest

from taskboard.views import health


@pytest.mark.django_db
def test_healthz_reports_every_part(client, monkeypatch):
    monkeypatch.setitem(health.CHECKS, "broker", lambda: "ok")
    monkeypatch.setitem(health.CHECKS, "result_backend", lambda: "ok")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "database": "ok",
        "broker": "ok",
        "result_backend": "ok",
        "status": "ok",
    }


@pytest.mark.django_db
def test_healthz_degraded_when_broker_down(client, monkeypatch):
    def down():
        raise ConnectionError("nope")

    monkeypatch.setitem(health.CHECKS, "broker", down)
    monkeypatch.setitem(health.CHECKS, "result_backend", lambda: "ok")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "error: ConnectionError"
    assert response.json()["status"] == "degraded"


@pytest.mark.integration
@pytest.mark.django_db
def test_healthz_on_real_services(client):
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()


def test_root_redirects_to_tasks(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/tasks/"
