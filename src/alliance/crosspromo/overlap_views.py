"""Audience overlap as the dashboards read it: a partner's own audience, when the sketches are
refreshed next, and, for a list of partners, the one each shares the most visitors with.

Every estimate comes from overlap.py / sketches.py, unchanged; this module only chooses which
pairs to compare. What leaves the server still goes through `overlap.present` or
`overlap.shown_count` (counts under 50 as "< 50"); nothing here returns an id's hash.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alliance.clock import as_utc
from alliance.crosspromo.overlap import (
    SUPPRESS_BELOW,
    PairOverlap,
    network_key_id,
    shown_count,
)
from alliance.crosspromo.overlap_models import AudienceSketch
from alliance.crosspromo.sketches import HASH_SPACE, Sketch, SketchError, estimate_overlap
from alliance.jobs.models import JobRun

# The periodic task that rebuilds every sketch (jobs/runner.py) and how often it runs.
REFRESH_TASK = "refresh_audience_sketches"
CEILING_SLACK = 1 + 1e-9
# Answers of best_overlaps kept per process (each a few hundred bytes per partner).
BEST_CACHE_SIZE = 64
_best_cache: OrderedDict[tuple[Any, ...], dict[str, PairOverlap]] = OrderedDict()
_cache_lock = threading.Lock()


# --- one partner's own audience ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OwnAudience:
    """A partner's audience as it may be shown: counts under 50 as "< 50"."""

    partner_id: str
    window_days: int
    computed_at: datetime
    audience: int | str
    audience_low: int | str
    audience_high: int | str
    exact: bool  # fewer visitors than the sketch holds: counted, not estimated
    clicks_read: int  # the partner's own valid clicks in the window (repeat visits included)


def own_audience(session: Session, partner_id: str, window_days: int) -> OwnAudience | None:
    """The partner's audience from its stored sketch; None when there is no sketch made with
    this network's key (never refreshed, created since, or the secret key changed)."""
    row = session.get(AudienceSketch, (partner_id, window_days))
    if row is None:
        return None
    sketch = _decode(row.sketch, network_key_id())
    if sketch is None:
        return None
    size = sketch.distinct()
    return OwnAudience(
        partner_id=partner_id,
        window_days=window_days,
        computed_at=as_utc(row.computed_at),
        audience=shown_count(size.value),
        audience_low=shown_count(size.low),
        audience_high=shown_count(size.high),
        exact=size.exact,
        clicks_read=row.clicks_read,
    )


def _decode(data: bytes, key_id: int) -> Sketch | None:
    try:
        sketch = Sketch.from_bytes(bytes(data))
    except SketchError:
        return None
    return sketch if sketch.key_id == key_id else None


# --- the daily refresh ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefreshSchedule:
    last_run_at: datetime | None  # the last successful refresh; None: never on this network
    next_run_at: datetime | None  # the runner's rule: due once the last success is `every` old


def refresh_schedule(session: Session) -> RefreshSchedule:
    """When the sketches were last rebuilt by the job and when it is due again (served by the
    index (name, started_at) of job_runs)."""
    from alliance.jobs.runner import TASKS  # the runner imports crosspromo: import it late

    last = session.scalar(
        select(func.max(JobRun.started_at)).where(JobRun.name == REFRESH_TASK, JobRun.ok.is_(True))
    )
    if last is None:
        return RefreshSchedule(None, None)
    last = as_utc(last)
    return RefreshSchedule(last, last + TASKS[REFRESH_TASK].every)


# --- the best match of each partner in a list -------------------------------------------------


def measured_partners(
    session: Session, partner_ids: Collection[str], window_days: int
) -> list[str]:
    """Those of `partner_ids` with a sketch of the window (whatever its key), by id."""
    return list(
        session.scalars(
            select(AudienceSketch.partner_id)
            .where(
                AudienceSketch.partner_id.in_(list(partner_ids)),
                AudienceSketch.window_days == window_days,
            )
            .order_by(AudienceSketch.partner_id)
        )
    )


