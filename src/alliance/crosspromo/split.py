"""Exact splits of money among parties: the largest-remainder (Hamilton) method (pure).

Every split of an amount among several parties in cross-promotion (bundles, co-promotion
settlements) goes through here, so the parts always add up to the whole (DESIGN.md §2).
Amounts are split as integers of the currency's minor unit (JPY 0 digits, EUR 2, KWD 3);
`to_minor` / `from_minor` convert at the edges.

How `split(total, weights, keys)` decides, for a total T ≥ 0 and weights w_i ≥ 0 (W = Σ w_i):

1. Each party's exact share is q_i = T·w_i / W, computed exactly (weights become integers
   over a common denominator; no float, no rounded Decimal ever enters).
2. Each party first gets ⌊q_i⌋. The units left over, L = T - Σ⌊q_i⌋ (fewer than the number
   of parties), go one each to the parties with the largest fractional remainders.
3. **Ties** between equal remainders go to the **larger weight** first, then to the
   **smaller key** (`keys`, e.g. party ids; by default the position in the list). The keys
   make the split independent of the order the parties are listed in: permuting parties
   together with their keys permutes the parts and changes nothing else.
4. A negative total (a refund, a clawback) is split as its absolute value and negated, so
   splitting -T gives exactly the negated parts of T.

What follows, and what tests/crosspromo/test_split.py checks over totals up to 10¹² and 1 to 50
parties: Σ parts = T exactly; every part is within one minor unit of its exact share
(|part - q_i| < 1); a zero weight gets 0; a larger weight never gets less; the same input
always gives the same parts.

Refunds split the **cumulative** refunded amount by the **original parts** (`refund_parts`),
not each refund on its own: the cumulative parts depend only on how much has been refunded
in total, a full refund gives back exactly the original parts, and no party ever gives back
more than it got (its exact share r·p_i/T is at most p_i, and p_i is whole). One refund
event's parts are the cumulative parts after it minus those before it (`refund_step`).
Hamilton's method is not monotone in the total (the Alabama paradox): between two
cumulative amounts one party's cumulative part can fall by one unit while the amount rises,
so a step can give a party back a single unit (-1) while the others give back one more. Each
step stays within two units of the party's exact share of the step, and the cumulative
parts stay exact; docs/bundles.md explains why that beats splitting each refund alone.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from decimal import Decimal
from fractions import Fraction
from math import lcm
from typing import Any

from alliance.money import minor_units

Weight = int | Decimal | Fraction


class SplitError(ValueError):
    """Weights, keys or amounts that cannot be split (negative weights, a refund larger
    than what was split...). `field` names the input at fault."""

    def __init__(self, message: str, field: str = "weights") -> None:
        super().__init__(message)
        self.field = field


def _exact(weight: object, index: int) -> Fraction:
    if isinstance(weight, bool) or not isinstance(weight, int | Decimal | Fraction):
        raise SplitError(f"weight {index} must be an integer or a Decimal, not {weight!r}")
    if isinstance(weight, Decimal) and not weight.is_finite():
        raise SplitError(f"weight {index} must be a finite number")
    value = Fraction(weight)
    if value < 0:
        raise SplitError(f"weight {index} must not be negative")
    return value


def integer_weights(weights: Sequence[Weight]) -> list[int]:
    """The weights as integers in the same proportions (x the common denominator), so the
    shares and remainders below are integer arithmetic."""
    exact = [_exact(w, i) for i, w in enumerate(weights)]
    scale = lcm(1, *(w.denominator for w in exact))
    return [int(w * scale) for w in exact]


def _keys(count: int, keys: Sequence[Any] | None) -> Sequence[Any]:
    if keys is None:
        return range(count)
    if len(keys) != count:
        raise SplitError(f"{len(keys)} keys for {count} weights", field="keys")
    if len(set(keys)) != count:
        raise SplitError("keys must be distinct: they break ties", field="keys")
    return keys


def split(
    total: int, weights: Sequence[Weight], keys: Sequence[Hashable] | None = None
) -> list[int]:
    """`total` (integer minor units, any sign) split by `weights`; Σ result = total.

    `keys` (distinct, mutually comparable, e.g. party ids) break ties after the weight;
    without them the position in the list does. Raises SplitError for no parties, a negative
    or non-finite weight, or a non-zero total with all weights zero.
    """
    if isinstance(total, bool) or not isinstance(total, int):
        raise SplitError("the total must be an integer number of minor units", field="total")
    if not weights:
        raise SplitError("at least one party is needed")
    scaled = integer_weights(weights)
    order_keys = _keys(len(scaled), keys)
    if total < 0:
        return [-part for part in split(-total, weights, keys)]
    weight_sum = sum(scaled)
    if total == 0:
        return [0] * len(scaled)
    if weight_sum == 0:
        raise SplitError("all weights are zero: there is nothing to split by")
    parts: list[int] = []
    remainders: list[int] = []
    for weight in scaled:
        whole, remainder = divmod(total * weight, weight_sum)
        parts.append(whole)
        remainders.append(remainder)  # the fractional share is remainder / weight_sum
    left = total - sum(parts)
    # Largest remainder first; ties: larger weight, then smaller key.
    ranking = sorted(range(len(scaled)), key=lambda i: (-remainders[i], -scaled[i], order_keys[i]))
    for i in ranking[:left]:
        parts[i] += 1
    return parts


def refund_parts(
    original_parts: Sequence[int],
    original_total: int,
    refunded_so_far: int,
    keys: Sequence[Hashable] | None = None,
) -> list[int]:
    """Each party's part of `refunded_so_far` (cumulative, same sign as the original),
    split by the original parts: never more than a party's original part, exactly the
    original parts once everything is refunded."""
    if sum(original_parts) != original_total:
        raise SplitError("the original parts do not add up to the original total", field="parts")
    sign = -1 if original_total < 0 else 1
    if any(part * sign < 0 for part in original_parts):
        raise SplitError("original parts must all have the total's sign", field="parts")
    if not 0 <= refunded_so_far * sign <= original_total * sign:
        raise SplitError(
            f"the refunded amount {refunded_so_far} is outside 0..{original_total}",
            field="refunded",
        )
    if original_total == 0:
        return [0] * len(original_parts)
    magnitudes = [part * sign for part in original_parts]
    return [part * sign for part in split(refunded_so_far * sign, magnitudes, keys)]


def refund_step(
    original_parts: Sequence[int],
    original_total: int,
    refunded_before: int,
    refunded_now: int,
    keys: Sequence[Hashable] | None = None,
) -> list[int]:
    """One refund event's parts: the cumulative parts now minus the cumulative parts before.
    Σ = refunded_now - refunded_before exactly; the steps of any sequence of refunds add up
    to the cumulative parts of the last one."""
    now = refund_parts(original_parts, original_total, refunded_now, keys)
    before = refund_parts(original_parts, original_total, refunded_before, keys)
    return [a - b for a, b in zip(now, before, strict=True)]


# --- minor units ---------------------------------------------------------------------------


def to_minor(amount: Decimal, currency: str) -> int:
    """`amount` as an integer of `currency`'s minor unit (12.34 EUR → 1234, 1200 JPY → 1200,
    1.234 KWD → 1234). Refuses an amount with more decimals than the currency has: it cannot
    be split exactly and is a bug upstream."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise SplitError("the amount must be a finite Decimal", field="amount")
    scaled = amount.scaleb(minor_units(currency))
    if scaled != scaled.to_integral_value():
        raise SplitError(
            f"{amount} has more decimals than {currency} allows ({minor_units(currency)})",
            field="amount",
        )
    return int(scaled)


def from_minor(units: int, currency: str) -> Decimal:
    """The Decimal amount of `units` minor units, at the currency's exponent (1234 → 12.34)."""
    return Decimal(units).scaleb(-minor_units(currency))


def split_amount(
    amount: Decimal,
    currency: str,
    weights: Sequence[Weight],
    keys: Sequence[Hashable] | None = None,
) -> list[Decimal]:
    """`split` for a Decimal amount of `currency`: the parts as Decimals that add up to it."""
    return [from_minor(p, currency) for p in split(to_minor(amount, currency), weights, keys)]
