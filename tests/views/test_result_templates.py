"""Per-task result templates on the detail page, at the HTTP level (no broker, no worker)."""

from __future__ import annotations

import copy
import logging

import pytest
from celery import shared_task
from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from taskboard import registry
from taskboard.models import Task

HX = {"HTTP_HX_REQUEST": "true"}


@shared_task(name="tests.named")
def named() -> dict:
    return {"name": "x"}


@pytest.fixture
def client_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry for this test: what it registers is gone afterwards."""
    monkeypatch.setattr(registry, "_registry", dict(registry._registry))


@pytest.fixture
def test_templates(settings, tmp_path):
    """Add a template directory of this test's own, as a user's project has one."""
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], tmp_path]
    settings.TEMPLATES = templates
    (tmp_path / "partials").mkdir()
    return tmp_path / "partials"


def _completed(user, name: str, result, **fields) -> Task:
    return Task.objects.create(
        name=name,
        status="completed",
        owner=user,
        result=result,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        **fields,
    )


@pytest.mark.django_db
def test_quick_task_draws_its_sum_instead_of_the_json(client_in, user):
    task = _completed(user, "demo.quick", 5, kwargs={"x": 2, "y": 3})
    body = client_in.get(f"/tasks/{task.pk}/").content.decode()
    assert 'class="kv result-sum"' in body
    assert "2 + 3 = <strong>5</strong>" in body
    assert '<pre class="json">5</pre>' not in body


@pytest.mark.django_db
def test_task_without_a_result_template_shows_the_json(client_in, user):
    task = _completed(user, "demo.long", {"seconds": 1, "steps": 2})
    body = client_in.get(f"/tasks/{task.pk}/").content.decode()
    assert "&quot;seconds&quot;: 1" in body
    assert '<pre class="json">' in body
    assert "result template failed" not in body


@pytest.mark.django_db
def test_markup_in_a_result_is_escaped_in_its_template(
    client_in, user, scratch_registry, test_templates
):
    (test_templates / "result_named.html").write_text(
        '<p class="named">{{ result.name }} for {{ user.get_username }}</p>'
    )
    registry.register(
        named, form=forms.Form, title="Named", result_template="partials/result_named.html"
    )
    task = _completed(user, "tests.named", {"name": "<script>alert(1)</script>"})
    body = client_in.get(f"/tasks/{task.pk}/").content.decode()
    assert f'<p class="named">&lt;script&gt;alert(1)&lt;/script&gt; for {user.username}</p>' in body
    assert "<script>alert(1)" not in body


@pytest.mark.django_db
def test_missing_result_template_is_refused_at_registration(scratch_registry):
    with pytest.raises(ImproperlyConfigured) as refused:
        registry.register(
            named, form=forms.Form, title="Named", result_template="partials/no_such.html"
        )
    assert "tests.named" in str(refused.value)
    assert "partials/no_such.html" in str(refused.value)
    with pytest.raises(registry.UnknownTask):
        registry.get("tests.named")


@pytest.mark.django_db
def test_result_template_that_raises_falls_back_to_the_json(
    client_in, user, scratch_registry, test_templates, caplog
):
    # A missing key in a dict is no error in a template; a failing include is.
    (test_templates / "result_broken.html").write_text(
        '<p class="drawn">{% include "partials/gone.html" %}</p>'
    )
    registry.register(
        named, form=forms.Form, title="Named", result_template="partials/result_broken.html"
    )
    task = _completed(user, "tests.named", {"name": "kept"})
    with caplog.at_level(logging.ERROR):
        response = client_in.get(f"/tasks/{task.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "This task’s result template failed" in body
    assert "&quot;name&quot;: &quot;kept&quot;" in body
    assert 'class="drawn"' not in body
    assert any(
        "partials/result_broken.html" in record.getMessage() and record.exc_info
        for record in caplog.records
    )


@pytest.mark.django_db
def test_htmx_detail_refresh_carries_the_drawn_result(client_in, user):
    task = _completed(user, "demo.quick", 9, kwargs={"x": 4, "y": 5})
    response = client_in.get(f"/tasks/{task.pk}/", **HX)
    body = response.content.decode()
    assert "<html" not in body
    assert "4 + 5 = <strong>9</strong>" in body
    assert '<pre class="json">9</pre>' not in body


@pytest.mark.django_db
def test_truncated_result_keeps_the_preview(client_in, user):
    # A truncated result is a preview, not the task's result: its template never sees it.
    task = _completed(
        user,
        "demo.quick",
        {"preview": "12345…"},
        kwargs={"x": 1, "y": 2},
        result_truncated=True,
    )
    body = client_in.get(f"/tasks/{task.pk}/").content.decode()
    assert "12345…" in body
    assert "result-sum" not in body
