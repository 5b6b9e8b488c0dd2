"""`GET /c/{code}`: the redirect hot path, as a raw ASGI handler (docs/adr/0002).

Per request it does no more than: resolve the link from the in-process cache, build the
click, hand it to the click writer, wait for its batch to commit, answer 302. Headers are
built as bytes; no framework, no Request/Response objects. Whatever the visitor sends, the
visitor lands somewhere sensible: odd sub-ids are cleaned, not refused; a deep link to a
host the program does not allow falls back to the default landing (never an open redirect).
A visitor from a country the program does not allow goes to the program's fallback URL and
the click is stored as invalid (`country_not_allowed`), so it earns nothing (docs/adr/0011).
A link with landing variants picks one by the visitor's country, device and cookie after
those two rules, from its cache entry (docs/adr/0018); a link without any pays one test.
A co-promotion link with fatigue caps sends a returning visitor over any of its caps to the
program's plain landing, the click stored invalid (`capped`, docs/adr/0024); other links pay
one test for that too.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from alliance.crosspromo.caps import CapTable, exposures_of
from alliance.crosspromo.caps_rules import capping_rule, earliest_start
from alliance.crosspromo.variants import choose_variant
from alliance.ids import new_id
from alliance.settings import Settings, get_settings
from alliance.tracking import visitor
from alliance.tracking.click_writer import ClickNotSaved, ClickWriter, PendingClick
from alliance.tracking.link_cache import CachedLink, LinkCache, header_safe_url, load_link
from alliance.tracking.models import InvalidReason

log = logging.getLogger("alliance.redirect")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# Query strings beyond this are cut at the last `&` before it: parameters that fit are kept,
# the rest ignored. The visitor is still redirected; parsing cost stays bounded.
MAX_QUERY_BYTES = 8192
DEEP_LINK_MAX = 2048
SUB_KEYS = ("sub1", "sub2", "sub3", "sub4", "sub5")
COUNTRY_NOT_ALLOWED = InvalidReason.country_not_allowed.value
CAPPED = InvalidReason.capped.value

_VISITOR_ID = re.compile(rb"vis_[0-9A-HJKMNP-TV-Z]{26}")

_NOT_FOUND_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>Link not found</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:15vh auto;padding:0 1rem;
color:#333}h1{font-size:1.4rem}</style></head>
<body><h1>This link does not exist (any more)</h1>
<p>The tracking link you followed is unknown. It may have been mistyped or removed.
Please check the address, or go back to the page you came from.</p></body></html>
"""
_UNAVAILABLE_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Try again</title></head>
<body><h1>Please try again in a moment</h1></body></html>
"""

_COMMON = [
    (b"cache-control", b"no-store"),
    # Privacy by default: the landing page learns the partner site's origin, not its path.
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-robots-tag", b"noindex, nofollow"),
]
_HTML = (b"content-type", b"text/html; charset=utf-8")


def is_allowed_host(host: str, link: CachedLink) -> bool:
    """The program landing host exactly, or a listed deep-link domain or its subdomain."""
    host = host.lower().rstrip(".")
    if not host:
        return False
    if host == link.landing_host:
        return True
    return any(host == d or host.endswith("." + d) for d in link.deeplink_domains)


def safe_deep_link(url: str | None, link: CachedLink) -> str | None:
    """The `url=` target if it is an http(s) URL on an allowed host, else None.

    Refused outright: anything with whitespace, control characters or a backslash (browsers
    read `https://shop.example\\@evil.com` differently from Python), user info
    (`https://shop.example@evil.com`), protocol-relative `//evil.com`, other schemes.
    """
    if not url or len(url) > DEEP_LINK_MAX:
        return None
    if any(ch <= " " or ch == "\x7f" or ch == "\\" for ch in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or "@" in parts.netloc:
        return None
    if not host.isascii() or not is_allowed_host(host, link):
        return None
    return header_safe_url(url)


def with_click_id(url: str, click_id: str) -> str:
    """`url` with `alclid=<click id>` added to its query (fragment kept, old alclid dropped)."""
    base, hash_, fragment = url.partition("#")
    path, _, query = base.partition("?")
    if query and "alclid=" in query:
        # A deep link could carry a forged alclid; only ours may reach the advertiser.
        query = "&".join(p for p in query.split("&") if not p.startswith("alclid="))
    query = f"{query}&alclid={click_id}" if query else f"alclid={click_id}"
    return f"{path}?{query}{hash_}{fragment}"


def parse_query(raw: bytes) -> dict[str, str]:
    """First value of each parameter; invalid UTF-8 replaced; oversized input cut safely."""
    if len(raw) > MAX_QUERY_BYTES:
        cut = raw.rfind(b"&", 0, MAX_QUERY_BYTES + 1)
        raw = raw[:cut] if cut > 0 else b""
    params: dict[str, str] = {}
    text = raw.decode("utf-8", "replace")
    for key, value in parse_qsl(text, keep_blank_values=False, errors="replace"):
        params.setdefault(key, value)
    return params


def choose_subs(params: dict[str, str], defaults: tuple[str | None, ...]) -> tuple[str | None, ...]:
    """sub1..sub5 from the visitor's URL, each cleaned; the link's default where absent."""
    return tuple(
        visitor.clean_sub(params.get(key)) or defaults[i] for i, key in enumerate(SUB_KEYS)
    )


def visitor_from_cookies(cookie_headers: Iterable[bytes], cookie_name: bytes) -> str | None:
    """The visitor id in a valid `alc_{program}` cookie, if the browser sent one."""
    needle = cookie_name + b"="
    for header in cookie_headers:
        for part in header.split(b";"):
            part = part.strip()
            if part.startswith(needle):
                value = part[len(needle) :].strip(b'"')
                if _VISITOR_ID.fullmatch(value):
                    return value.decode("ascii")
    return None


def visitor_from_other_programs(cookie_headers: Iterable[bytes]) -> str | None:
    """The visitor id of any valid `alc_{program}` cookie: a browser new to this program but
    known to the network keeps its id, so the same person is one visitor network-wide (what
    audience overlap between partners of different programs counts, docs/audience-overlap.md).
    Attribution is unaffected: it only ever reads one program's clicks."""
    for header in cookie_headers:
        for part in header.split(b";"):
            part = part.strip()
            if part.startswith(b"alc_prg_"):
                _name, _, value = part.partition(b"=")
                value = value.strip(b'"')
                if _VISITOR_ID.fullmatch(value):
                    return value.decode("ascii")
    return None


