"""Terms → commission amount, as pure functions over plain facts.

All amounts are ``Decimal`` in the program currency (the caller converts an order in another
currency first); percents are 0-100. Arithmetic is exact (Decimal, 28 significant digits)
and rounded **once**, at the end, half-even to the currency's minor unit.

How a conversion is priced (``quote_conversion``):

1. **Base.** ``commission_base``: order amount minus tax and shipping unless the terms include
   them; never below 0.
2. **Rate.** The top-level ``percent``/``amount``; replaced by the highest monthly tier
   reached counting this order (``month_orders_before + 1`` orders, or
   ``month_sales_before + base`` sales); replaced by the first matching override in list
   order (an override beats a tier).
3. **Lines (cps).** When the order has items, every line is priced at its own rate: the
   first override matching the line (its category) and the order (country, new/returning
   customer, partner group), else the tier/base rate. Line ``net_amount`` is the line total
   (all units, after discounts, without tax); negative lines count as 0. The line nets need
   not add up to the base (they rarely do: order discounts, rounding, tax-inclusive prices),
   so each line's share of the base is **prorated**:
   ``line base = base * line net / sum(line nets)`` and the commission is
   ``sum(rate * line base)``: the lines decide the mix of rates, the base decides the total.
   Without items (or with line nets summing to 0) the order is one line
   with no category, so category overrides do not apply.
4. **Fixed types.** ``cpo`` pays its rate per sale, ``cpl`` per lead; a category condition
   matches when any line has that category. A ``cps``/``cpo`` program pays ``lead_amount``
   for a lead (no tier, no override), or 0 when it has none; a ``cpl`` program pays 0 for
   a sale; a ``cpc`` program pays 0 for conversions (``quote_clicks`` prices its clicks).
   Zero quotes say why in ``arithmetic``.
5. **Cap.** ``cap_per_order`` caps the exact amount, which is then rounded.

``Quote.rule`` snapshots the rule as JSON-safe data: ``type``, ``version``, ``percent`` or
``amount`` (the rate applied; ``None`` when lines were priced at different rates, see
``lines``), ``base``, ``tier`` (``None`` or ``{"index", "min_orders"|"min_sales", "volume"}``),
``override`` (``None`` or ``{"index", "when"}``), ``lines`` (only when rates differ:
``[{"sku", "category", "net", "base", "percent", "override"}]``), ``cap`` (``None`` or the
cap), ``capped`` (bool) and ``unrounded`` (the exact amount before rounding).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any, Literal

from alliance.commissions.terms import Override, TermsDocument, Tier
from alliance.money import minor_units, round_money

ZERO = Decimal(0)
# The arithmetic sentence uses real math signs (it is read by people, not parsed).
TIMES = "\u00d7"
MINUS = "\u2212"
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class LineFacts:
    """One order line: ``net_amount`` is the line total (all units, after discounts, no tax)."""

    sku: str | None
    category: str | None
    net_amount: Decimal
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class SaleFacts:
    """A conversion as the calculator sees it; amounts in ``currency`` (the program's)."""

    kind: Literal["sale", "lead"]
    currency: str
    amount: Decimal  # order total as reported
    tax: Decimal = Decimal(0)
    shipping: Decimal = Decimal(0)
    items: tuple[LineFacts, ...] = ()
    buyer_country: str | None = None  # ISO 3166-1 alpha-2
    new_customer: bool | None = None  # None: unknown (matches neither "new" nor "returning")
    partner_group: str | None = None  # the partner's group in the program's enrollment
    # The partner's conversions in this program this calendar month before this one, and the
    # sum of their base_amount (program currency): the tier volume before this conversion.
    month_orders_before: int = 0
    month_sales_before: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Quote:
    """A priced conversion (or day of clicks): store ``amount``, ``rule`` and ``arithmetic``."""

    amount: Decimal  # rounded half-even to the currency minor unit (money.round_money)
    currency: str
    base_amount: Decimal  # the commission base used (net amount); also prorates refunds
    rule: dict[str, Any]  # which rule applied, JSON-safe (see the module docstring)
    arithmetic: str  # a sentence a partner can check


# --------------------------------------------------------------------------- formatting


def _money_text(value: Decimal, currency: str) -> str:
    """``1,250.00`` — grouped, at the currency's minor unit (display only)."""
    return f"{round_money(value, currency):,.{minor_units(currency)}f}"


def _pct_text(value: Decimal) -> str:
    """``8%``, ``12.5%``: no trailing zeros, no exponent."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------- base


def commission_base(terms: TermsDocument, facts: SaleFacts) -> Decimal:
    """The amount commission is a percent of, in the facts' currency (unrounded, ≥ 0).

    ``facts.amount`` minus ``facts.tax`` unless ``terms.includes_tax`` and minus
    ``facts.shipping`` unless ``terms.includes_shipping``; never below 0.
    """
    base = facts.amount
    if not terms.includes_tax:
        base -= facts.tax
    if not terms.includes_shipping:
        base -= facts.shipping
    return max(base, ZERO)


def _base_text(terms: TermsDocument, facts: SaleFacts, base: Decimal) -> str:
    cur = facts.currency
    parts = []
    if not terms.includes_tax and facts.tax:
        parts.append(f"{_money_text(facts.tax, cur)} tax")
    if not terms.includes_shipping and facts.shipping:
        parts.append(f"{_money_text(facts.shipping, cur)} shipping")
    text = f"{_money_text(base, cur)} {cur}"
    if parts:
        text += f" net ({_money_text(facts.amount, cur)} {MINUS} " + f" {MINUS} ".join(parts) + ")"
    return text


# --------------------------------------------------------------------------- rate choice


def _tier_for(terms: TermsDocument, facts: SaleFacts, base: Decimal) -> tuple[int, Tier] | None:
    """The highest tier reached counting this conversion, with its index."""
    measure = terms.tier_measure
    if measure is None:
        return None
    volume = (
        Decimal(facts.month_orders_before + 1)
        if measure == "min_orders"
        else facts.month_sales_before + base
    )
    reached = [(i, t) for i, t in enumerate(terms.tiers) if volume >= t.threshold()]
    return reached[-1] if reached else None


def _order_matches(override: Override, facts: SaleFacts) -> bool:
    when = override.when
    if when.buyer_country is not None and (
        facts.buyer_country is None or facts.buyer_country.strip().upper() != when.buyer_country
    ):
        return False
    if when.customer is not None:
        if facts.new_customer is None:
            return False
        if (when.customer == "new") != facts.new_customer:
            return False
    return not (
        when.partner_group is not None
        and (
            facts.partner_group is None
            or facts.partner_group.strip().casefold() != when.partner_group.casefold()
        )
    )


def _category_matches(override: Override, category: str | None) -> bool:
    wanted = override.when.category
    if wanted is None:
        return True
    return category is not None and category.strip().casefold() == wanted.casefold()


def _first_override(
    terms: TermsDocument, facts: SaleFacts, categories: tuple[str | None, ...]
) -> tuple[int, Override] | None:
    """First override (list order) matching the order and any of ``categories``."""
    for i, override in enumerate(terms.overrides):
        if _order_matches(override, facts) and any(
            _category_matches(override, c) for c in categories
        ):
            return i, override
    return None


def _rate_of(item: TermsDocument | Tier | Override, terms: TermsDocument) -> Decimal:
    value = item.percent if terms.type == "cps" else item.amount
    assert value is not None  # guaranteed by TermsDocument validation
    return value


def _tier_snapshot(
    terms: TermsDocument, tier: tuple[int, Tier] | None, facts: SaleFacts, base: Decimal
) -> dict[str, Any] | None:
    if tier is None:
        return None
    index, chosen = tier
    if chosen.min_orders is not None:
        return {
            "index": index,
            "min_orders": chosen.min_orders,
            "volume": facts.month_orders_before + 1,
        }
    return {
        "index": index,
        "min_sales": _dec(chosen.min_sales),
        "volume": str(facts.month_sales_before + base),
    }


def _override_snapshot(chosen: tuple[int, Override] | None) -> dict[str, Any] | None:
    if chosen is None:
        return None
    return {"index": chosen[0], "when": chosen[1].when.conditions()}


def _override_text(chosen: tuple[int, Override] | None) -> str:
    if chosen is None:
        return ""
    when = ", ".join(f"{k}={v}" for k, v in chosen[1].when.conditions().items())
    return f"override {chosen[0] + 1} ({when})"


def _tier_text(snapshot: dict[str, Any] | None, currency: str) -> str:
    if snapshot is None:
        return ""
    if "min_orders" in snapshot:
        return (
            f"tier {snapshot['index'] + 1} (≥ {snapshot['min_orders']} orders this month, "
            f"this is order {snapshot['volume']})"
        )
    return (
        f"tier {snapshot['index'] + 1} (≥ {_money_text(Decimal(snapshot['min_sales']), currency)}"
        f" {currency} sales this month)"
    )


# --------------------------------------------------------------------------- quotes


def _finish(
    exact: Decimal,
    terms: TermsDocument,
    currency: str,
    rule: dict[str, Any],
    sentence: str,
    notes: list[str],
) -> tuple[Decimal, dict[str, Any], str]:
    """Clamp at 0, apply the cap, round once; complete the rule snapshot and sentence."""
    exact = max(exact, ZERO)
    cap = terms.cap_per_order
    capped = cap is not None and exact > cap
    final_exact = cap if capped and cap is not None else exact
    amount = round_money(final_exact, currency)
    rule.update({"cap": _dec(cap), "capped": capped, "unrounded": str(exact)})
    text = f"{sentence} = "
    if capped:
        text += (
            f"{_money_text(exact, currency)} {currency}, capped at "
            f"{_money_text(amount, currency)} {currency}"
        )
    else:
        text += f"{_money_text(amount, currency)} {currency}"
    notes = [n for n in notes if n]
    if notes:
        text += "; " + "; ".join(notes)
    return amount, rule, text


def _zero_quote(
    terms: TermsDocument, version: int, currency: str, base: Decimal, why: str
) -> Quote:
    rule: dict[str, Any] = {
        "type": terms.type,
        "version": version,
        "base": str(base),
        "tier": None,
        "override": None,
        "cap": _dec(terms.cap_per_order),
        "capped": False,
        "unrounded": "0",
        "percent" if terms.type == "cps" else "amount": None,
        "reason": why,
    }
    zero = round_money(ZERO, currency)
    return Quote(zero, currency, base, rule, f"{why} = {_money_text(zero, currency)} {currency}")


def _quote_lead_amount(
    terms: TermsDocument, version: int, facts: SaleFacts, base: Decimal
) -> Quote:
    lead_amount = terms.lead_amount
    if lead_amount is None:
        return _zero_quote(
            terms,
            version,
            facts.currency,
            base,
            f"{terms.type} terms v{version} pay no commission for leads (no lead_amount)",
        )
    rule: dict[str, Any] = {
        "type": terms.type,
        "version": version,
        "lead_amount": str(lead_amount),
        "amount": str(lead_amount),
        "base": str(base),
        "tier": None,
        "override": None,
    }
    amount, rule, text = _finish(
        lead_amount,
        terms,
        facts.currency,
        rule,
        f"lead at {_money_text(lead_amount, facts.currency)} {facts.currency} (lead_amount)",
        [],
    )
    return Quote(amount, facts.currency, base, rule, text)


def _quote_fixed(terms: TermsDocument, version: int, facts: SaleFacts, base: Decimal) -> Quote:
    tier = _tier_for(terms, facts, base)
    categories = tuple(line.category for line in facts.items) or (None,)
    override = _first_override(terms, facts, categories)
    chosen: TermsDocument | Tier | Override = (
        override[1] if override else tier[1] if tier else terms
    )
    rate = _rate_of(chosen, terms)
    tier_snap = _tier_snapshot(terms, tier, facts, base)
    rule: dict[str, Any] = {
        "type": terms.type,
        "version": version,
        "amount": str(rate),
        "base": str(base),
        "tier": tier_snap,
        "override": _override_snapshot(override),
    }
    noun = "order" if terms.type == "cpo" else "lead"
    notes = [_override_text(override), "" if override else _tier_text(tier_snap, facts.currency)]
    amount, rule, text = _finish(
        rate,
        terms,
        facts.currency,
        rule,
        f"1 {noun} {TIMES} {_money_text(rate, facts.currency)} {facts.currency}",
        notes,
    )
    return Quote(amount, facts.currency, base, rule, text)


def _quote_cps(terms: TermsDocument, version: int, facts: SaleFacts, base: Decimal) -> Quote:
    cur = facts.currency
    tier = _tier_for(terms, facts, base)
    default_rate = _rate_of(tier[1] if tier else terms, terms)
    tier_snap = _tier_snapshot(terms, tier, facts, base)

    lines = [(line, max(line.net_amount, ZERO)) for line in facts.items]
    line_total = sum((net for _, net in lines), ZERO)
    if line_total <= 0:
        lines, line_total = [(LineFacts(None, None, base), base)], base

    # (rate, override) per line; one division of sum(rate * net) * base by 100 * sum(nets).
    priced: list[tuple[LineFacts, Decimal, Decimal, tuple[int, Override] | None]] = []
    for line, net in lines:
        override = _first_override(terms, facts, (line.category,))
        rate = _rate_of(override[1], terms) if override else default_rate
        priced.append((line, net, rate, override))
    distinct = {(rate, ov[0] if ov else None) for _, _, rate, ov in priced}
    if len(distinct) == 1:
        exact = priced[0][2] * base / HUNDRED
    else:
        with localcontext() as ctx:  # room for sum(rate * net) * base unrounded
            ctx.prec = 80
            weighted = sum((rate * net for _, net, rate, _ in priced), ZERO)
            exact = weighted * base / (HUNDRED * line_total)
    rule: dict[str, Any] = {"type": "cps", "version": version, "base": str(base), "tier": tier_snap}
    if len(distinct) == 1:
        _, _, rate, override = priced[0]
        rule.update({"percent": str(rate), "override": _override_snapshot(override)})
        sentence = f"{_pct_text(rate)} {TIMES} {_base_text(terms, facts, base)}"
        notes = [_override_text(override), "" if override else _tier_text(tier_snap, cur)]
    else:
        # Group lines by rate for the sentence; keep every line in the snapshot.
        by_rate: dict[Decimal, Decimal] = {}
        for _, net, rate, _ in priced:
            by_rate[rate] = by_rate.get(rate, ZERO) + net * base / line_total
        rule.update(
            {
                "percent": None,
                "override": None,
                "lines": [
                    {
                        "sku": line.sku,
                        "category": line.category,
                        "net": str(line.net_amount),
                        "base": str(net * base / line_total),
                        "percent": str(rate),
                        "override": None if ov is None else ov[0],
                    }
                    for line, net, rate, ov in priced
                ],
            }
        )
        terms_text = " + ".join(
            f"{_pct_text(rate)} {TIMES} {_money_text(part, cur)}" for rate, part in by_rate.items()
        )
        sentence = f"{terms_text} of {_base_text(terms, facts, base)}"
        used = sorted({ov[0] for _, _, _, ov in priced if ov is not None})
        notes = ["lines priced by category override " + ", ".join(str(i + 1) for i in used)]
        if line_total != base:
            notes.append(f"line nets ({_money_text(line_total, cur)}) prorated to the base")
        notes.append(_tier_text(tier_snap, cur))
    amount, rule, text = _finish(exact, terms, cur, rule, sentence, notes)
    return Quote(amount, cur, base, rule, text)


def quote_conversion(terms: TermsDocument, version: int, facts: SaleFacts) -> Quote:
    """Price one sale or lead under ``terms`` (version ``version``), in ``facts.currency``.

    ``facts`` must already be in the program currency. The result is deterministic: the same
    terms and facts always give the same quote (see the module docstring for the rules).
    """
    base = commission_base(terms, facts)
    if terms.type == "cpc":
        return _zero_quote(
            terms,
            version,
            facts.currency,
            base,
            f"cpc terms v{version} pay per click, not per {facts.kind}",
        )
    if facts.kind == "lead":
        if terms.type == "cpl":
            return _quote_fixed(terms, version, facts, base)
        return _quote_lead_amount(terms, version, facts, base)
    if terms.type == "cpl":
        return _zero_quote(
            terms, version, facts.currency, base, f"cpl terms v{version} pay per lead, not per sale"
        )
    if terms.type == "cpo":
        return _quote_fixed(terms, version, facts, base)
    return _quote_cps(terms, version, facts, base)


def quote_clicks(terms: TermsDocument, version: int, unique_clicks: int, currency: str) -> Quote:
    """Price one partner's valid unique clicks in one program on one day (cpc terms only).

    ``unique_clicks`` counts valid (non-bot), unique-per-visitor clicks; ``cap_per_order``
    caps the day's amount. ``base_amount`` is 0. Raises ``ValueError`` for non-cpc terms or
    a negative count.
    """
    if terms.type != "cpc":
        raise ValueError(f"quote_clicks needs cpc terms, got {terms.type}")
    if unique_clicks < 0:
        raise ValueError("unique_clicks must not be negative")
    rate = _rate_of(terms, terms)
    rule: dict[str, Any] = {
        "type": "cpc",
        "version": version,
        "amount": str(rate),
        "clicks": unique_clicks,
        "base": "0",
        "tier": None,
        "override": None,
    }
    amount, rule, text = _finish(
        rate * unique_clicks,
        terms,
        currency,
        rule,
        f"{unique_clicks:,} valid unique clicks {TIMES} {_money_text(rate, currency)} {currency}",
        [],
    )
    return Quote(amount, currency, ZERO, rule, text)


def remaining_after_refund(
    original_commission: Decimal, order_amount: Decimal, refunded_amount: Decimal, currency: str
) -> Decimal:
    """What a commission is still worth after refunds, in ``currency`` (rounded half-even).

    ``order_amount`` and ``refunded_amount`` are both **gross** (as the advertiser reports
    them) and ``refunded_amount`` is the **cumulative** total refunded so far, not this
    refund alone: the result is the commission's target value, and the ledger books the
    difference from its current value, so replays and out-of-order refunds cannot reduce it
    twice. The commission keeps ``1 - refunded / order_amount`` of its value, the share
    clamped to [0, 1]. This equals the refunded *net* share (DESIGN §2) whenever tax and
    shipping are refunded in proportion, which is how stores refund by default; a caller
    that knows the net refund can pass the net base and net refund instead.

    A full (or larger) refund gives exactly 0; an ``order_amount`` ≤ 0 with any refund
    gives 0; no refund gives ``original_commission`` rounded. The result is monotone
    non-increasing in ``refunded_amount``. Raises ``ValueError`` for a negative commission.
    """
    if original_commission < 0:
        raise ValueError("original_commission must not be negative")
    if refunded_amount <= 0:
        return round_money(original_commission, currency)
    if order_amount <= 0 or refunded_amount >= order_amount:
        return round_money(ZERO, currency)
    kept = (order_amount - refunded_amount) / order_amount
    return round_money(original_commission * kept, currency)
