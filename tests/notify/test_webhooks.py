"""Units: webhook signing and verification, and which URLs are refused."""

from __future__ import annotations

import hashlib
import hmac
import socket

import pytest

from taskboard import webhooks


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"event": "task.failed"}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhooks.signature("s3cret", "1700000000", body) == f"sha256={expected}"


def test_signed_headers_verify_and_tampering_does_not():
    body = b'{"a": 1}'
    headers = webhooks.signed_headers("key", body, now=1_700_000_000)
    ts, sig = headers[webhooks.TIMESTAMP_HEADER], headers[webhooks.SIGNATURE_HEADER]
    assert ts == "1700000000"
    assert webhooks.verify("key", ts, body, sig, now=1_700_000_010)
    assert not webhooks.verify("key", ts, b'{"a": 2}', sig, now=1_700_000_010)
    assert not webhooks.verify("other", ts, body, sig, now=1_700_000_010)
    # The timestamp is signed: moving it breaks the signature...
    assert not webhooks.verify("key", "1700000005", body, sig, now=1_700_000_010)
    # ...and an old one (a replay) is refused even with its genuine signature.
    assert not webhooks.verify("key", ts, body, sig, now=1_700_000_000 + 301)
    assert not webhooks.verify("key", "not-a-number", body, sig)


def test_secrets_are_long_and_distinct():
    first, second = webhooks.new_secret(), webhooks.new_secret()
    assert first != second and len(first) >= 40


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not global"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
    ],
)
def test_refused_addresses(address, reason):
    assert webhooks.refused_address(address) == reason


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert webhooks.refused_address(address) is None


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "file:///etc/passwd", "gopher://h/", "javascript:alert(1)", "//x/y"],
)
def test_only_http_and_https(url):
    with pytest.raises(webhooks.UnsafeURL, match="http"):
        webhooks.check_url(url, allow_private=True)


def test_credentials_in_the_url_are_refused():
    with pytest.raises(webhooks.UnsafeURL, match="password"):
        webhooks.check_url("https://user:pw@example.com/", allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://[::1]/hook",
        "https://10.0.0.5/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://localhost/hook",
    ],
)
def test_private_targets_are_refused_by_default(url):
    with pytest.raises(webhooks.UnsafeURL, match="refused"):
        webhooks.check_url(url, allow_private=False)


def test_a_dns_name_resolving_to_loopback_is_refused(monkeypatch):
    def resolve(host, port, *args, **kwargs):
        assert host == "innocent.example"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(webhooks.UnsafeURL, match="loopback"):
        webhooks.check_url("https://innocent.example/hook", allow_private=False)


def test_a_name_with_one_private_address_among_public_ones_is_refused(monkeypatch):
    answers = [("93.184.215.14", 443), ("10.0.0.1", 443)]
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", sa) for sa in answers],
    )
    with pytest.raises(webhooks.UnsafeURL, match="private"):
        webhooks.check_url("https://mixed.example/", allow_private=False)


def test_public_name_passes(monkeypatch):
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *a, **k: [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:4700::1", 443, 0, 0))],
    )
    webhooks.check_url("https://hooks.example/x", allow_private=False)


def test_unresolvable_name_is_refused(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror("no such name")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(webhooks.UnsafeURL, match="resolve"):
        webhooks.check_url("https://nowhere.invalid/", allow_private=False)


def test_the_setting_allows_private_targets(settings):
    settings.TASKBOARD_WEBHOOK_ALLOW_PRIVATE = True
    webhooks.check_url("http://127.0.0.1:9/hook")
    settings.TASKBOARD_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(webhooks.UnsafeURL):
        webhooks.check_url("http://127.0.0.1:9/hook")
