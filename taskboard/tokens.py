"""API tokens: create one (the key is shown once), revoke one, authenticate a bearer key.

Keys are 256 random bits, so a plain SHA-256 of the key is enough to store: it
cannot be brute-forced, and it can be looked up by an index.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from taskboard.models import ApiToken

KEY_PREFIX = "tb_"
# last_used_at is written at most this often per token, not on every request.
TOUCH_EVERY = timedelta(minutes=1)
# Tokens one user may hold: enough for every script and machine, not an unbounded table.
MAX_PER_USER = 20


class TooManyTokens(Exception):
    """The user already holds MAX_PER_USER tokens."""


def hash_key(key: str) -> str:
    """Return the stored form of ``key``."""
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(*, user, name: str = "") -> tuple[ApiToken, str]:
    """Create a token for ``user``; return it and its key, which is never stored."""
    # A soft cap: two creations at the same instant may both pass it, which harms nothing.
    if ApiToken.objects.filter(user=user).count() >= MAX_PER_USER:
        raise TooManyTokens(f"At most {MAX_PER_USER} tokens per user: revoke one first.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name[:100], prefix=key[:12], key_hash=hash_key(key)
    )
    return token, key


def token_revoke(*, token: ApiToken) -> None:
    """Revoke ``token``: its key is refused (401) from the next request on."""
    token.delete()


def token_user(key: str):
    """Return the active user a bearer ``key`` belongs to, or None."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        # One conditional UPDATE, throttled: concurrent requests do not pile up writes.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
