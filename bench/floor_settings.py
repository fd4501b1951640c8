"""The floors' settings: the product's, with a URLconf of two 204 views.

Same middleware, same gunicorn flags, same database and SECRET_KEY as the app it
stands beside, so the app's session cookie logs the client in here too: the
difference between a floor and a Taskboard endpoint is what the endpoint itself costs.
"""

from __future__ import annotations

from web.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor_urls"