def _cookie(link: CachedLink, visitor_id: str, secure: bool) -> bytes:
    attrs = b"; Max-Age=%d; Path=/; HttpOnly; SameSite=Lax" % link.cookie_max_age
    if secure:
        attrs += b"; Secure"
    return link.cookie_name + b"=" + visitor_id.encode("ascii") + attrs


class RedirectHandler:
    """The ASGI app for `/c/...`; start() / stop() run in the server's lifespan."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._cache: LinkCache | None = None
        self._writer: ClickWriter | None = None
        self._start_lock: asyncio.Lock | None = None

    @property
    def writer(self) -> ClickWriter | None:
        return self._writer

    async def start(self) -> None:
        if self._writer is not None and self._writer.running:
            return
        settings = self._settings or get_settings()
        self._settings = settings
        database_url = settings.database_url
        self._cache = LinkCache(
            settings.link_cache_ttl_s, lambda code: load_link(code, database_url)
        )
        self._writer = ClickWriter.from_settings(settings)
        await self._writer.start()

    async def stop(self) -> None:
        if self._writer is not None:
            await self._writer.stop()

    async def _ensure_started(self) -> None:
        # Servers without a lifespan (or tests calling the app directly) still work.
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._writer is None:
                await self.start()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        writer, cache = self._writer, self._cache
        if writer is None or cache is None:
            await self._ensure_started()
            writer, cache = self._writer, self._cache
            assert writer is not None and cache is not None
        settings = self._settings
        assert settings is not None

        method = scope["method"]
        head = method == "HEAD"
        if method != "GET" and not head:
            await _answer(send, 405, b"", head, [(b"allow", b"GET, HEAD")])
            return

        code = scope["path"][3:].rstrip("/")  # after "/c/"
        try:
            link = await cache.get(code)
        except Exception:  # database trouble must not become a 500 page
            log.exception("link look-up failed for %r", code)
            await _answer(send, 503, _UNAVAILABLE_PAGE, head, [_HTML, (b"retry-after", b"1")])
            return
        if link is None:
            await _answer(send, 404, _NOT_FOUND_PAGE, head, [_HTML])
            return

        user_agent = b""
        referrer: bytes | None = None
        cookies: list[bytes] = []
        forwarded: list[bytes] = []
        forwarded_proto = b""
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookies.append(value)
            elif name == b"user-agent":
                user_agent = value
            elif name == b"referer":
                referrer = value
            elif name == b"x-forwarded-for":
                forwarded.append(value)
            elif name == b"x-forwarded-proto":
                forwarded_proto = value

        trust = settings.trust_forwarded_for
        client = scope.get("client")
        ip = visitor.client_ip(client[0] if client else None, forwarded, trust_forwarded_for=trust)
        params = parse_query(scope.get("query_string") or b"")

        country: str | None = None
        country_known = False
        invalid_reason: str | None = None
        landing: str | None = None
        if link.allowed_countries:
            # Geo-targeted program (docs/adr/0011): a ~1 µs look-up in the in-memory table.
            # An unknown country (IPv6, private ranges) is let through: refusing it would
            # refuse most mobile traffic, and the report shows such clicks as "unknown".
            country = visitor.country_of(ip)
            country_known = True
            if visitor.country_not_allowed(link.allowed_countries, country):
                landing = link.fallback_url
                invalid_reason = COUNTRY_NOT_ALLOWED
        if landing is None:
            landing = safe_deep_link(params.get("url"), link) if params else None
        known_visitor = visitor_from_cookies(cookies, link.cookie_name) if cookies else None
        network_visitor = known_visitor or (
            visitor_from_other_programs(cookies) if cookies else None
        )
        visitor_id = network_visitor or new_id("vis")
        # Fatigue caps (ADR 0024): a new visitor has no exposure yet, so only a known one
        # costs a read (one visitor's clicks, in a thread, off the event loop).
        if (
            link.caps is not None
            and invalid_reason is None
            and network_visitor is not None
            and await _over_cap(link.caps, network_visitor, settings.database_url)
        ):
            landing, invalid_reason = link.caps.plain_landing, CAPPED
        user_agent_text = visitor.clean_text(user_agent.decode("utf-8", "replace"), 512)
        variant_id: str | None = None
        if landing is None and link.variants is not None:
            # Landing variants (ADR 0018): country and device only when a variant asks.
            table = link.variants
            if table.needs_country and not country_known:
                country = visitor.country_of(ip)
                country_known = True
            variant = choose_variant(
                table,
                link_id=link.link_id,
                visitor_id=visitor_id,
                country=country,
                device=visitor.classify_user_agent(user_agent_text)[0]
                if table.needs_device
                else None,
                returning=known_visitor is not None,
            )
            if variant is not None:
                landing, variant_id = variant.landing_url, variant.id
        if landing is None:
            if link.country_urls:
                if not country_known:
                    country = visitor.country_of(ip)
                    country_known = True
                landing = link.country_urls.get(country or "") or link.landing_url
            else:
                landing = link.landing_url

        click_id = new_id("clk")
        click = PendingClick(
            id=click_id,
            occurred_at=datetime.now(UTC),
            link_id=link.link_id,
            program_id=link.program_id,
            partner_id=link.partner_id,
            visitor_id=visitor_id,
            subs=choose_subs(params, link.default_subs) if params else link.default_subs,
            landing_url=landing,
            user_agent=user_agent_text,
            referrer=(
                visitor.clean_text(referrer.decode("utf-8", "replace"), 2048) if referrer else None
            ),
            ip=ip,
            country=country,
            country_known=country_known,
            invalid_reason=invalid_reason,
            variant_id=variant_id,
        )
        try:
            await writer.write(click)
        except ClickNotSaved:
            # No 302 for a click we could not save: the visitor retries, nothing is lost.
            await _answer(send, 503, _UNAVAILABLE_PAGE, head, [_HTML, (b"retry-after", b"1")])
            return

        secure = scope.get("scheme") == "https" or (trust and forwarded_proto == b"https")
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [
                    (b"location", with_click_id(landing, click_id).encode("ascii")),
                    (b"set-cookie", _cookie(link, visitor_id, secure)),
                    *_COMMON,
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


async def _over_cap(caps: CapTable, visitor_id: str, database_url: str | None) -> bool:
    """Whether any of the link's caps holds this visitor back now. Database trouble lets
    the visitor through (a cap spares an audience; it must not lose a visit)."""
    now = datetime.now(UTC)
    try:
        exposures = await asyncio.to_thread(
            exposures_of, visitor_id, caps, earliest_start(caps.rules, now), database_url
        )
    except Exception:
        log.exception("fatigue-cap read failed; visitor let through")
        return False
    return capping_rule(caps.rules, caps.place, exposures, now) is not None


async def _answer(
    send: Send, status: int, body: bytes, head: bool, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, *_COMMON, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})
