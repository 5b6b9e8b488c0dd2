# ruff: noqa: RUF001  (the arithmetic sentences use real multiplication and minus signs)
"""Commission arithmetic: worked examples by table, then properties."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.commissions.calculator import (
    LineFacts,
    SaleFacts,
    commission_base,
    quote_clicks,
    quote_conversion,
    remaining_after_refund,
)
from alliance.commissions.terms import TermsDocument, parse_terms
from alliance.money import quantum, round_money
from tests.commissions.test_terms import documents

D = Decimal


def sale(currency: str, amount: str, **kw: Any) -> SaleFacts:
    for key in ("tax", "shipping", "month_sales_before"):
        if key in kw:
            kw[key] = D(kw[key])
    return SaleFacts("sale", currency, D(amount), **kw)


def lead(currency: str, amount: str = "0", **kw: Any) -> SaleFacts:
    return SaleFacts("lead", currency, D(amount), **kw)


def line(category: str | None, net: str, sku: str | None = None) -> LineFacts:
    return LineFacts(sku, category, D(net))


TIERED = {
    "type": "cps",
    "percent": "8",
    "tiers": [{"min_orders": 10, "percent": "10"}, {"min_orders": 50, "percent": "12"}],
}
TIERED_SALES = {"type": "cps", "percent": "5", "tiers": [{"min_sales": "10000", "percent": "7"}]}
OVERRIDES = {
    "type": "cps",
    "percent": "8",
    "tiers": [{"min_orders": 10, "percent": "10"}],
    "overrides": [
        {"when": {"buyer_country": "SE"}, "percent": "5"},
        {"when": {"customer": "new"}, "percent": "12"},
        {"when": {"partner_group": "VIP"}, "percent": "15"},
        {"when": {"customer": "new", "buyer_country": "DE"}, "percent": "20"},  # shadowed by #2
    ],
}
CATEGORIES = {
    "type": "cps",
    "percent": "8",
    "overrides": [
        {"when": {"category": "electronics"}, "percent": "3"},
        {"when": {"category": "books", "customer": "new"}, "percent": "0"},
    ],
}
CPO = {
    "type": "cpo",
    "amount": "25.00",
    "lead_amount": "2.00",
    "overrides": [
        {"when": {"buyer_country": "US"}, "amount": "30.00"},
        {"when": {"category": "gift cards"}, "amount": "0"},
    ],
}

# (name, terms, currency, facts, amount, base)
EXAMPLES: list[tuple[str, dict[str, Any], str, SaleFacts, str, str]] = [
    (
        "SEK 8% of net",
        {"type": "cps", "percent": "8"},
        "SEK",
        sale("SEK", "1562.50", tax="312.50"),
        "100.00",
        "1250.00",
    ),
    (
        "EUR net of tax and shipping",
        {"type": "cps", "percent": "7.5"},
        "EUR",
        sale("EUR", "123.90", tax="19.00", shipping="4.90"),
        "7.50",
        "100.00",
    ),
    (
        "EUR shipping included",
        {"type": "cps", "percent": "7.5", "includes_shipping": True},
        "EUR",
        sale("EUR", "123.90", tax="19.00", shipping="4.90"),
        "7.87",
        "104.90",
    ),
    (
        "EUR tax included",
        {"type": "cps", "percent": "10", "includes_tax": True},
        "EUR",
        sale("EUR", "119.00", tax="19.00"),
        "11.90",
        "119.00",
    ),
    (
        "USD half-even down (0.025)",
        {"type": "cps", "percent": "10"},
        "USD",
        sale("USD", "0.25"),
        "0.02",
        "0.25",
    ),
    (
        "USD half-even up (0.035)",
        {"type": "cps", "percent": "10"},
        "USD",
        sale("USD", "0.35"),
        "0.04",
        "0.35",
    ),
    (
        "USD four-decimal percent",
        {"type": "cps", "percent": "3.3333"},
        "USD",
        sale("USD", "999.99"),
        "33.33",
        "999.99",
    ),
    (
        "JPY 3% rounds to yen",
        {"type": "cps", "percent": "3"},
        "JPY",
        sale("JPY", "12345"),
        "370",
        "12345",
    ),
    (
        "JPY tie to even up (25.5)",
        {"type": "cps", "percent": "2.5"},
        "JPY",
        sale("JPY", "1020"),
        "26",
        "1020",
    ),
    (
        "JPY tie to even down (26.5)",
        {"type": "cps", "percent": "2.5"},
        "JPY",
        sale("JPY", "1060"),
        "26",
        "1060",
    ),
    (
        "KWD three decimals",
        {"type": "cps", "percent": "4"},
        "KWD",
        sale("KWD", "12.345"),
        "0.494",
        "12.345",
    ),
    (
        "KWD tie to even (0.0125)",
        {"type": "cps", "percent": "10"},
        "KWD",
        sale("KWD", "0.125"),
        "0.012",
        "0.125",
    ),
    (
        "base never below zero",
        {"type": "cps", "percent": "8"},
        "EUR",
        sale("EUR", "10.00", tax="20.00"),
        "0.00",
        "0",
    ),
    # tiers count this order
    (
        "tier not reached: 9th order",
        TIERED,
        "SEK",
        sale("SEK", "1000", month_orders_before=8),
        "80.00",
        "1000",
    ),
    (
        "tier reached by this order: 10th",
        TIERED,
        "SEK",
        sale("SEK", "1000", month_orders_before=9),
        "100.00",
        "1000",
    ),
    (
        "highest tier reached",
        TIERED,
        "SEK",
        sale("SEK", "1000", month_orders_before=120),
        "120.00",
        "1000",
    ),
    (
        "sales tier reached by this order's base",
        TIERED_SALES,
        "SEK",
        sale("SEK", "625.00", tax="125.00", month_sales_before="9500"),
        "35.00",
        "500.00",
    ),
    (
        "sales tier missed by one cent of base (gross would reach it)",
        TIERED_SALES,
        "SEK",
        sale("SEK", "624.99", tax="125.00", month_sales_before="9500"),
        "25.00",
        "499.99",
    ),
    # overrides: first match in list order, beating tiers
    (
        "override country beats tier",
        OVERRIDES,
        "EUR",
        sale("EUR", "200", buyer_country="se", month_orders_before=20),
        "10.00",
        "200",
    ),
    (
        "override new customer",
        OVERRIDES,
        "EUR",
        sale("EUR", "200", new_customer=True),
        "24.00",
        "200",
    ),
    (
        "first match wins (country before customer)",
        OVERRIDES,
        "EUR",
        sale("EUR", "200", new_customer=True, buyer_country="SE"),
        "10.00",
        "200",
    ),
    (
        "shadowed override never applies",
        OVERRIDES,
        "EUR",
        sale("EUR", "200", new_customer=True, buyer_country="DE"),
        "24.00",
        "200",
    ),
    (
        "returning customer: no override, tier",
        OVERRIDES,
        "EUR",
        sale("EUR", "200", new_customer=False, month_orders_before=9),
        "20.00",
        "200",
    ),
    (
        "unknown customer matches neither",
        OVERRIDES,
        "EUR",
        sale("EUR", "200", new_customer=None),
        "16.00",
        "200",
    ),
    (
        "partner group, case-insensitive",
        OVERRIDES,
        "EUR",
        sale("EUR", "200", partner_group="vip"),
        "30.00",
        "200",
    ),
    # per-line category overrides
    (
        "category per line",
        CATEGORIES,
        "EUR",
        sale("EUR", "1000", items=(line("Electronics", "600"), line("shoes", "400"))),
        "50.00",
        "1000",
    ),
    (
        "lines prorated to a discounted base",
        CATEGORIES,
        "EUR",
        sale("EUR", "1090", tax="190", items=(line("electronics", "600"), line(None, "400"))),
        "45.00",
        "900",
    ),
    (
        "category + order condition per line",
        CATEGORIES,
        "EUR",
        sale("EUR", "300", new_customer=True, items=(line("books", "100"), line("toys", "200"))),
        "16.00",
        "300",
    ),
    (
        "no lines: category overrides do not apply",
        CATEGORIES,
        "EUR",
        sale("EUR", "300"),
        "24.00",
        "300",
    ),
    (
        "lines summing to zero: whole base at the order rate",
        CATEGORIES,
        "EUR",
        sale("EUR", "300", items=(line("electronics", "0"),)),
        "24.00",
        "300",
    ),
    (
        "negative line counts as zero",
        CATEGORIES,
        "EUR",
        sale("EUR", "100", items=(line("electronics", "100"), line("shoes", "-20"))),
        "3.00",
        "100",
    ),
    (
        "mixed lines in JPY round once",
        CATEGORIES,
        "JPY",
        sale("JPY", "3333", items=(line("electronics", "1111"), line("toys", "2222"))),
        "211",
        "3333",
    ),
    # caps
    (
        "cap",
        {"type": "cps", "percent": "8", "cap_per_order": "250.00"},
        "USD",
        sale("USD", "5000"),
        "250.00",
        "5000",
    ),
    (
        "cap not reached",
        {"type": "cps", "percent": "8", "cap_per_order": "250.00"},
        "USD",
        sale("USD", "3000"),
        "240.00",
        "3000",
    ),
    (
        "JPY cap",
        {"type": "cps", "percent": "10", "cap_per_order": "5000"},
        "JPY",
        sale("JPY", "80000"),
        "5000",
        "80000",
    ),
    # fixed types
    ("cpo fixed per order", CPO, "EUR", sale("EUR", "9.99"), "25.00", "9.99"),
    ("cpo country override", CPO, "EUR", sale("EUR", "50", buyer_country="US"), "30.00", "50"),
    (
        "cpo category matches any line",
        CPO,
        "EUR",
        sale("EUR", "50", items=(line("toys", "30"), line("Gift Cards", "20"))),
        "0.00",
        "50",
    ),
    ("cpo lead pays lead_amount", CPO, "EUR", lead("EUR"), "2.00", "0"),
    ("cpl per lead", {"type": "cpl", "amount": "2.50"}, "USD", lead("USD"), "2.50", "0"),
    ("cpl KWD", {"type": "cpl", "amount": "1.250"}, "KWD", lead("KWD"), "1.250", "0"),
    (
        "cpl with tiers counts leads",
        {"type": "cpl", "amount": "2.50", "tiers": [{"min_orders": 100, "amount": "3.00"}]},
        "USD",
        lead("USD", month_orders_before=99),
        "3.00",
        "0",
    ),
    (
        "cpl pays nothing for a sale",
        {"type": "cpl", "amount": "2.50"},
        "USD",
        sale("USD", "100"),
        "0.00",
        "100",
    ),
    (
        "cps lead with lead_amount",
        {"type": "cps", "percent": "8", "lead_amount": "15"},
        "SEK",
        lead("SEK"),
        "15.00",
        "0",
    ),
    (
        "cps lead without lead_amount",
        {"type": "cps", "percent": "8"},
        "SEK",
        lead("SEK"),
        "0.00",
        "0",
    ),
    (
        "cpc pays nothing per order",
        {"type": "cpc", "amount": "0.10"},
        "EUR",
        sale("EUR", "100"),
        "0.00",
        "100",
    ),
    (
        "lead_amount is capped",
        {"type": "cps", "percent": "8", "lead_amount": "15", "cap_per_order": "10"},
        "SEK",
        lead("SEK"),
        "10.00",
        "0",
    ),
]


@pytest.mark.parametrize(
    ("raw", "currency", "facts", "amount", "base"),
    [row[1:] for row in EXAMPLES],
    ids=[row[0] for row in EXAMPLES],
)
def test_worked_examples(
    raw: dict[str, Any], currency: str, facts: SaleFacts, amount: str, base: str
) -> None:
    terms = parse_terms(raw, currency)
    quote = quote_conversion(terms, 3, facts)
    assert quote.amount == D(amount)
    assert str(quote.amount) == amount  # quantised to the minor unit
    assert quote.currency == currency
    assert quote.base_amount == D(base)
    assert quote.rule["version"] == 3
    assert quote.rule["type"] == raw["type"]
    json.dumps(quote.rule)  # JSON-safe
    assert quote.arithmetic.endswith(f"{currency}") or "; " in quote.arithmetic


ARITHMETIC: list[tuple[dict[str, Any], str, SaleFacts, str]] = [
    (
        {"type": "cps", "percent": "8"},
        "SEK",
        sale("SEK", "1562.50", tax="312.50"),
        "8% × 1,250.00 SEK net (1,562.50 − 312.50 tax) = 100.00 SEK",
    ),
    (
        {"type": "cps", "percent": "7.5"},
        "EUR",
        sale("EUR", "123.90", tax="19.00", shipping="4.90"),
        "7.5% × 100.00 EUR net (123.90 − 19.00 tax − 4.90 shipping) = 7.50 EUR",
    ),
    ({"type": "cps", "percent": "3"}, "JPY", sale("JPY", "12345"), "3% × 12,345 JPY = 370 JPY"),
    (
        {"type": "cps", "percent": "8", "cap_per_order": "250"},
        "USD",
        sale("USD", "5000"),
        "8% × 5,000.00 USD = 400.00 USD, capped at 250.00 USD",
    ),
    (
        TIERED,
        "SEK",
        sale("SEK", "1000", month_orders_before=9),
        "10% × 1,000.00 SEK = 100.00 SEK; tier 1 (≥ 10 orders this month, this is order 10)",
    ),
    (
        OVERRIDES,
        "EUR",
        sale("EUR", "200", buyer_country="SE"),
        "5% × 200.00 EUR = 10.00 EUR; override 1 (buyer_country=SE)",
    ),
    (
        CATEGORIES,
        "EUR",
        sale("EUR", "1090", tax="190", items=(line("electronics", "600"), line(None, "400"))),
        "3% × 540.00 + 8% × 360.00 of 900.00 EUR net (1,090.00 − 190.00 tax) = 45.00 EUR; "
        "lines priced by category override 1; line nets (1,000.00) prorated to the base",
    ),
    (CPO, "EUR", sale("EUR", "10"), "1 order × 25.00 EUR = 25.00 EUR"),
    (
        {"type": "cps", "percent": "8"},
        "SEK",
        lead("SEK"),
        "cps terms v3 pay no commission for leads (no lead_amount) = 0.00 SEK",
    ),
]


@pytest.mark.parametrize(("raw", "currency", "facts", "sentence"), ARITHMETIC)
def test_arithmetic_sentences(
    raw: dict[str, Any], currency: str, facts: SaleFacts, sentence: str
) -> None:
    assert quote_conversion(parse_terms(raw, currency), 3, facts).arithmetic == sentence


def test_rule_snapshot_names_tier_override_and_cap() -> None:
    terms = parse_terms({**OVERRIDES, "cap_per_order": "1.00"}, "EUR")
    quote = quote_conversion(terms, 7, sale("EUR", "200", month_orders_before=9))
    assert quote.rule == {
        "type": "cps",
        "version": 7,
        "base": "200",
        "tier": {"index": 0, "min_orders": 10, "volume": 10},
        "percent": "10",
        "override": None,
        "cap": "1.00",
        "capped": True,
        "unrounded": "20",
    }
    q2 = quote_conversion(terms, 7, sale("EUR", "200", partner_group="vip"))
    assert q2.rule["override"] == {"index": 2, "when": {"partner_group": "VIP"}}  # as written


def test_mixed_lines_are_listed_in_the_rule() -> None:
    terms = parse_terms(CATEGORIES, "EUR")
    quote = quote_conversion(
        terms, 1, sale("EUR", "900", items=(line("electronics", "600", "sku-1"), line(None, "400")))
    )
    assert quote.rule["percent"] is None
    assert quote.rule["lines"] == [
        {
            "sku": "sku-1",
            "category": "electronics",
            "net": "600",
            "base": "540",
            "percent": "3",
            "override": 0,
        },
        {
            "sku": None,
            "category": None,
            "net": "400",
            "base": "360",
            "percent": "8",
            "override": None,
        },
    ]


CLICKS: list[tuple[dict[str, Any], str, int, str]] = [
    ({"type": "cpc", "amount": "0.05"}, "USD", 1234, "61.70"),
    ({"type": "cpc", "amount": "0.05"}, "USD", 0, "0.00"),
    ({"type": "cpc", "amount": "0.05", "cap_per_order": "50"}, "USD", 1234, "50.00"),
    ({"type": "cpc", "amount": "3"}, "JPY", 1000, "3000"),
    ({"type": "cpc", "amount": "0.015"}, "KWD", 7, "0.105"),
    ({"type": "cpc", "amount": "0.10"}, "SEK", 3, "0.30"),
]


@pytest.mark.parametrize(("raw", "currency", "clicks", "amount"), CLICKS)
def test_clicks(raw: dict[str, Any], currency: str, clicks: int, amount: str) -> None:
    quote = quote_clicks(parse_terms(raw, currency), 2, clicks, currency)
    assert str(quote.amount) == amount
    assert quote.base_amount == 0
    assert quote.rule["clicks"] == clicks


def test_clicks_sentence() -> None:
    quote = quote_clicks(parse_terms({"type": "cpc", "amount": "0.05"}, "USD"), 1, 1234, "USD")
    assert quote.arithmetic == "1,234 valid unique clicks × 0.05 USD = 61.70 USD"


def test_clicks_refuse_other_terms_and_negative_counts() -> None:
    with pytest.raises(ValueError, match="cpc"):
        quote_clicks(parse_terms({"type": "cps", "percent": "5"}, "USD"), 1, 3, "USD")
    with pytest.raises(ValueError, match="negative"):
        quote_clicks(parse_terms({"type": "cpc", "amount": "1"}, "USD"), 1, -1, "USD")


def test_commission_base() -> None:
    facts = sale("EUR", "123.90", tax="19.00", shipping="4.90")
    assert commission_base(parse_terms({"type": "cps", "percent": "1"}, "EUR"), facts) == D(
        "100.00"
    )
    both = parse_terms(
        {"type": "cps", "percent": "1", "includes_tax": True, "includes_shipping": True}, "EUR"
    )
    assert commission_base(both, facts) == D("123.90")


REFUNDS: list[tuple[str, str, str, str, str]] = [
    # original, order, refunded (cumulative), currency, remaining
    ("100.00", "1000.00", "0", "EUR", "100.00"),
    ("100.00", "1000.00", "250.00", "EUR", "75.00"),
    ("100.00", "1000.00", "1000.00", "EUR", "0.00"),
    ("100.00", "1000.00", "1500.00", "EUR", "0.00"),
    ("100.00", "1000.00", "-5", "EUR", "100.00"),
    ("33.33", "300.00", "100.00", "USD", "22.22"),
    ("0.05", "10.00", "5.00", "USD", "0.02"),  # 0.025 → half-even
    ("101", "3", "1", "JPY", "67"),
    ("1.000", "7.000", "3.500", "KWD", "0.500"),
    ("12.50", "0", "1", "SEK", "0.00"),
    ("12.50", "0", "0", "SEK", "12.50"),
]


@pytest.mark.parametrize(("original", "order", "refunded", "currency", "remaining"), REFUNDS)
def test_remaining_after_refund(
    original: str, order: str, refunded: str, currency: str, remaining: str
) -> None:
    got = remaining_after_refund(D(original), D(order), D(refunded), currency)
    assert str(got) == remaining


def test_remaining_after_refund_refuses_negative_commission() -> None:
    with pytest.raises(ValueError, match="negative"):
        remaining_after_refund(D("-1"), D("10"), D("1"), "EUR")


# --------------------------------------------------------------------------- properties

CURRENCY_DIGITS = {"EUR": 2, "JPY": 0, "KWD": 3, "SEK": 2, "USD": 2}


def minor(currency: str, low: int = 0, high: int = 10**8) -> st.SearchStrategy[Decimal]:
    digits = CURRENCY_DIGITS[currency]
    return st.integers(min_value=low, max_value=high).map(lambda n: D(n).scaleb(-digits))


@st.composite
def cases(draw: st.DrawFn) -> tuple[TermsDocument, SaleFacts]:
    raw, currency = draw(documents())
    terms = parse_terms(raw, currency)
    amount = draw(minor(currency))
    items = tuple(
        LineFacts(
            draw(st.none() | st.just("sku")),
            draw(st.sampled_from([None, "shoes", "SHOES", "books", "toys"])),
            draw(minor(currency, -1000, 10**6)),
        )
        for _ in range(draw(st.integers(0, 4)))
    )
    facts = SaleFacts(
        kind=draw(st.sampled_from(["sale", "sale", "lead"])),
        currency=currency,
        amount=amount,
        tax=draw(minor(currency, 0, 10**7)),
        shipping=draw(minor(currency, 0, 10**6)),
        items=items,
        buyer_country=draw(st.sampled_from([None, "SE", "de", "JP", "US"])),
        new_customer=draw(st.sampled_from([None, True, False])),
        partner_group=draw(st.sampled_from([None, "vip", "VIP", "coupon sites", "other"])),
        month_orders_before=draw(st.integers(0, 600)),
        month_sales_before=draw(minor(currency)),
    )
    return terms, facts


def percents_of(terms: TermsDocument) -> list[Decimal]:
    values = [
        terms.percent,
        *(t.percent for t in terms.tiers),
        *(o.percent for o in terms.overrides),
    ]
    return [v for v in values if v is not None]


PROPS = settings(max_examples=200, deadline=None)


@PROPS
@given(cases())
def test_quote_invariants(case: tuple[TermsDocument, SaleFacts]) -> None:
    terms, facts = case
    quote = quote_conversion(terms, 1, facts)
    cur = facts.currency
    assert quote.amount >= 0
    assert quote.amount == round_money(quote.amount, cur)  # on the minor unit
    assert quote.base_amount == commission_base(terms, facts) >= 0
    if terms.cap_per_order is not None:
        assert quote.amount <= terms.cap_per_order
    unrounded = D(quote.rule["unrounded"])
    cap = terms.cap_per_order
    target = unrounded if cap is None else min(unrounded, cap)
    assert quote.rule["capped"] == (cap is not None and unrounded > cap)
    assert abs(quote.amount - target) <= quantum(cur) / 2
    if terms.type == "cps" and facts.kind == "sale":
        ps = percents_of(terms)
        assert unrounded <= quote.base_amount * max(ps) / 100
        assert unrounded >= quote.base_amount * min(ps) / 100
        if quote.rule["percent"] is not None:  # one rate: check against the plain product
            assert unrounded == quote.base_amount * D(quote.rule["percent"]) / 100
    json.dumps(quote.rule)
    assert quote.arithmetic.count("=") >= 1


@PROPS
@given(cases())
def test_quote_is_deterministic(case: tuple[TermsDocument, SaleFacts]) -> None:
    terms, facts = case
    first = quote_conversion(terms, 4, facts)
    again = quote_conversion(parse_terms(terms.model_dump(mode="json"), facts.currency), 4, facts)
    assert first == again
    reordered = SaleFacts(**{**_fields(facts), "items": tuple(reversed(facts.items))})
    assert quote_conversion(terms, 4, reordered).amount == first.amount  # line order is moot


def _fields(facts: SaleFacts) -> dict[str, Any]:
    return {name: getattr(facts, name) for name in SaleFacts.__slots__}


@PROPS
@given(
    st.sampled_from(sorted(CURRENCY_DIGITS)),
    st.data(),
)
def test_refunds_are_monotone_and_end_at_zero(currency: str, data: st.DataObject) -> None:
    original = data.draw(minor(currency, 0, 10**7))
    order = data.draw(minor(currency, 1, 10**8))
    r1 = data.draw(minor(currency, 0, 10**8))
    r2 = data.draw(minor(currency, 0, 10**8))
    low, high = sorted((r1, r2))
    at_low = remaining_after_refund(original, order, low, currency)
    at_high = remaining_after_refund(original, order, high, currency)
    assert round_money(original, currency) >= at_low >= at_high >= 0
    assert remaining_after_refund(original, order, order, currency) == 0
    assert remaining_after_refund(original, order, D(0), currency) == round_money(
        original, currency
    )
    exact = original * (1 - min(low / order, D(1)))
    assert abs(at_low - exact) <= quantum(currency) / 2
