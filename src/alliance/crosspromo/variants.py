"""Landing variants of a link: which one a visitor gets, and how sure a report can be (pure).

A partner gives a link variants, each a landing page with optional conditions on the
visitor's country, device and new-vs-returning status, and a weight. For one click:

1. Only variants whose conditions all hold take part (an absent condition holds always).
2. The most specific group wins. A variant's *group* is the set of dimensions it constrains;
   groups are ranked first by how many dimensions they constrain (three beats two beats one
   beats none), then, between groups of as many, country before device before visitor kind.
   So "DE on mobile" beats "DE" beats "mobile" beats "returning" beats an unconditioned
   variant, and only the best-ranked group with a matching variant is used.
3. Within that group, the matching variants split visitors by weight. The split is sticky:
   the point in [0, 1) that picks the variant is a hash of (link id, visitor id), so a visitor
   who comes back with the same cookie lands on the same variant as long as the same variants
   match, and two links split the same visitor independently.
4. No variant matches: None, and the redirect uses the link's normal landing.

`choose_variant` does only comparisons, one BLAKE2b hash of ~60 bytes and a walk over at most
MAX_VARIANTS entries: a few µs (bench/link_variants.py). Everything that can be computed
once per link is done by `compile_variants` when the link cache loads the link.

The report's arithmetic is here too: Wilson score intervals for conversion rates and
Newcombe's interval for the difference of two of them.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from hashlib import blake2b
from itertools import accumulate

# What a device condition may name: the classes tracking/visitor.py gives browsers. "bot" and
# "unknown" are verdicts, not audiences: no variant targets them.
DEVICES = ("desktop", "mobile", "tablet")
# "returning": the browser sent a valid `alc_{program}` visitor cookie; "new": it did not.
VISITOR_KINDS = ("new", "returning")
MAX_VARIANTS = 20  # live variants per link
MAX_WEIGHT = 10_000
MAX_COUNTRIES = 250  # every ISO 3166-1 code fits

# Group rank bits: more constrained dimensions first, then country > device > visitor kind.
_COUNTRY, _DEVICE, _VISITOR = 4, 2, 1
_BITS = 64  # the split point is a 64-bit integer: a share is off by at most 2^-64

Z_95 = 1.959963984540054  # the standard normal quantile for a two-sided 95% interval


@dataclass(frozen=True, slots=True)
class Variant:
    """One landing variant, as the redirect uses it.

    `countries` and `devices` empty = any; `visitor` None = new and returning alike.
    `landing_url` is the page the visitor is sent to (already checked and header-safe when
    it comes from the link cache).
    """

    id: str
    landing_url: str
    weight: int
    countries: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    visitor: str | None = None

    @property
    def rank(self) -> tuple[int, int]:
        """How specific the variant's group is: (dimensions constrained, which ones)."""
        mask = (
            (_COUNTRY if self.countries else 0)
            | (_DEVICE if self.devices else 0)
            | (_VISITOR if self.visitor is not None else 0)
        )
        return mask.bit_count(), mask

    def matches(self, country: str | None, device: str | None, returning: bool) -> bool:
        """Every condition holds. An unknown country or device matches no condition on it."""
        if self.countries and country not in self.countries:
            return False
        if self.devices and device not in self.devices:
            return False
        return self.visitor is None or (self.visitor == "returning") == returning


@dataclass(frozen=True, slots=True)
class Group:
    """Variants that constrain the same dimensions, in creation order, with their running
    weight totals (so a split over the whole group is one bisect)."""

    variants: tuple[Variant, ...]
    cumulative: tuple[int, ...]  # weight of variants[0], + variants[1], ...; last = total
    unconditioned: bool  # no variant of the group has a condition: all of them always match

    @classmethod
    def of(cls, variants: Iterable[Variant]) -> Group:
        members = tuple(variants)
        return cls(
            variants=members,
            cumulative=tuple(accumulate(v.weight for v in members)),
            unconditioned=members[0].rank == (0, 0),
        )


