"""The terms document: what it accepts, what it refuses and where it says the fault is."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.commissions.terms import TermsDocument, parse_terms, terms_to_json
from alliance.errors import InvalidInput

FULL_CPS: dict[str, Any] = {
    "type": "cps",
    "percent": "8",
    "lead_amount": "15.00",
    "includes_shipping": True,
    "tiers": [{"min_orders": 10, "percent": "10"}, {"min_orders": 50, "percent": "12.5"}],
    "overrides": [
        {"when": {"category": "Electronics"}, "percent": "3"},
        {"when": {"buyer_country": "se", "customer": "new"}, "percent": "9.25"},
        {"when": {"partner_group": "vip"}, "percent": "11"},
    ],
    "cap_per_order": "250.00",
}


def test_a_full_document_parses_and_round_trips() -> None:
    doc = parse_terms(FULL_CPS, "SEK")
    assert doc.percent == Decimal("8")
    assert doc.overrides[1].when.buyer_country == "SE"  # normalised
    assert doc.tier_measure == "min_orders"
    data = terms_to_json(doc)
    assert data["cap_per_order"] == "250.00"
    assert data["tiers"][1] == {"min_orders": 50, "percent": "12.5"}
    assert parse_terms(data, "SEK") == doc


@pytest.mark.parametrize(
    ("raw", "currency"),
    [
        ({"type": "cps", "percent": "100"}, "EUR"),
        ({"type": "cps", "percent": 5}, "EUR"),
        ({"type": "cps", "percent": "0.0001"}, "EUR"),
        ({"type": "cpo", "amount": "25.50"}, "USD"),
        ({"type": "cpo", "amount": 2500, "lead_amount": "100"}, "JPY"),
        ({"type": "cpl", "amount": "1.250"}, "KWD"),
        ({"type": "cpc", "amount": "0.05", "cap_per_order": "20"}, "EUR"),
        ({"type": "cps", "percent": "5", "tiers": [{"min_sales": "10000", "percent": "7"}]}, "SEK"),
        (
            {
                "type": "cpo",
                "amount": "10",
                "overrides": [{"when": {"category": "x"}, "amount": "0"}],
            },
            "EUR",
        ),
    ],
)
def test_accepts(raw: dict[str, Any], currency: str) -> None:
    doc = parse_terms(raw, currency)
    assert parse_terms(terms_to_json(doc), currency) == doc


# (raw, currency, field, words in the detail)
REFUSALS: list[tuple[Any, str, str, str]] = [
    ("8%", "EUR", "commission", "dictionary"),
    ({}, "EUR", "commission.type", "required"),
    ({"type": "cpa", "amount": "1"}, "EUR", "commission.type", "cps"),
    ({"type": "cps"}, "EUR", "commission.percent", "need percent"),
    ({"type": "cps", "percent": "0"}, "EUR", "commission.percent", "more than 0"),
    ({"type": "cps", "percent": "100.01"}, "EUR", "commission.percent", "between 0 and 100"),
    ({"type": "cps", "percent": "-1"}, "EUR", "commission.percent", "between 0 and 100"),
    ({"type": "cps", "percent": "1.23456"}, "EUR", "commission.percent", "4 decimals"),
    ({"type": "cps", "percent": 8.5}, "EUR", "commission.percent", "float"),
    ({"type": "cps", "percent": True}, "EUR", "commission.percent", "float"),
    ({"type": "cps", "percent": "NaN"}, "EUR", "commission.percent", "finite"),
    ({"type": "cps", "percent": "Infinity"}, "EUR", "commission.percent", "finite"),
    ({"type": "cps", "percent": "eight"}, "EUR", "commission.percent", "not a decimal"),
    ({"type": "cps", "percent": "8", "amount": "1"}, "EUR", "commission.amount", "not amount"),
    ({"type": "cpo"}, "EUR", "commission.amount", "need amount"),
    ({"type": "cpo", "amount": "9.999"}, "EUR", "commission.amount", "decimals"),
    ({"type": "cpo", "amount": "100.5"}, "JPY", "commission.amount", "decimals"),
    ({"type": "cpl", "amount": "1.2345"}, "KWD", "commission.amount", "decimals"),
    ({"type": "cpo", "amount": 12.5}, "EUR", "commission.amount", "float"),
    ({"type": "cpo", "amount": "-5"}, "EUR", "commission.amount", "negative"),
    ({"type": "cpo", "amount": "0"}, "EUR", "commission.amount", "more than 0"),
    ({"type": "cpo", "amount": "sNaN"}, "EUR", "commission.amount", "finite"),
    ({"type": "cpo", "amount": "1e20"}, "EUR", "commission.amount", "range"),
    ({"type": "cpo", "amount": "5", "percent": "3"}, "EUR", "commission.percent", "not percent"),
    ({"type": "cpl", "amount": "5", "lead_amount": "3"}, "EUR", "commission.lead_amount", "only"),
    ({"type": "cps", "percent": "5", "lead_amount": 1.5}, "EUR", "commission.lead_amount", "float"),
    (
        {"type": "cps", "percent": "5", "cap_per_order": "0"},
        "EUR",
        "commission.cap_per_order",
        "more than 0",
    ),
    (
        {"type": "cps", "percent": "5", "includes_tax": "yes"},
        "EUR",
        "commission.includes_tax",
        "bool",
    ),
    ({"type": "cps", "percent": "5", "bonus": "1"}, "EUR", "commission.bonus", "Extra"),
    (
        {
            "type": "cps",
            "percent": "5",
            "tiers": [{"min_orders": 10, "percent": "7"}, {"min_orders": 20, "percent": "101"}],
        },
        "EUR",
        "commission.tiers.1.percent",
        "between 0 and 100",
    ),
    (
        {"type": "cps", "percent": "5", "tiers": [{"min_orders": 10}]},
        "EUR",
        "commission.tiers.0.percent",
        "needs percent",
    ),
    (
        {"type": "cpo", "amount": "5", "tiers": [{"min_orders": 10, "percent": "7"}]},
        "EUR",
        "commission.tiers.0.amount",
        "needs amount",
    ),
    (
        {"type": "cps", "percent": "5", "tiers": [{"percent": "7"}]},
        "EUR",
        "commission.tiers.0",
        "exactly one",
    ),
    (
        {
            "type": "cps",
            "percent": "5",
            "tiers": [{"min_orders": 3, "min_sales": "100", "percent": "7"}],
        },
        "EUR",
        "commission.tiers.0",
        "exactly one",
    ),
    (
        {"type": "cps", "percent": "5", "tiers": [{"min_orders": 0, "percent": "7"}]},
        "EUR",
        "commission.tiers.0.min_orders",
        "at least 1",
    ),
    (
        {"type": "cps", "percent": "5", "tiers": [{"min_orders": "3", "percent": "7"}]},
        "EUR",
        "commission.tiers.0.min_orders",
        "integer",
    ),
    (
        {"type": "cps", "percent": "5", "tiers": [{"min_sales": "10.001", "percent": "7"}]},
        "EUR",
        "commission.tiers.0.min_sales",
        "decimals",
    ),
    (
        {
            "type": "cps",
            "percent": "5",
            "tiers": [{"min_orders": 10, "percent": "7"}, {"min_orders": 10, "percent": "9"}],
        },
        "EUR",
        "commission.tiers.1.min_orders",
        "increase",
    ),
    (
        {
            "type": "cps",
            "percent": "5",
            "tiers": [{"min_orders": 10, "percent": "7"}, {"min_sales": "5000", "percent": "9"}],
        },
        "EUR",
        "commission.tiers.1.min_orders",
        "same measure",
    ),
    (
        {"type": "cps", "percent": "5", "overrides": [{"when": {}, "percent": "1"}]},
        "EUR",
        "commission.overrides.0.when",
        "at least one condition",
    ),
    (
        {
            "type": "cps",
            "percent": "5",
            "overrides": [
                {"when": {"category": "a"}, "percent": "1"},
                {"when": {"buyer_country": "XX"}, "percent": "1"},
            ],
        },
        "EUR",
        "commission.overrides.1.when.buyer_country",
        "unknown country",
    ),
    (
        {
            "type": "cps",
            "percent": "5",
            "overrides": [{"when": {"buyer_country": "Sweden"}, "percent": "1"}],
        },
        "EUR",
        "commission.overrides.0.when.buyer_country",
        "alpha-2",
    ),
    (
        {
            "type": "cps",
            "percent": "5",
            "overrides": [{"when": {"customer": "old"}, "percent": "1"}],
        },
        "EUR",
        "commission.overrides.0.when.customer",
        "new",
    ),
    (
        {"type": "cps", "percent": "5", "overrides": [{"when": {"category": " "}, "percent": "1"}]},
        "EUR",
        "commission.overrides.0.when.category",
        "non-empty",
    ),
    (
        {"type": "cps", "percent": "5", "overrides": [{"when": {"sku": "a"}, "percent": "1"}]},
        "EUR",
        "commission.overrides.0.when.sku",
        "Extra",
    ),
    (
        {"type": "cps", "percent": "5", "overrides": [{"when": {"category": "a"}, "amount": "1"}]},
        "EUR",
        "commission.overrides.0.percent",
        "needs percent",
    ),
    (
        {"type": "cpc", "amount": "0.10", "tiers": [{"min_orders": 1, "amount": "0.2"}]},
        "EUR",
        "commission.tiers",
        "no tiers",
    ),
    (
        {
            "type": "cpc",
            "amount": "0.10",
            "overrides": [{"when": {"buyer_country": "DE"}, "amount": "0.2"}],
        },
        "EUR",
        "commission.overrides",
        "no overrides",
    ),
]


@pytest.mark.parametrize(
    ("raw", "currency", "field", "words"),
    REFUSALS,
    ids=[f"{i}-{r[2]}" for i, r in enumerate(REFUSALS)],
)
def test_refuses_and_names_the_field(raw: Any, currency: str, field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_terms(raw, currency)
    err = caught.value
    assert err.field == field
    assert words.lower() in err.detail.lower()
    problem = err.problem()
    assert problem["status"] == 422
    assert problem["field"] == field
    assert problem["errors"][0]["field"] == field


def test_the_field_prefix_is_the_callers() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_terms({"type": "cps", "percent": "500"}, "EUR", field="terms")
    assert caught.value.field == "terms.percent"


def test_every_problem_is_listed() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_terms({"type": "cps", "percent": 8.0, "cap_per_order": "x", "extra": 1}, "EUR")
    fields = {e["field"] for e in caught.value.extra["errors"]}
    assert fields == {"commission.percent", "commission.cap_per_order", "commission.extra"}


def test_direct_construction_runs_the_same_rules() -> None:
    with pytest.raises(ValueError, match="need percent"):
        TermsDocument(type="cps")


# --------------------------------------------------------------------------- properties

CURRENCIES = ["EUR", "JPY", "KWD", "SEK", "USD"]
_DIGITS = {"EUR": 2, "JPY": 0, "KWD": 3, "SEK": 2, "USD": 2}


@st.composite
def documents(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    currency = draw(st.sampled_from(CURRENCIES))
    digits = _DIGITS[currency]

    def money(min_minor: int = 1) -> str:
        minor = draw(st.integers(min_value=min_minor, max_value=10**9))
        return str(Decimal(minor).scaleb(-digits))

    def pct(low: int = 1) -> str:
        return str(Decimal(draw(st.integers(min_value=low, max_value=1_000_000))).scaleb(-4))

    kind = draw(st.sampled_from(["cps", "cpo", "cpl", "cpc"]))
    rate_key = "percent" if kind == "cps" else "amount"

    def rate(low: int = 1) -> str:
        return pct(low) if kind == "cps" else money(low)

    raw: dict[str, Any] = {"type": kind, rate_key: rate()}
    if kind in ("cps", "cpo") and draw(st.booleans()):
        raw["lead_amount"] = money(0)
    if draw(st.booleans()):
        raw["cap_per_order"] = money()
    raw["includes_tax"] = draw(st.booleans())
    if kind != "cpc":
        thresholds = sorted(draw(st.sets(st.integers(1, 500), max_size=4)))
        raw["tiers"] = [{"min_orders": t, rate_key: rate(0)} for t in thresholds]
        raw["overrides"] = [
            {"when": when, rate_key: rate(0)}
            for when in draw(
                st.lists(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "category": st.sampled_from(["shoes", "Books"]),
                            "buyer_country": st.sampled_from(["se", "DE", "jp"]),
                            "customer": st.sampled_from(["new", "returning"]),
                            "partner_group": st.sampled_from(["vip", "coupon sites"]),
                        },
                    ).filter(bool),
                    max_size=3,
                )
            )
        ]
    return raw, currency


@settings(max_examples=200, deadline=None)
@given(documents())
def test_valid_documents_round_trip_through_json(case: tuple[dict[str, Any], str]) -> None:
    raw, currency = case
    doc = parse_terms(raw, currency)
    data = terms_to_json(doc)
    assert parse_terms(data, currency) == doc
    assert terms_to_json(parse_terms(data, currency)) == data
    assert json.loads(json.dumps(data)) == data  # plain JSON, no Decimal objects


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
        st.integers(min_value=-(10**6), max_value=-1),
        st.decimals(allow_nan=True, allow_infinity=True),
    )
)
def test_bad_percents_only_ever_raise_invalid_input(value: object) -> None:
    try:
        doc = parse_terms({"type": "cps", "percent": value}, "EUR")
    except InvalidInput as exc:
        assert exc.field == "commission.percent"
    else:
        assert doc.percent is not None and 0 < doc.percent <= 100
