"""Audience overlap between partners: sketches refreshed from clicks, compared on request.

- **Refresh** (`refresh_sketches`: the refresh_audience_sketches job and `alliance crosspromo
  sketches refresh`): for each partner, stream the visitor ids of its valid clicks in the
  rolling window through a `SketchBuilder` and store the sketch. Clicks are read partner by
  partner over the (partner_id, occurred_at) index in batches (`yield_per`: a server-side
  cursor on PostgreSQL), so memory stays O(k) per partner whatever the click count; writes go
  in short transactions after the reads, never holding SQLite's write lock while reading.
- **Compare** (`pair_overlap`, `top_overlaps`): the estimates of sketches.py, raw, for
  internal use (matching).
- **Publish** (`present`): the only way numbers leave the server: counts under 50 become
  "< 50", and a Jaccard that would let one compute a suppressed count is suppressed with it.
  No visitor id or hash is ever part of an answer.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, select, true
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from alliance.accounts.models import Partner
from alliance.accounts.service import Principal
from alliance.clock import utcnow
from alliance.crosspromo.overlap_models import AudienceSketch
from alliance.crosspromo.sketches import (
    SKETCH_K,
    Overlap,
    Sketch,
    SketchBuilder,
    SketchError,
    derive_sketch_key,
    estimate_overlap,
    key_fingerprint,
    visitor_hasher,
)
from alliance.db.engine import reading, transaction
from alliance.errors import Conflict, InvalidInput, NotFound
from alliance.programs.models import Enrollment, EnrollmentStatus, Program
from alliance.settings import Settings, get_settings
from alliance.tracking.models import Click, valid_click

# Visitor counts below this leave the server only as "< 50" (DESIGN.md: small overlaps are
# suppressed): a handful of shared visitors is close to naming them.
SUPPRESS_BELOW = 50
SUPPRESSED = f"< {SUPPRESS_BELOW}"
CONFIDENCE = "95%"  # the bounds are +-2 standard errors (95.4%)

# Click rows fetched per round trip while building a sketch.
CLICK_BATCH = 10_000
# Sketches written per transaction (each up to 32 KiB).
WRITE_BATCH = 50


# --- refresh ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefreshResult:
    window_days: int
    partners: int
    clicks_read: int
    seconds: float

    def as_result(self) -> dict[str, Any]:
        return {
            "window_days": self.window_days,
            "partners": self.partners,
            "clicks_read": self.clicks_read,
            "seconds": round(self.seconds, 3),
        }


def default_window_days(settings: Settings | None = None) -> int:
    return (settings or get_settings()).crosspromo_sketch_window_days


def network_key_id(settings: Settings | None = None) -> int:
    """The fingerprint of the key this network hashes visitors with now."""
    return key_fingerprint(derive_sketch_key((settings or get_settings()).secret_key))


def refresh_sketches(
    *,
    now: datetime | None = None,
    window_days: int | None = None,
    partner_ids: Sequence[str] | None = None,
    settings: Settings | None = None,
    k: int = SKETCH_K,
) -> RefreshResult:
    """Rebuild the sketches of `partner_ids` (default: every partner) over the valid clicks
    of the `window_days` (default: the setting) up to `now`. A partner without clicks gets an
    empty sketch: its audience is known to be 0, not unknown."""
    began = time.perf_counter()
    settings = settings or get_settings()
    now = now or utcnow()
    window_days = window_days or default_window_days(settings)
    key = derive_sketch_key(settings.secret_key)
    hash_visitor = visitor_hasher(key)
    key_id = key_fingerprint(key)
    since = now - timedelta(days=window_days)
    with reading() as session:
        if partner_ids is None:
            partner_ids = list(session.scalars(select(Partner.id).order_by(Partner.id)))
        else:
            known = set(session.scalars(select(Partner.id).where(Partner.id.in_(partner_ids))))
            for partner_id in partner_ids:
                if partner_id not in known:
                    raise NotFound(f"no partner {partner_id[:40]!r}", field="partner_id")
    clicks_read = 0
    waiting: list[dict[str, Any]] = []
    for partner_id in partner_ids:
        builder = SketchBuilder(key_id, k)
        read = _stream_visitors(partner_id, since, now, builder, hash_visitor)
        clicks_read += read
        sketch = builder.sketch()
        waiting.append(
            {
                "partner_id": partner_id,
                "window_days": window_days,
                "sketch": sketch.to_bytes(),
                "distinct_estimate": round(sketch.distinct().value),
                "clicks_read": read,
                "computed_at": now,
            }
        )
        if len(waiting) >= WRITE_BATCH:
            _store(waiting)
            waiting = []
    if waiting:
        _store(waiting)
    return RefreshResult(window_days, len(partner_ids), clicks_read, time.perf_counter() - began)


def _stream_visitors(
    partner_id: str,
    since: datetime,
    until: datetime,
    builder: SketchBuilder,
    hash_visitor: Any,
) -> int:
    """Feed the visitor ids of a partner's valid clicks in [since, until] to the builder,
    CLICK_BATCH rows at a time; returns how many rows were read."""
    statement = (
        select(Click.visitor_id)
        .where(
            Click.partner_id == partner_id,
            Click.occurred_at >= since,
            Click.occurred_at <= until,
            valid_click(Click.is_bot, Click.invalid_reason),
        )
        .execution_options(yield_per=CLICK_BATCH)
    )
    read = 0
    with reading() as session:
        for batch in session.scalars(statement).partitions():
            read += len(batch)
            builder.add_visitors(batch, hash_visitor)
    return read


def _store(rows: list[dict[str, Any]]) -> None:
    """Insert or replace sketches, keyed by (partner, window)."""
    with transaction() as session:
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(AudienceSketch)
        statement = statement.on_conflict_do_update(
            index_elements=["partner_id", "window_days"],
            set_={
                column: statement.excluded[column]
                for column in ("sketch", "distinct_estimate", "clicks_read", "computed_at")
            },
        )
        session.execute(statement, rows)


# --- compare ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredSketch:
    partner_id: str
    window_days: int
    sketch: Sketch
    computed_at: datetime


@dataclass(frozen=True, slots=True)
class PairOverlap:
    """Two partners' overlap (raw estimates, not for publishing as they are)."""

    partner_id: str
    other_partner_id: str
    window_days: int
    computed_at: datetime  # the older of the two sketches: the answer is as fresh as that
    overlap: Overlap


