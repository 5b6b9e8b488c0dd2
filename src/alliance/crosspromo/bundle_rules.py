"""A bundle line's money and its parties' parts (pure, integer minor units).

An order may hold other products beside a bundle, so two steps lead from the order to the
parties, and only the second is the agreed split (docs/bundles.md):

1. **The bundle's line of the order.** Its revenue is the sum of the order lines with the
   bundle's SKU (line amounts are net, all units together). Its commission is its part of
   the order's commission, split among all the order's lines by the largest remainder with
   the weights the commission was priced with: each line's `percent x base` when the lines
   were priced at different rates (the rule snapshot lists them), else the line amounts
   (one rate for every line, or a fixed amount per order).
   After refunds, the line has given back its proportional share of what the order gave
   back: `line x refunded / order` rounded half-even (the revenue by the refunded order
   amount, the commission by the commission taken back). Rounding a proportion is monotone
   and exact at both ends: nothing refunded gives 0, everything gives the whole line.
2. **The parties' parts** of the line: `split.split` by the agreed weights for the sale;
   `split.refund_parts` of the line's cumulative refunds by the sale's parts for refunds.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from alliance.crosspromo.split import refund_parts, split

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Parts:
    """Each party's revenue and commission, in the order of the parties given."""

    revenue: tuple[int, ...]
    commission: tuple[int, ...]


def _decimal(value: object) -> Decimal:
    try:
        found = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ZERO
    return found if found.is_finite() else ZERO


def line_weights(items: Sequence[Mapping[str, Any]], rule: Mapping[str, Any]) -> list[Decimal]:
    """How the order's commission spreads over its lines (`Conversion.items` and
    `Commission.rule`): `percent x base` per line when the rule priced lines at different
    rates, else the line amounts. Negative lines weigh 0, as they earn nothing."""
    priced = rule.get("lines")
    if isinstance(priced, list) and len(priced) == len(items):
        return [
            max(_decimal(line.get("percent")) * _decimal(line.get("base")), ZERO)
            if isinstance(line, Mapping)
            else ZERO
            for line in priced
        ]
    return [max(_decimal(item.get("amount")), ZERO) for item in items]


def line_commission(commission: int, weights: Sequence[Decimal], in_line: Sequence[bool]) -> int:
    """The order's commission (minor units) share of the lines flagged `in_line`. An order
    whose lines all weigh nothing leaves its commission on the order, not on a line: 0."""
    if commission == 0 or not any(weights):
        return 0
    parts = split(commission, weights)
    return sum(part for part, flagged in zip(parts, in_line, strict=True) if flagged)


def proportional(part: int, whole: int, taken: int) -> int:
    """`part`'s share of `taken` out of `whole` (all ≥ 0), rounded half-even and kept within
    0..part: how much of a line an order-level refund takes."""
    if whole <= 0 or taken <= 0 or part <= 0:
        return 0
    if taken >= whole:
        return part
    return min(part, max(0, round(Fraction(part * taken, whole))))


def sale_parts(
    revenue: int, commission: int, weights: Sequence[Decimal], keys: Sequence[Hashable]
) -> Parts:
    """The line's revenue and commission split by the agreed weights (ties: larger weight,
    then smaller key)."""
    return Parts(
        revenue=tuple(split(revenue, weights, keys)),
        commission=tuple(split(commission, weights, keys)),
    )


def refunded_parts(
    sold: Parts,
    line_revenue: int,
    line_commission: int,
    refunded_revenue: int,
    taken_commission: int,
    keys: Sequence[Hashable],
) -> Parts:
    """Each party's cumulative part of what the line has given back so far, split by its
    sale parts: exactly the sale parts once the whole line is refunded."""
    return Parts(
        revenue=tuple(refund_parts(sold.revenue, line_revenue, refunded_revenue, keys)),
        commission=tuple(refund_parts(sold.commission, line_commission, taken_commission, keys)),
    )
