"""Visitor helpers: sub-id cleaning, IP choice and hashing, country, device and bot verdicts."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from alliance.tracking import visitor

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
)
PIXEL = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
)
GALAXY_TAB = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0 Safari/537.36"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0 Safari/537.36"
)
MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Safari/605.1.15"
)
LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("spring-sale", "spring-sale"),
        ("a\r\nSet-Cookie: x=1", "aSet-Cookie: x=1"),
        ("nul\x00byte", "nulbyte"),
        ("tab\tand\x7fdel", "tabanddel"),
        ("ü" * 300, "ü" * 255),
        ("x" * 256, "x" * 255),
        ("\r\n", None),
    ],
)
def test_clean_sub(raw: str | None, stored: str | None) -> None:
    assert visitor.clean_sub(raw) == stored


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("10.0.0.1", [], False, "10.0.0.1"),
        ("10.0.0.1", [b"81.2.69.142"], False, "10.0.0.1"),  # not trusted: ignored
        ("10.0.0.1", [b"81.2.69.142"], True, "81.2.69.142"),
        # The rightmost entry is the one our proxy added; the left ones the client wrote.
        ("10.0.0.1", [b"1.1.1.1, 81.2.69.142"], True, "81.2.69.142"),
        ("10.0.0.1", [b"1.1.1.1", b"81.2.69.142 "], True, "81.2.69.142"),
        ("10.0.0.1", [b" , "], True, "10.0.0.1"),
        (None, [], False, ""),
    ],
)
def test_client_ip(peer: str | None, forwarded: list[bytes], trusted: bool, expected: str) -> None:
    assert visitor.client_ip(peer, forwarded, trust_forwarded_for=trusted) == expected


def test_hash_ip_is_keyed_truncated_hmac() -> None:
    expected = hmac.new(b"k" * 16, b"81.2.69.142", hashlib.sha256).hexdigest()[:32]
    assert visitor.hash_ip("k" * 16, "81.2.69.142") == expected
    assert len(expected) == 32
    assert visitor.hash_ip("another-key!", "81.2.69.142") != expected
    assert "81.2.69.142" not in expected


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("81.2.69.142", "GB"),
        ("127.0.0.1", None),  # loopback
        ("10.1.2.3", None),  # private
        ("", None),
        ("not-an-ip", None),
    ],
)
def test_country_of(ip: str, country: str | None) -> None:
    assert visitor.country_of(ip) == country


@pytest.mark.parametrize(
    ("user_agent", "device", "is_bot"),
    [
        (IPHONE, "mobile", False),
        (PIXEL, "mobile", False),
        (IPAD, "tablet", False),
        (GALAXY_TAB, "tablet", False),
        (WINDOWS, "desktop", False),
        (MAC, "desktop", False),
        (LINUX, "desktop", False),
        (GOOGLEBOT, "bot", True),
        ("curl/8.5.0", "bot", True),
        ("python-requests/2.32", "bot", True),
        ("", "bot", True),  # real browsers always send a User-Agent
        ("   ", "bot", True),
        ("SomethingNobodyKnows/1.0", "unknown", False),
    ],
)
def test_classify_user_agent(user_agent: str, device: str, is_bot: bool) -> None:
    assert visitor.classify_user_agent(user_agent) == (device, is_bot)
    assert device in visitor.DEVICES