def load_sketch(
    session: Session, partner_id: str, window_days: int, *, field: str = "partner_id"
) -> StoredSketch:
    """The partner's stored sketch; 409 naming `field` when there is none made with this
    network's key (never refreshed, or the partner is newer than the last refresh)."""
    row = session.get(AudienceSketch, (partner_id, window_days))
    sketch = _decode(row.sketch) if row is not None else None
    if row is None or sketch is None or sketch.key_id != network_key_id():
        raise Conflict(
            f"no audience sketch of {partner_id} over {window_days} days yet: the "
            "refresh_audience_sketches job makes them daily, or run "
            f"`alliance crosspromo sketches refresh --window-days {window_days}`",
            field=field,
        )
    return StoredSketch(partner_id, window_days, sketch, row.computed_at)


def _decode(data: bytes) -> Sketch | None:
    try:
        return Sketch.from_bytes(bytes(data))
    except SketchError:
        return None


def pair_overlap(
    session: Session, partner_id: str, other_partner_id: str, window_days: int
) -> PairOverlap:
    mine = load_sketch(session, partner_id, window_days, field="partner_id")
    theirs = load_sketch(session, other_partner_id, window_days, field="other_partner_id")
    return PairOverlap(
        partner_id,
        other_partner_id,
        window_days,
        min(mine.computed_at, theirs.computed_at),
        estimate_overlap(mine.sketch, theirs.sketch),
    )


def top_overlaps(
    session: Session,
    partner_id: str,
    window_days: int,
    *,
    limit: int = 10,
    min_shared: float = SUPPRESS_BELOW,
    candidates: ColumnElement[bool] | None = None,
) -> list[PairOverlap]:
    """The partners sharing the most visitors with `partner_id` (at least `min_shared` by
    the estimate), most first; ties by partner id. `candidates` narrows the partners looked
    at (an SQL condition on AudienceSketch.partner_id).

    Cost: every candidate's sketch is read and compared once (~32 KiB, well under a
    millisecond when disjoint), streamed so memory holds `limit` answers, not the network."""
    mine = load_sketch(session, partner_id, window_days)
    my_values = frozenset(mine.sketch.values)
    key_id = mine.sketch.key_id
    statement = (
        select(AudienceSketch.partner_id, AudienceSketch.sketch, AudienceSketch.computed_at)
        .where(
            AudienceSketch.window_days == window_days,
            AudienceSketch.partner_id != partner_id,
            AudienceSketch.distinct_estimate >= math.floor(min_shared),
            candidates if candidates is not None else true(),
        )
        .execution_options(yield_per=64)
    )
    best: list[tuple[float, str, PairOverlap]] = []  # a min-heap of the `limit` largest
    for other_id, data, computed_at in session.execute(statement):
        theirs = _decode(data)
        if theirs is None or theirs.key_id != key_id:
            continue
        if min_shared > 0 and my_values.isdisjoint(theirs.values):
            continue  # no shared value in the sample: the estimate is 0
        overlap = estimate_overlap(mine.sketch, theirs)
        if overlap.shared.value < min_shared:
            continue
        found = PairOverlap(
            partner_id, other_id, window_days, min(mine.computed_at, computed_at), overlap
        )
        # Ties: the smaller partner id ranks first, so it is the larger key here.
        entry = (overlap.shared.value, _descending(other_id), found)
        if len(best) < limit:
            heapq.heappush(best, entry)
        elif entry[:2] > best[0][:2]:
            heapq.heapreplace(best, entry)
    return [entry[2] for entry in sorted(best, key=lambda e: e[:2], reverse=True)]


