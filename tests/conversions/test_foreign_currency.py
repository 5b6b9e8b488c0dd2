"""Orders in another currency than their program's: priced at the ECB rate of the order's day,
the rate and its day kept on the order, refunds prorated on what was booked (issue 5)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx

from alliance.commissions import service as ledger
from alliance.db.engine import reading

from .factories import world
from .test_postback import assert_rejected, commission_of, conversion, post

D = Decimal
# The bundled ECB rates of Friday 30 October 2026: USD 1.1172, SEK 10.978, JPY 175.68 per euro.
USD_TO_SEK = D("9.826351593")  # 10.978 / 1.1172, ten significant digits


def test_an_order_in_usd_pays_sek_at_the_rate_of_its_day(
    http: httpx.Client, operator_key: str
) -> None:
    w = world(currency="SEK", terms={"type": "cps", "percent": "10"})
    # Saturday: the rates of Friday the 30th, the last business day on or before it.
    answer = post(
        http,
        w,
        order_id="US-1",
        amount="100.00",
        currency="USD",
        coupon=w.coupon,
        occurred_at="2026-10-31T15:00:00Z",
    )
    assert answer.status_code == 200, answer.text
    order = conversion(answer.json()["conversion_id"])
    assert (order.currency, order.amount, order.net_amount) == ("USD", D("100.00"), D("100.00"))
    assert (order.fx_rate, order.fx_day) == (USD_TO_SEK, date(2026, 10, 30))
    shown = http.get(
        f"/api/v1/conversions/{order.id}", headers={"Authorization": f"Bearer {operator_key}"}
    ).json()
    assert (shown["fx_rate"], shown["fx_day"]) == ("9.826351593", "2026-10-30")
    commission = commission_of(order.id)
    # 10% of 100.00 USD x 9.826351593 = 98.26351593 SEK, rounded once: 98.26.
    assert (commission.currency, commission.amount) == ("SEK", D("98.26"))
    assert commission.arithmetic.startswith(
        "100.00 USD at 9.826351593 SEK/USD (ECB, 2026-10-30) = 982.64 SEK; "
    )

    # A partial refund takes back its share of what was booked, whatever the rate is now.
    refund = post(
        http,
        w,
        order_id="US-1",
        status="refunded",
        refund_amount="25.00",
        currency="USD",
    )
    assert refund.status_code == 200, refund.text
    with reading() as session:
        assert ledger.commission_value(session, commission.id) == D("73.70")  # 98.26 x 75%

    # A follow-up naming another currency than the order's is refused, naming the field.
    assert_rejected(
        post(http, w, order_id="US-1", status="completed", currency="SEK"),
        422,
        "currency_mismatch",
        "currency",
    )


def test_an_order_in_the_programs_currency_keeps_no_rate(http: httpx.Client) -> None:
    w = world(currency="SEK", terms={"type": "cps", "percent": "10"})
    answer = post(http, w, order_id="SE-1", amount="100.00", coupon=w.coupon)
    order = conversion(answer.json()["conversion_id"])
    assert (order.fx_rate, order.fx_day) == (None, None)
    assert commission_of(order.id).amount == D("10.00")


def test_a_currency_the_ecb_does_not_quote_is_refused_and_kept(http: httpx.Client) -> None:
    w = world(currency="EUR", terms={"type": "cps", "percent": "10"})
    assert_rejected(
        post(http, w, order_id="KW-1", amount="10.000", currency="KWD", coupon=w.coupon),
        422,
        "no_rate",
        "currency",
    )


def test_an_order_in_sek_pays_jpy_rounded_to_the_yen(http: httpx.Client) -> None:
    w = world(currency="JPY", terms={"type": "cps", "percent": "5"})
    answer = post(
        http,
        w,
        order_id="SE-JP-1",
        amount="1000.00",
        currency="SEK",
        coupon=w.coupon,
        occurred_at="2026-10-30T09:00:00Z",
    )
    assert answer.status_code == 200, answer.text
    order = conversion(answer.json()["conversion_id"])
    assert order.fx_rate == D("16.00291492")  # 175.68 / 10.978
    # 5% of 1000.00 SEK x 16.00291492 = 800.145746 JPY: 800 (no minor unit).
    assert commission_of(order.id).amount == D("800")


def test_the_months_sales_tier_adds_orders_at_the_rate_they_were_priced(
    http: httpx.Client,
) -> None:
    # 10% up to 1,000 SEK of sales this month, 20% from there.
    w = world(
        currency="SEK",
        terms={"type": "cps", "percent": "10", "tiers": [{"min_sales": "1000", "percent": "20"}]},
    )
    # 100.00 USD = 982.64 SEK: under the threshold on its own.
    first = post(
        http, w, order_id="T-1", amount="100.00", currency="USD", coupon=w.coupon,
        occurred_at="2026-10-30T09:00:00Z",
    )  # fmt: skip
    assert commission_of(first.json()["conversion_id"]).amount == D("98.26")
    second = post(
        http, w, order_id="T-2", amount="10.00", coupon=w.coupon,
        occurred_at="2026-10-30T10:00:00Z",
    )  # fmt: skip
    assert commission_of(second.json()["conversion_id"]).amount == D("1.00")  # 992.64: 10%
    third = post(
        http, w, order_id="T-3", amount="10.00", coupon=w.coupon,
        occurred_at="2026-10-30T11:00:00Z",
    )  # fmt: skip
    # With it the month reaches 982.64 + 10.00 + 10.00 = 1,002.64 SEK: 20%. Had the USD order
    # counted as its unconverted 100.00, the month would be at 120.00 and still at 10%.
    assert commission_of(third.json()["conversion_id"]).amount == D("2.00")
