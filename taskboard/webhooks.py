"""Webhook signing and URL safety: pure functions, no database.

A body is signed with HMAC-SHA256 over ``timestamp + "." + body`` with the
webhook's secret, so a receiver can refuse a replayed (old) timestamp without the
signature losing its meaning. URLs are http/https to public addresses only, unless
TASKBOARD_WEBHOOK_ALLOW_PRIVATE is set. docs/operations.md, "Notifications", says
how a receiver verifies and which addresses are refused and why.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
import time
from urllib.parse import urlsplit

from taskboard.conf import app_settings

SIGNATURE_HEADER = "X-Taskboard-Signature"
TIMESTAMP_HEADER = "X-Taskboard-Timestamp"
DELIVERY_HEADER = "X-Taskboard-Delivery"
SCHEMES = ("http", "https")
# How old a timestamp a receiver should accept (our own verify() uses it too).
TOLERANCE_SECONDS = 300


class UnsafeURL(ValueError):
    """A webhook URL that Taskboard refuses to call."""


def new_secret() -> str:
    """Return a fresh webhook secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return the ``X-Taskboard-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """Return the timestamp and signature headers of ``body``, signed now."""
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    header: str,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """Return whether ``header`` signs ``body`` at ``timestamp``, and that is recent."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header or "")


def refused_address(address: str) -> str | None:
    """Return why ``address`` (an IP) may not be called, or None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # Order: the most telling reason first (127.0.0.1 is also "private" to ipaddress).
    for reason, flag in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not global", not ip.is_global),
    ):
        if flag:
            return reason
    return None


def check_url(url: str, *, allow_private: bool | None = None) -> None:
    """Raise UnsafeURL unless ``url`` is http(s) to a host whose every address is public."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise UnsafeURL("Only http:// and https:// URLs are allowed.")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise UnsafeURL(f"The URL's port is not valid: {exc}.") from exc
    if not host:
        raise UnsafeURL("The URL has no host.")
    # Credentials ride before an "@" in the authority: a secret in a URL shown to staff.
    if "@" in parts.netloc:
        raise UnsafeURL("The URL may not carry a user name or password.")
    if allow_private is None:
        allow_private = app_settings.WEBHOOK_ALLOW_PRIVATE
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURL(f"The host {host} does not resolve.") from exc
    for info in infos:
        reason = refused_address(info[4][0])
        if reason:
            raise UnsafeURL(
                f"The host {host} resolves to a {reason} address ({info[4][0]}): refused."
            )
