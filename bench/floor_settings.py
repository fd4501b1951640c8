"""The floor's settings: the product's, with a URLconf of one bare 204 view.

Same middleware, same gunicorn flags: the difference between the floor and a
Taskboard endpoint is what the endpoint itself costs.
"""

from __future__ import annotations

from web.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor_urls"
