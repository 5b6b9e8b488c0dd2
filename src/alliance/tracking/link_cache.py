"""In-process cache of what the redirect needs to know about a link code.

The redirect must not touch the database for a link it has seen in the last
`settings.link_cache_ttl_s` seconds. Unknown codes are cached too (for a shorter time), so a
scan of random codes costs one query per code and per NEGATIVE_TTL_S, not one per request.
A miss is looked up in a worker thread (the event loop never blocks on the database), and
concurrent misses for the same code share one query. A link's landing variants come with it
in the same query and are compiled once per load (ADR 0018), so choosing one costs the
redirect no database access either.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy import and_, select

from alliance.crosspromo.caps import CapTable, cap_table_for_link
from alliance.crosspromo.variant_models import LinkVariant
from alliance.crosspromo.variants import Variant, VariantTable, compile_variants
from alliance.db.engine import reading
from alliance.programs.models import Creative, Program
from alliance.tracking.models import Link

# Codes are generated as 8 lowercase base32 characters; custom codes may be longer and mixed
# case. Anything else cannot exist, so it is a 404 without a query (and without a cache entry).
CODE_PATTERN = re.compile(r"[0-9A-Za-z_-]{1,32}")

NEGATIVE_TTL_S = 5.0
# Upper bound on entries; beyond it the cache is emptied (cheap, and only a scan gets there).
MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class CachedLink:
    """Everything the redirect needs for one link, resolved once and reused."""

    link_id: str
    program_id: str
    partner_id: str
    landing_url: str  # the link's own landing URL, else the program's
    country_urls: Mapping[str, str]  # "DE" -> URL; only http(s) URLs survive loading
    default_subs: tuple[str | None, ...]  # sub1..sub5 used when the visitor's URL has none
    landing_host: str  # host of the program landing URL (deep links may go there)
    deeplink_domains: tuple[str, ...]  # lower-case, no leading dot
    cookie_max_age: int  # seconds: the program's cookie window
    cookie_name: bytes  # b"alc_prg_..."
    # The program's countries (upper-case alpha-2); empty = every country. A visitor whose
    # known country is not in it goes to `fallback_url` and the click earns nothing.
    allowed_countries: frozenset[str] = frozenset()
    fallback_url: str = ""  # the program's fallback URL, else its landing URL
    # The link's landing variants, or None: the redirect's fast path tests only this.
    variants: VariantTable | None = None
    # Audience-fatigue caps of a co-promotion link (ADR 0024), or None: one test likewise.
    caps: CapTable | None = None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters a URL may carry as they are; everything else (non-ASCII, spaces, quotes) is
# percent-encoded. `%` is kept so existing escapes are not encoded twice.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~-._"


def header_safe_url(url: str) -> str:
    """`url` as ASCII fit for a Location header: no control characters (no header
    injection), non-ASCII percent-encoded, an internationalised host in punycode."""
    url = _CONTROL.sub("", url)
    if url.isascii():
        return quote(url, safe=_URL_SAFE)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host and not host.isascii():
            netloc = parts.netloc.replace(host, host.encode("idna").decode("ascii"))
            url = urlunsplit(parts._replace(netloc=netloc))
    except (ValueError, UnicodeError):
        pass
    return quote(url, safe=_URL_SAFE)


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""


def _is_web_url(url: Any) -> bool:
    if not isinstance(url, str) or not url or len(url) > 2048:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def build_entry(link: Link, program: Program, variants: Iterable[Variant] = ()) -> CachedLink:
    """The cache entry for a link row, its program row and its live variants (in creation
    order, landing URLs as stored); pure, used by tests too."""
    subs = link.default_subs or {}
    default_subs = tuple(
        (str(subs[key])[:255] or None) if subs.get(key) is not None else None
        for key in ("sub1", "sub2", "sub3", "sub4", "sub5")
    )
    country_urls = {
        str(country).upper(): header_safe_url(url)
        for country, url in (link.country_urls or {}).items()
        if _is_web_url(url)
    }
    domains = tuple(
        d.strip().lower().lstrip(".").rstrip(".")
        for d in (program.deeplink_domains or [])
        if isinstance(d, str) and d.strip()
    )
    fallback = program.fallback_url if _is_web_url(program.fallback_url) else None
    entry = CachedLink(
        link_id=link.id,
        program_id=program.id,
        partner_id=link.partner_id,
        landing_url=header_safe_url(link.landing_url or program.landing_url),
        country_urls=country_urls,
        default_subs=default_subs,
        landing_host=_host(program.landing_url).lower(),
        deeplink_domains=domains,
        cookie_max_age=int(program.cookie_window_days) * 86_400,
        cookie_name=f"alc_{program.id}".encode("ascii"),
        allowed_countries=frozenset(
            str(c).upper() for c in (program.allowed_countries or []) if isinstance(c, str)
        ),
        fallback_url=header_safe_url(fallback or program.landing_url),
    )
    table = compile_variants(_followable(variants, entry))
    return entry if table is None else dataclasses.replace(entry, variants=table)


def _followable(variants: Iterable[Variant], entry: CachedLink) -> Iterable[Variant]:
    """The variants whose landing the redirect would follow as a deep link today, made
    header-safe. One stored when the program allowed its host, and no longer does, is left
    out (its visitors get the link's normal landing), never followed: no open redirect."""
    from alliance.tracking.redirect import safe_deep_link  # redirect imports this module

    for variant in variants:
        landing = safe_deep_link(variant.landing_url, entry)
        if landing is not None:
            yield dataclasses.replace(variant, landing_url=landing)


def variant_of(row: LinkVariant, creative_url: str | None) -> Variant | None:
    """The redirect's view of a stored variant; None for an offer whose creative is gone
    or inactive (the join found no URL)."""
    landing = row.landing_url if row.creative_id is None else creative_url
    if not landing:
        return None
    return Variant(
        id=row.id,
        landing_url=landing,
        weight=int(row.weight),
        countries=frozenset(str(c).upper() for c in row.countries or () if isinstance(c, str)),
        devices=frozenset(str(d) for d in row.devices or () if isinstance(d, str)),
        visitor=row.visitor,
    )


def load_link(code: str, database_url: str | None = None) -> CachedLink | None:
    """Look a code up in the database (blocking; run it in a thread)."""
    with reading(database_url) as session:
        # One round trip: the link, its program and its live variants (one row per variant,
        # one row with no variant when it has none), offers resolved to their creative's
        # landing URL while the creative is active and of the same program.
        rows = session.execute(
            select(Link, Program, LinkVariant, Creative.landing_url)
            .join(Program, Program.id == Link.program_id)
            .outerjoin(
                LinkVariant,
                and_(LinkVariant.link_id == Link.id, LinkVariant.deleted_at.is_(None)),
            )
            .outerjoin(
                Creative,
                and_(
                    Creative.id == LinkVariant.creative_id,
                    Creative.program_id == Link.program_id,
                    Creative.active.is_(True),
                ),
            )
            .where(Link.code == code)
            .order_by(LinkVariant.created_at, LinkVariant.id)
        ).all()
        if not rows:
            return None
        link, program = rows[0][0], rows[0][1]
        variants = [
            variant
            for _, _, row, creative_url in rows
            if row is not None and (variant := variant_of(row, creative_url)) is not None
        ]
        entry = build_entry(link, program, variants)
        # A co-promotion link's caps (one indexed read of campaign_slots.link_id for every
        # link on a miss, never per click); a capped visitor gets the program's landing.
        caps = cap_table_for_link(session, link.id, header_safe_url(program.landing_url))
        return entry if caps is None else dataclasses.replace(entry, caps=caps)


class LinkCache:
    """code -> CachedLink | None with expiry; misses run `loader` in a thread."""

    def __init__(
        self,
        ttl_s: float,
        loader: Callable[[str], CachedLink | None] = load_link,
        *,
        negative_ttl_s: float = NEGATIVE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_s
        self._negative_ttl = min(negative_ttl_s, ttl_s)
        self._loader = loader
        self._clock = clock
        self._entries: dict[str, tuple[float, CachedLink | None]] = {}
        self._inflight: dict[str, asyncio.Future[CachedLink | None]] = {}
        self.lookups = 0  # database look-ups made (tests check the cache really caches)

    async def get(self, code: str) -> CachedLink | None:
        hit = self._entries.get(code)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        if not CODE_PATTERN.fullmatch(code):
            return None
        pending = self._inflight.get(code)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[CachedLink | None] = asyncio.get_running_loop().create_future()
        self._inflight[code] = future
        try:
            self.lookups += 1
            entry = await asyncio.to_thread(self._loader, code)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            if hit is not None and hit[1] is not None:
                # The database is unreachable but we knew this link a moment ago: keep
                # redirecting with what we had rather than failing every visitor.
                self._entries[code] = (self._clock() + self._negative_ttl, hit[1])
                future.set_result(hit[1])
                return hit[1]
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._inflight[code]
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        ttl = self._ttl if entry is not None else self._negative_ttl
        self._entries[code] = (self._clock() + ttl, entry)
        future.set_result(entry)
        return entry

    def clear(self) -> None:
        self._entries.clear()
