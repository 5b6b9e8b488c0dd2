"""The catalogue of outbound event types: what each means and who receives it.

An endpoint subscribes to a subset (an empty filter = all of them); a partner postback to the
conversion events only, because its macros are facts of a conversion.
"""

from __future__ import annotations

EVENT_TYPES: dict[str, str] = {
    "conversion.created": "a new order or lead was attributed to a partner (status pending)",
    "conversion.completed": "the advertiser confirmed the order; the lock period starts",
    "conversion.declined": "the advertiser declined the order; it earns nothing",
    "conversion.refunded": "a full or partial refund (see refunded_amount and status)",
    "commission.approved": "the lock period ended without a full refund: payable",
    "commission.declined": "the commission fell with its declined order",
    "commission.adjusted": "a partial refund reduced the commission (see value)",
    "commission.reversed": "a full refund took the whole commission back",
    "commission.paid": "a payout included the commission",
    "payout.paid": "a payout was sent to the partner",
}

# Conversion events: the ones a partner postback can be called on.
CONVERSION_EVENTS: tuple[str, ...] = tuple(t for t in EVENT_TYPES if t.startswith("conversion."))

# Partner-only events: an advertiser never receives them (a payout is the partner's affair and
# spans several advertisers' programs).
PARTNER_ONLY_EVENTS: frozenset[str] = frozenset({"payout.paid"})


def unknown_types(types: list[str], allowed: tuple[str, ...] | None = None) -> list[str]:
    """The names in `types` that are not event types (of `allowed`, when given)."""
    known = allowed if allowed is not None else tuple(EVENT_TYPES)
    return [t for t in types if t not in known]