@dataclass(frozen=True, slots=True)
class VariantTable:
    """A link's variants compiled for choosing: groups most specific first. `needs_country`
    / `needs_device` tell the redirect whether it must look them up for this link at all."""

    groups: tuple[Group, ...]
    needs_country: bool
    needs_device: bool

    @property
    def variants(self) -> tuple[Variant, ...]:
        return tuple(v for group in self.groups for v in group.variants)


def compile_variants(variants: Iterable[Variant]) -> VariantTable | None:
    """The table for these variants (in creation order), or None when there are none: the
    redirect's fast path tests only that."""
    by_rank: dict[tuple[int, int], list[Variant]] = {}
    for variant in variants:
        if variant.weight < 1:
            continue  # refused on input; a weight of 0 could never be chosen anyway
        by_rank.setdefault(variant.rank, []).append(variant)
    if not by_rank:
        return None
    ranked = sorted(by_rank.items(), key=lambda item: item[0], reverse=True)
    found = [v for _, group in ranked for v in group]
    return VariantTable(
        groups=tuple(Group.of(group) for _, group in ranked),
        needs_country=any(v.countries for v in found),
        needs_device=any(v.devices for v in found),
    )


def split_point(link_id: str, visitor_id: str) -> int:
    """The visitor's sticky position for this link: the first 8 bytes of
    BLAKE2b-64("{link_id}:{visitor_id}") as a big-endian integer in [0, 2^64)."""
    digest = blake2b(f"{link_id}:{visitor_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def pick_weighted(candidates: Sequence[Variant], cumulative: Sequence[int], point: int) -> Variant:
    """The candidate whose share of the total weight contains `point` (of 2^64), candidates
    laid out in their given order (`cumulative`: their running weight totals).
    Multiply-and-shift, not modulo: each candidate gets within one of its exact share of
    the 2^64 points."""
    target = (point * cumulative[-1]) >> _BITS  # in [0, total)
    return candidates[bisect_right(cumulative, target)]


def choose_variant(
    table: VariantTable,
    *,
    link_id: str,
    visitor_id: str,
    country: str | None,
    device: str | None,
    returning: bool,
) -> Variant | None:
    """The variant this visitor lands on, or None for the link's normal landing."""
    for group in table.groups:
        members = group.variants
        if group.unconditioned:
            matching, cumulative = members, group.cumulative
        else:
            found = [v for v in members if v.matches(country, device, returning)]
            if not found:
                continue
            if len(found) == len(members):
                matching, cumulative = members, group.cumulative
            else:
                matching, cumulative = tuple(found), tuple(accumulate(v.weight for v in found))
        if len(matching) == 1:
            return matching[0]
        return pick_weighted(matching, cumulative, split_point(link_id, visitor_id))
    return None


# --- the report's statistics --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> Interval:
    """Wilson's score interval for a binomial proportion; (0, 1) when there are no trials.

    Unlike the normal approximation it stays inside [0, 1] and behaves at 0 and n
    successes, which is where small variants live."""
    if trials <= 0:
        return Interval(0.0, 1.0)
    if not 0 <= successes <= trials:
        raise ValueError("successes must be between 0 and trials")
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    # Exactly 0 or 1 at the ends (floating point would leave 1e-17 either side).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(low, high)


def difference_interval(
    successes: int, trials: int, control_successes: int, control_trials: int, z: float = Z_95
) -> Interval:
    """Newcombe's hybrid score interval (method 10) for p - p_control, from the two Wilson
    intervals. It keeps the Wilson interval's good behaviour for small counts."""
    p1 = successes / trials if trials else 0.0
    p2 = control_successes / control_trials if control_trials else 0.0
    a = wilson_interval(successes, trials, z)
    b = wilson_interval(control_successes, control_trials, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2)
    high = d + math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2)
    return Interval(max(-1.0, low), min(1.0, high))