def best_overlaps(
    session: Session,
    partner_ids: Collection[str],
    window_days: int,
    *,
    min_shared: float = SUPPRESS_BELOW,
) -> dict[str, PairOverlap]:
    """For each partner of `partner_ids` with a sketch, the other partner of `partner_ids`
    sharing the most visitors with it (by the estimate, at least `min_shared`; ties: the
    smaller partner id), as `top_overlaps(..., limit=1)` restricted to the list would say.

    The search (`best_matches`) still intersects every pair's samples, ~0.1-0.2 ms a pair,
    so its answer is kept per process under the versions of the sketches it read: a sketch
    changes only when the daily refresh rewrites it, and the page that asks is reloaded for
    every sort and every comparison."""
    key_id = network_key_id()
    versions = frozenset(
        (partner_id, as_utc(computed_at))
        for partner_id, computed_at in session.execute(
            select(AudienceSketch.partner_id, AudienceSketch.computed_at).where(
                AudienceSketch.partner_id.in_(list(partner_ids)),
                AudienceSketch.window_days == window_days,
                AudienceSketch.distinct_estimate >= math.floor(min_shared),
            )
        )
    )
    cache_key = (window_days, key_id, min_shared, versions)
    with _cache_lock:
        if cache_key in _best_cache:
            _best_cache.move_to_end(cache_key)
            return dict(_best_cache[cache_key])
    sketches: dict[str, Sketch] = {}
    computed: dict[str, datetime] = {}
    rows = session.execute(
        select(AudienceSketch.partner_id, AudienceSketch.sketch, AudienceSketch.computed_at).where(
            AudienceSketch.partner_id.in_([partner_id for partner_id, _ in versions]),
            AudienceSketch.window_days == window_days,
        )
    )
    for partner_id, data, computed_at in rows:
        sketch = _decode(data, key_id)
        if sketch is not None:
            sketches[partner_id] = sketch
            computed[partner_id] = as_utc(computed_at)
    best: dict[str, PairOverlap] = {}
    for partner_id, other in best_matches(sketches, min_shared).items():
        best[partner_id] = PairOverlap(
            partner_id,
            other,
            window_days,
            min(computed[partner_id], computed[other]),
            estimate_overlap(sketches[partner_id], sketches[other]),
        )
    with _cache_lock:
        _best_cache[cache_key] = best
        while len(_best_cache) > BEST_CACHE_SIZE:
            _best_cache.popitem(last=False)
    return dict(best)


def best_matches(sketches: Mapping[str, Sketch], min_shared: float) -> dict[str, str]:
    """Pure: for each key of `sketches`, the other key whose audience shares the most with it
    (estimate at least `min_shared`; ties: the smaller key). Keys without one are left out.

    Estimating every pair costs ~1-3 ms each (`estimate_overlap` merges two 4,096-value
    samples). So each pair first gets a cheap upper bound of its estimate (`overlap_ceiling`:
    a set intersection in C and a binary search), and a key's candidates are estimated in
    descending order of that bound only until the bound falls below the best estimate found.
    The answer is the one comparing every pair gives; about one pair per key is estimated
    when audiences differ, more when many are alike (tests/crosspromo/test_overlap_views.py).
    """
    ids = sorted(sketches)
    value_sets = {pid: frozenset(sketches[pid].values) for pid in ids}
    ceilings: dict[str, list[tuple[float, str]]] = {pid: [] for pid in ids}
    for i, first in enumerate(ids):
        for second in ids[i + 1 :]:
            common = len(value_sets[first] & value_sets[second])
            if not common:
                continue  # no shared value in the sample: the estimate is 0
            ceiling = overlap_ceiling(sketches[first], sketches[second], common)
            if ceiling >= min_shared:
                ceilings[first].append((ceiling, second))
                ceilings[second].append((ceiling, first))
    estimated: dict[tuple[str, str], float] = {}
    best: dict[str, str] = {}
    for pid in ids:
        found: tuple[float, str] | None = None
        for ceiling, other in sorted(ceilings[pid], key=lambda c: (-c[0], c[1])):
            if found is not None and ceiling < found[0]:
                break  # no later candidate can beat (or tie) the best estimate
            pair_key = (min(pid, other), max(pid, other))
            if pair_key not in estimated:
                shared = estimate_overlap(sketches[pair_key[0]], sketches[pair_key[1]]).shared
                estimated[pair_key] = shared.value
            shared_value = estimated[pair_key]
            if shared_value < min_shared:
                continue
            if (
                found is None
                or shared_value > found[0]
                or (shared_value == found[0] and other < found[1])
            ):
                found = (shared_value, other)
        if found is not None:
            best[pid] = found[1]
    return best


def overlap_ceiling(a: Sketch, b: Sketch, common: int) -> float:
    """An upper bound of `estimate_overlap(a, b).shared.value`, given `common`, the number of
    values the two sketches hold in common.

    Why it bounds: the estimate is X / k x (k - 1) / u, X being the shared values among the k
    smallest of the union and u the union's k-th smallest value (as a fraction of the hash
    space). X <= common (a shared value of the union's sample is in both sketches), and the
    union's k-th smallest *distinct* value is at least the k-th smallest of the two sketches
    taken together with repeats (m below), so u >= m. When the union has fewer than k values
    the estimate is X itself, exact, and X = common."""
    k = min(a.k, b.k)
    left, right = a.values[:k], b.values[:k]
    if len(left) + len(right) - common < k:
        return float(common)
    # The k-th smallest of left + right (repeats counted): the smallest value v of either
    # with bisect_right(left, v) + bisect_right(right, v) >= k, found by binary search.
    kth = min(_kth_of_two(left, right, k), _kth_of_two(right, left, k))
    # A hair above: the estimate is the same arithmetic in another order, and a bound that a
    # rounding put one ulp below it would stop the search one candidate early.
    return common / k * (k - 1) / ((kth + 1) / HASH_SPACE) * CEILING_SLACK


def _kth_of_two(values: tuple[int, ...], other: tuple[int, ...], k: int) -> int:
    """The smallest v in `values` with at least k values of both at or below it; the largest
    hash when there is none (the other list then holds the k-th)."""
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if mid + 1 + bisect_right(other, values[mid]) >= k:
            hi = mid
        else:
            lo = mid + 1
    return values[lo] if lo < len(values) else HASH_SPACE - 1
