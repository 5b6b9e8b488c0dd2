"""The fair-exchange arithmetic between two co-promoting partners, pure (docs/fair-exchange.md).

A delivery is one person (a network-wide visitor id) that partner X sent to partner Y through
a campaign slot link X placed for Y. The ledger stores one *signed* entry per delivery for
the pair in canonical order (low id, high id): +units when the low partner delivered to the
high one, -units the other way. Both sides' balances derive from the same sum, so
bal(A, B) = -bal(B, A) holds exactly, by construction rather than by bookkeeping.

bal(A, B) > 0 means A delivered more than it received: B owes A.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Delivery:
    """One click through a slot link: `promoter` placed it for `beneficiary`'s offer."""

    click_id: str
    visitor_id: str
    promoter: str
    beneficiary: str
    occurred_at: datetime
    valid: bool


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far a pair may be out of balance before the party owed is alerted. Each limit is
    optional; when both are given the balance must exceed both (the percent alone would alert
    on the first click of a young campaign, the count alone ignores a campaign's size)."""

    percent: Decimal | None = None  # of everything the pair exchanged, both ways
    units: int | None = None

    @property
    def agreed(self) -> bool:
        return self.percent is not None or self.units is not None


def pair_of(a: str, b: str) -> tuple[str, str]:
    """The pair in canonical order: the key every entry of the two partners is stored under."""
    if a == b:
        raise ValueError("a partner does not exchange with itself")
    return (a, b) if a < b else (b, a)


def signed_units(promoter: str, beneficiary: str, units: int) -> int:
    """The stored sign of a delivery: + when the pair's low partner delivered."""
    low, _high = pair_of(promoter, beneficiary)
    return units if promoter == low else -units


def balance_of(partner: str, counterpart: str, signed_total: int) -> int:
    """bal(partner, counterpart) from the pair's stored sum: > 0 means counterpart owes."""
    low, _high = pair_of(partner, counterpart)
    return signed_total if partner == low else -signed_total


def confirmed(
    deliveries: Iterable[Delivery], now: datetime, screening: timedelta
) -> list[Delivery]:
    """Valid clicks older than the screening period: until then fraud screening may still
    flag them as bots or invalid, and a delivery once counted is never taken back."""
    cutoff = now - screening
    return [d for d in deliveries if d.valid and d.occurred_at <= cutoff]


def first_per_person(deliveries: Iterable[Delivery]) -> list[Delivery]:
    """One delivery per person and direction: the earliest click (ties by click id), so the
    same visitor clicking ten times, or through two slots, counts once for the pair."""
    first: dict[tuple[str, str, str], Delivery] = {}
    for d in deliveries:
        key = (d.promoter, d.beneficiary, d.visitor_id)
        kept = first.get(key)
        if kept is None or (d.occurred_at, d.click_id) < (kept.occurred_at, kept.click_id):
            first[key] = d
    return sorted(first.values(), key=lambda d: (d.occurred_at, d.click_id))


def exceeds(balance: int, exchanged: int, tolerance: Tolerance) -> bool:
    """Whether |balance| is beyond the agreed tolerance (never without an agreed one)."""
    if not tolerance.agreed:
        return False
    over = abs(balance)
    beyond_units = tolerance.units is None or over > tolerance.units
    beyond_percent = (
        tolerance.percent is None or Decimal(over) * 100 > tolerance.percent * exchanged
    )
    return beyond_units and beyond_percent


@dataclass(frozen=True, slots=True)
class CarryOver:
    """A capped carry-over: `carried` stays owed into the next period, `forgiven` is written
    off (posted as an entry that brings the balance back to `carried`)."""

    carried: int
    forgiven: int


def carry_over(balance: int, cap: int) -> CarryOver:
    """Keep at most `cap` units of the balance, on the same side; forgive the rest."""
    if cap < 0:
        raise ValueError("the cap is a number of units, at least 0")
    carried = max(-cap, min(cap, balance))
    return CarryOver(carried=carried, forgiven=balance - carried)