def _descending(text: str) -> str:
    """A key that sorts strings in reverse (ids are ASCII)."""
    return "".join(chr(0x7F - ord(c)) for c in text)


# --- who may see what ------------------------------------------------------------------------


def _approved_in_programs_of(advertiser_id: str) -> Select[str]:
    return select(Enrollment.partner_id).where(
        Enrollment.status == EnrollmentStatus.approved.value,
        Enrollment.program_id.in_(select(Program.id).where(Program.advertiser_id == advertiser_id)),
    )


def comparable_partners(who: Principal) -> ColumnElement[bool] | None:
    """The partners `who` may compare audiences with (None: every partner). An advertiser
    compares the partners approved in its own programs; a partner and the operator, anyone."""
    if who.is_advertiser:
        return AudienceSketch.partner_id.in_(_approved_in_programs_of(who.id))
    return None


def check_visible(session: Session, who: Principal, partner_ids: Iterable[tuple[str, str]]) -> None:
    """404, whatever the reason, unless every (partner id, field) names a partner `who` may
    compare: the operator any, an advertiser those approved in its programs, a partner
    itself (on the side named `partner_id`) and anyone on the other side."""
    pairs = list(partner_ids)
    for partner_id, field in pairs:
        condition: ColumnElement[bool] = Partner.id == partner_id
        if who.is_advertiser:
            condition = condition & Partner.id.in_(_approved_in_programs_of(who.id))
        if session.scalar(select(Partner.id).where(condition)) is None:
            raise NotFound(f"no partner {partner_id[:40]!r}", field=field)
    if who.is_partner and who.id not in {partner_id for partner_id, _ in pairs}:
        # A partner sees overlaps with itself only; someone else's pair is "not found".
        raise NotFound(f"no partner {pairs[0][0][:40]!r}", field=pairs[0][1])


def check_window(window_days: int | None) -> int:
    if window_days is None:
        return default_window_days()
    if not 1 <= window_days <= 3650:
        raise InvalidInput("window_days must be between 1 and 3650", field="window_days")
    return window_days


# --- publish ---------------------------------------------------------------------------------


def shown_count(value: float) -> int | str:
    """A visitor count as it may leave the server: a whole number, or "< 50"."""
    return SUPPRESSED if value < SUPPRESS_BELOW else round(value)


def _shown_share(share: float, union: float, shared_shown: int | str) -> float | str:
    """A Jaccard index, unless the count it implies (share x union) is suppressed: then
    "< t", t being the share 50 visitors would make, rounded up to two significant digits."""
    if isinstance(shared_shown, str) or share * union < SUPPRESS_BELOW:
        return f"< {_round_up(min(1.0, SUPPRESS_BELOW / union) if union else 1.0)}"
    return round(share, 6)


def _round_up(value: float) -> str:
    exponent = math.floor(math.log10(value)) - 1
    step = 10.0**exponent
    return f"{math.ceil(value / step - 1e-9) * step:.{max(0, -exponent)}f}"


def present(pair: PairOverlap) -> dict[str, Any]:
    """The published answer: numbers only, small counts suppressed."""
    o = pair.overlap
    union = o.union.value
    shared = shown_count(o.shared.value)
    shared_low = shown_count(o.shared.low)
    shared_high = shown_count(o.shared.high)
    return {
        "partner_id": pair.partner_id,
        "other_partner_id": pair.other_partner_id,
        "window_days": pair.window_days,
        "computed_at": pair.computed_at,
        "audience": shown_count(o.audience.value),
        "other_audience": shown_count(o.other_audience.value),
        "shared": shared,
        "shared_low": shared_low,
        "shared_high": shared_high,
        "jaccard": _shown_share(o.jaccard.value, union, shared),
        "jaccard_low": _shown_share(o.jaccard.low, union, shared_low),
        "jaccard_high": _shown_share(o.jaccard.high, union, shared_high),
        "confidence": CONFIDENCE,
        "exact": o.shared.exact,
    }
