"""Who clicked: client IP, country, device, bot flag and the hashed IP. Pure helpers.

Everything here is offline and cheap: the country comes from geoip2fast's bundled table in
a compact copy (`geo.py`, ~1 µs a look-up); device and bot verdicts are cached per
User-Agent string (a handful of distinct strings make up most traffic, and an uncached
ua-parser call costs ~0.5 ms). The raw IP never leaves memory: clicks store `hash_ip(...)`.
"""

from __future__ import annotations

import hmac
import re
import threading
from collections.abc import Collection, Iterable
from functools import lru_cache
from hashlib import sha256
from typing import Any

from alliance.tracking import geo

# Sub-ids and headers land in reports, CSV exports and PostgreSQL text columns: strip C0
# control characters and DEL (CR/LF would split CSV rows; NUL is refused by PostgreSQL and
# would fail a whole batch of clicks).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

SUB_MAX = 255
USER_AGENT_MAX = 512
REFERRER_MAX = 2048
IP_HASH_LENGTH = 32

DEVICES = ("desktop", "mobile", "tablet", "bot", "unknown")


def clean_text(value: str, limit: int) -> str:
    """`value` without control characters, cut to `limit` characters."""
    if _CONTROL.search(value):
        value = _CONTROL.sub("", value)
    return value[:limit]


def clean_sub(value: str | None) -> str | None:
    """A sub-id as stored: no control characters, at most 255 characters; empty = absent."""
    if value is None:
        return None
    value = clean_text(value, SUB_MAX).strip()
    return value or None


@lru_cache(maxsize=4)
def _keyed_hmac(secret_key: str) -> hmac.HMAC:
    return hmac.new(secret_key.encode(), digestmod=sha256)


def hash_ip(secret_key: str, ip: str) -> str:
    """HMAC-SHA256(secret, ip), hex, first 32 characters: counts unique visitors, hides the IP."""
    # Copying a keyed HMAC skips re-deriving the inner and outer pads for every click.
    mac = _keyed_hmac(secret_key).copy()
    mac.update(ip.encode())
    return mac.hexdigest()[:IP_HASH_LENGTH]


def client_ip(
    peer: str | None, forwarded_for: Iterable[bytes], *, trust_forwarded_for: bool
) -> str:
    """The visitor's IP: the TCP peer, or the proxy's `X-Forwarded-For` entry when trusted.

    With a trusted proxy we take the *rightmost* entry: it is the one our proxy appended;
    everything to its left came from the client and can be forged. (One proxy hop; a chain
    of proxies would need a hop count, which no operator has asked for yet.)
    """
    if trust_forwarded_for:
        for raw in reversed(list(forwarded_for)):
            entries = [part.strip() for part in raw.decode("latin-1").split(",")]
            entries = [entry for entry in entries if entry]
            if entries:
                return entries[-1]
    return peer or ""


def country_of(ip: str) -> str | None:
    """ISO 3166-1 alpha-2 country of an IP, or None (private, reserved, unknown, malformed)."""
    if not ip:
        return None
    return geo.country_of(ip)


def country_not_allowed(allowed_countries: Collection[str], country: str | None) -> bool:
    """Geo-targeting (docs/adr/0011): True when the program is limited to countries and the
    visitor's known country is not one of them. An unknown country (None: IPv6, private
    ranges, gaps in the offline table) is let through."""
    return bool(allowed_countries) and country is not None and country not in allowed_countries


def warm_up() -> None:
    """Load the geo table and the UA regexes now, so the first visitor does not pay for it."""
    country_of("81.2.69.142")
    classify_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36")


_crawler_lock = threading.Lock()


@lru_cache(maxsize=1)
def _crawler_detect() -> Any:
    from crawlerdetect import CrawlerDetect

    return CrawlerDetect()


def _is_crawler(user_agent: str) -> bool:
    # CrawlerDetect keeps the last match on the instance; the lock keeps that private state
    # consistent when two threads ask at once (rare: results are cached below).
    with _crawler_lock:
        return bool(_crawler_detect().is_crawler(user_agent))


_TABLET_FAMILIES = ("ipad", "kindle", "tablet", "playbook", "nexus 7", "nexus 9", "nexus 10")
_MOBILE_OS = ("ios", "android", "windows phone", "blackberry os", "kaios", "firefox os")
_DESKTOP_OS = ("windows", "mac os x", "linux", "ubuntu", "chrome os", "fedora", "freebsd")


def _device_of(user_agent: str) -> str:
    from ua_parser import parse_device, parse_os

    device = parse_device(user_agent)
    family = (device.family if device else "").lower()
    brand = (device.brand or "" if device else "").lower()
    if family == "spider" or brand == "spider":
        return "bot"
    if brand == "generic_android_tablet" or any(t in family for t in _TABLET_FAMILIES):
        return "tablet"
    os = parse_os(user_agent)
    os_family = (os.family if os else "").lower()
    if os_family == "android":
        # Android tablets that ua-parser does not know still omit "Mobile" from the UA.
        return "mobile" if "mobile" in user_agent.lower() else "tablet"
    if os_family in _MOBILE_OS or family in ("iphone", "ipod", "generic smartphone"):
        return "mobile"
    if os_family in _DESKTOP_OS or family == "mac":
        return "desktop"
    return "unknown"


@lru_cache(maxsize=8192)
def classify_user_agent(user_agent: str) -> tuple[str, bool]:
    """(device, is_bot) for a User-Agent. Empty UA = bot: real browsers always send one."""
    if not user_agent.strip():
        return "bot", True
    if _is_crawler(user_agent):
        return "bot", True
    device = _device_of(user_agent)
    return device, device == "bot"
