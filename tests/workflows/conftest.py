"""Workflows registered for the tests only: a chain and a group of the demo's tasks."""

from __future__ import annotations

import pytest
from celery import chain, group
from django import forms

from taskboard import registry
from tasks.tasks import quick


class NoParams(forms.Form):
    """A workflow without parameters."""


def three_steps():
    return chain(quick.s(1, 2), quick.s(3), quick.s(4))


def three_sums():
    return group(quick.s(i, i) for i in range(3))


@pytest.fixture
def test_workflows():
    """Register the test chain and group for one test, then take them out of the catalog."""
    registry.register(three_steps, form=NoParams, title="Test chain", name="test.chain")
    registry.register(three_sums, form=NoParams, title="Test group", name="test.group")
    yield
    registry.unregister("test.chain")
    registry.unregister("test.group")
