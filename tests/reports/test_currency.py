"""Reports in one chosen currency (`currency=`) and ROI per buyer country and order currency.

A network of its own in May 2024, so the known March network keeps its numbers. Advertiser
"FX Kites" runs "Kites" (EUR) and "Pennies" (EUR); partner K promotes both. Orders:

| order | day (UTC)  | amount     | buyer | order status       | commission (EUR)                |
| ----- | ---------- | ---------- | ----- | ------------------ | ------------------------------- |
| m-1   | 05-06 (Mo) | 100.00 EUR | DE    | pending            | 10.00 pending                   |
| m-4   | 05-06      |  30.00 EUR | SE    | declined           | 3.00 declined (worth 0)         |
| m-2   | 05-07 (Tu) | 200.00 EUR | FR    | 50.00 refunded 05-08 | 20.00 approved, -5.00 on 05-08 |
| m-3   | 05-07      | 110.00 USD | US    | pending            | 9.00 EUR pending (foreign)      |
| m-6   | 05-07      |  50.00 EUR | NL    | pending            | none                            |
| p-1   | 05-06      |   0.01 EUR | -     | pending (Pennies)  | none                            |
| p-2   | 05-07      |   0.01 EUR | -     | pending (Pennies)  | none                            |

Every expected amount is worked out here from fx.quote, one order day at a time, in exact
Decimal arithmetic, and rounded once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from typer.testing import CliRunner

from alliance.cli import app
from alliance.commissions.models import Bucket, EntryType
from alliance.db.engine import reading, transaction
from alliance.errors import Forbidden, InvalidInput
from alliance.payouts import fx
from alliance.reports import convert, export, kpis, queries, rollups
from alliance.reports.schemas import OrdersGroup, RefundsGroup, RoiGroup

from .factory import Factory, Op

D = Decimal
START, END = date(2024, 5, 1), date(2024, 5, 10)
MON, TUE, WED = date(2024, 5, 6), date(2024, 5, 7), date(2024, 5, 8)
PERIOD = {"from": START.isoformat(), "to": END.isoformat()}
CENT = D("0.01")


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@dataclass
class FxNet:
    advertiser: str
    key: str
    kites: str
    pennies: str
    partner: str
    partner_key: str


@pytest.fixture(scope="module")
def fxnet(db_url: str) -> FxNet:
    with transaction() as session:
        f = Factory(session)
        adv, key = f.advertiser("FX Kites")
        kites = f.program(adv, "Kites", "EUR")
        pennies = f.program(adv, "Pennies", "EUR")
        k, k_key = f.partner("Kite Partner")
        f.enroll(kites, k)
        f.enroll(pennies, k)

        m1 = f.conversion(kites, k, "m-1", at(MON), "100.00", buyer_country="DE")
        f.commission(m1, "10.00", [])
        m4 = f.conversion(kites, k, "m-4", at(MON, 11), "30.00", buyer_country="SE")
        f.event(m4, "declined", "declined", at(MON, 12))
        f.commission(m4, "3.00", [Op("decline")])
        m2 = f.conversion(kites, k, "m-2", at(TUE), "200.00", buyer_country="FR")
        f.event(m2, "completed", "completed", at(TUE, 11))
        f.event(m2, "refund", "completed", at(WED), refunded="50.00")
        k2, _ = f.commission(m2, "20.00", [Op("approve")])
        f.entry(k2, Bucket.approved, EntryType.reduction, "-5.00", at(WED))
        m3 = f.conversion(
            kites, k, "m-3", at(TUE, 12), "110.00", currency="USD", buyer_country="US"
        )
        f.commission(m3, "9.00", [], currency="EUR")
        f.conversion(kites, k, "m-6", at(TUE, 13), "50.00", buyer_country="NL")
        f.conversion(pennies, k, "p-1", at(MON), "0.01")
        f.conversion(pennies, k, "p-2", at(TUE), "0.01")
        return FxNet(adv.id, key, kites.id, pennies.id, k.id, k_key)


def rate(base: str, to: str, day: date) -> Decimal:
    with reading() as s:
        return fx.quote(s, base, to, day).rate


def rounded(amount: Decimal, currency: str = "USD") -> Decimal:
    with convert.exact(convert.Converter(currency, START, END)):
        return amount.quantize(Decimal(1) if currency == "JPY" else CENT, ROUND_HALF_EVEN)


def ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    with convert.exact(convert.Converter("USD", START, END)):
        return (numerator / denominator).quantize(D("0.0001"), ROUND_HALF_EVEN)


def query(
    program: str | None,
    currency: str | None,
    filters: queries.Filters | None = None,
) -> Iterator[tuple[Any, queries.ReportQuery]]:
    with reading() as s:
        fx_ = convert.converter(s, currency, START, END)
        yield (
            s,
            queries.ReportQuery(
                START, END, queries.operator_scope(program), filters or queries.Filters(), fx_
            ),
        )


def _in(program: str | None, currency: str | None, **filters: str) -> Any:
    return query(program, currency, queries.Filters(**filters))


# --- converted day by day ------------------------------------------------------------------


def test_each_day_is_converted_at_its_own_rate(fxnet: FxNet) -> None:
    r_mon, r_tue = rate("EUR", "USD", MON), rate("EUR", "USD", TUE)
    assert r_mon != r_tue  # otherwise this test could not tell the days apart
    expected_days = {
        MON.isoformat(): {
            "sales": rounded(D("130.00") * r_mon),
            "net_sales": rounded(D("100.00") * r_mon),  # m-4 is declined
            "commission": rounded(D("10.00") * r_mon),
        },
        TUE.isoformat(): {
            "sales": rounded(D("250.00") * r_tue + D("110.00")),  # m-3 is already USD
            "net_sales": rounded(D("200.00") * r_tue + D("110.00")),
            "commission": rounded(D("24.00") * r_tue),  # 15.00 (m-2) + 9.00 (m-3)
        },
    }
    exact_sales = D("130.00") * r_mon + D("250.00") * r_tue + D("110.00")

    def check() -> None:
        for s, q in query(fxnet.kites, "USD"):
            report = queries.orders_report(s, q, OrdersGroup.day)
        assert report.filters == {"program_id": fxnet.kites, "currency": "USD"}
        found = {
            r.group: {
                "sales": r.sales,
                "net_sales": r.net_sales,
                "commission": r.commission.value,
            }
            for r in report.rows
        }
        assert found == expected_days
        assert {r.currency for r in report.rows} == {"USD"}
        [total] = report.totals
        assert (total.currency, total.orders) == ("USD", 5)
        assert total.sales == rounded(exact_sales)
        assert total.commission.value == rounded(D("10.00") * r_mon + D("24.00") * r_tue)
        assert total.commission.declined == rounded(D("3.00") * r_mon)

    check()  # the buckets are still logged as changed: read from the raw tables
    rollups.rebuild(start=START, end=END)
    check()  # now from the single days of the rollups


def test_a_total_is_rounded_once_from_the_unrounded_amounts(fxnet: FxNet) -> None:
    """0.01 EUR is ~1.6 JPY: each day rounds to 2 JPY, their exact sum (~3.3) to 3."""
    r_mon, r_tue = rate("EUR", "JPY", MON), rate("EUR", "JPY", TUE)
    for s, q in query(fxnet.pennies, "JPY"):
        report = queries.orders_report(s, q, OrdersGroup.day)
    rows = [r.sales for r in report.rows]
    assert rows == [rounded(CENT * r_mon, "JPY"), rounded(CENT * r_tue, "JPY")] == [D(2), D(2)]
    assert report.totals[0].sales == rounded(CENT * (r_mon + r_tue), "JPY") == D(3)


def test_in_the_currency_the_amounts_already_have_nothing_changes(fxnet: FxNet) -> None:
    """Kites in EUR without m-3 (the one USD order): every figure as the unconverted report,
    although read day by day and summed as Decimals."""
    for s, plain in _in(fxnet.kites, None, country="DE"):
        for group in OrdersGroup:
            for _, in_eur in _in(fxnet.kites, "EUR", country="DE"):
                converted = queries.orders_report(s, in_eur, group)
            original = queries.orders_report(s, plain, group)
            assert converted.model_dump(exclude={"filters"}) == original.model_dump(
                exclude={"filters"}
            ), group
        assert queries.refunds_report(s, plain, RefundsGroup.day).rows == []


def test_refunds_are_converted_at_the_day_of_the_refund(fxnet: FxNet) -> None:
    r_wed = rate("EUR", "USD", WED)
    for s, q in query(fxnet.kites, "USD"):
        report = queries.refunds_report(s, q, RefundsGroup.day)
    [row] = report.rows
    assert (row.group, row.currency, row.refunds, row.refunded_orders) == (
        WED.isoformat(),
        "USD",
        1,
        1,
    )
    assert row.refunded_amount == rounded(D("50.00") * r_wed)
    assert row.reversed_commission == rounded(D("5.00") * r_wed)
    assert report.totals == [row.model_copy(update={"group": None, "label": None})]


def test_kpis_time_series_and_transactions_in_one_currency(fxnet: FxNet) -> None:
    r_mon, r_tue = rate("EUR", "USD", MON), rate("EUR", "USD", TUE)
    for s, q in query(fxnet.kites, "USD"):
        summary = kpis.kpi_summary(s, q)
        series = kpis.time_series(s, q)
        page = queries.transactions_page(s, q)
    [entry] = summary.currencies
    assert (entry.currency, entry.orders) == ("USD", 5)
    assert entry.sales == rounded(D("130.00") * r_mon + D("250.00") * r_tue + D("110.00"))
    assert series.currencies == ["USD"]
    by_day = {p.day: p for p in series.points}
    assert by_day[MON].sales == {"USD": rounded(D("130.00") * r_mon)}
    assert by_day[WED].sales == {}
    foreign = next(t for t in page.data if t.order_id == "m-3")
    assert foreign.converted is not None
    assert (foreign.currency, foreign.amount) == ("USD", D("110.00"))  # as reported
    assert (foreign.converted.rate, foreign.converted.amount) == (D(1), D("110.00"))
    assert foreign.converted.commission_rate == r_tue
    assert foreign.converted.commission_amount == rounded(D("9.00") * r_tue)
    first = next(t for t in page.data if t.order_id == "m-1")
    assert first.converted is not None
    assert (first.converted.rate, first.converted.rate_day) == (r_mon, MON)
    assert first.converted.amount == rounded(D("100.00") * r_mon)


def test_a_period_reads_its_rates_once(fxnet: FxNet) -> None:
    """One query for the period's rates, whatever the number of days, reports and rows."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        if "fx_rates" in str(args[2]):
            seen.append(str(args[2]))

    for s, q in query(None, "SEK"):
        engine = s.get_bind()
        event.listen(engine, "before_cursor_execute", record)
        try:
            queries.orders_report(s, q, OrdersGroup.day)
            queries.orders_report(s, q, OrdersGroup.country)
            kpis.time_series(s, q)
            kpis.roi_report(s, q, RoiGroup.currency)
        finally:
            event.remove(engine, "before_cursor_execute", record)
    assert len(seen) <= 2, seen  # the currencies met first, then any met later


def test_without_currency_nothing_changes(fxnet: FxNet) -> None:
    for s, q in query(fxnet.kites, None):
        report = queries.orders_report(s, q, OrdersGroup.day)
        page = queries.transactions_page(s, q)
    assert report.filters == {"program_id": fxnet.kites}
    assert {t.currency for t in report.totals} == {"EUR", "USD"}
    usd = next(t for t in report.totals if t.currency == "USD")
    assert (usd.sales, usd.commission.value) == (D("110.00"), D(0))  # its commission is EUR
    body = page.model_dump_json(by_alias=True)
    assert '"converted"' not in body and '"currency":"USD"' in body
    record = export.transaction_record(page.data[0])
    assert list(export.transactions_columns(None)) == list(export.TRANSACTIONS_COLUMNS)
    assert not any(k.startswith("converted") for k in record)


def test_a_currency_the_ecb_does_not_quote_is_refused(fxnet: FxNet) -> None:
    with reading() as s:
        for code in ("KWD", "XYZ", "EURO"):
            with pytest.raises(InvalidInput) as refused:
                convert.converter(s, code, START, END)
            assert refused.value.field == "currency"
        assert convert.converter(s, "", START, END) is None
        assert convert.converter(s, "sek", START, END).currency == "SEK"  # type: ignore[union-attr]


# --- ROI ---------------------------------------------------------------------------------


def _roi(report: Any) -> dict[str | None, tuple[str, int, Decimal, Decimal, Decimal | None]]:
    return {r.group: (r.currency, r.orders, r.revenue, r.cost, r.roi) for r in report.rows}


def test_roi_per_buyer_country(fxnet: FxNet) -> None:
    r_mon, r_tue = rate("EUR", "USD", MON), rate("EUR", "USD", TUE)
    for s, q in query(fxnet.kites, "USD"):
        report = kpis.roi_report(s, q, RoiGroup.country)
    us_cost = D("9.00") * r_tue
    assert _roi(report) == {
        "DE": ("USD", 1, rounded(D(100) * r_mon), rounded(D(10) * r_mon), D("9.0000")),
        "FR": ("USD", 1, rounded(D(150) * r_tue), rounded(D(15) * r_tue), D("9.0000")),
        "NL": ("USD", 1, rounded(D(50) * r_tue), D("0.00"), None),  # no commission: no ROI
        "SE": ("USD", 1, D("0.00"), D("0.00"), None),  # declined order, declined commission
        "US": ("USD", 1, D("110.00"), rounded(us_cost), ratio(D(110) - us_cost, us_cost)),
    }
    assert {r.group: r.label for r in report.rows}["DE"] == "Germany"
    [total] = report.totals
    revenue = D(100) * r_mon + D(200) * r_tue + D(110)
    cost = D(10) * r_mon + D(24) * r_tue
    assert (total.orders, total.revenue, total.cost) == (5, rounded(revenue), rounded(cost))
    assert total.roi == ratio(revenue - cost, cost)


def test_roi_per_order_currency_moves_a_commission_to_its_order(fxnet: FxNet) -> None:
    """m-3 is paid in USD and earns 9.00 EUR: in the rollups that commission sits under
    EUR; per order currency it is the cost of the USD orders."""
    r_mon, r_tue = rate("EUR", "USD", MON), rate("EUR", "USD", TUE)
    for s, q in query(fxnet.kites, "USD"):
        report = kpis.roi_report(s, q, RoiGroup.currency)
    eur_revenue = D(100) * r_mon + D(200) * r_tue
    eur_cost = D(10) * r_mon + D(15) * r_tue
    usd_cost = D(9) * r_tue
    assert _roi(report) == {
        "EUR": (
            "USD",
            4,
            rounded(eur_revenue),
            rounded(eur_cost),
            ratio(eur_revenue - eur_cost, eur_cost),
        ),
        "USD": ("USD", 1, D("110.00"), rounded(usd_cost), ratio(D(110) - usd_cost, usd_cost)),
    }


def test_roi_without_currency_per_currency_or_refused(fxnet: FxNet) -> None:
    # Germany alone: EUR orders earning EUR, compared without converting.
    for s, q in _in(fxnet.kites, None, country="DE"):
        report = kpis.roi_report(s, q, RoiGroup.country)
    assert _roi(report) == {"DE": ("EUR", 1, D("100.00"), D("10.00"), D("9.0000"))}
    assert [(t.currency, t.roi) for t in report.totals] == [("EUR", D("9.0000"))]
    # The whole program: a USD order earns EUR commission; revenue and cost would be in two
    # currencies: a currency is required.
    for group in RoiGroup:
        with pytest.raises(InvalidInput) as refused:
            for s, q in query(fxnet.kites, None):
                kpis.roi_report(s, q, group)
        assert refused.value.field == "currency"
        assert "USD -> EUR" in refused.value.detail


def test_partners_do_not_see_roi(fxnet: FxNet) -> None:
    with reading() as s:
        scope = queries.Scope(None, fxnet.partner, queries.AccountKind.partner, fxnet.partner)
        q = queries.ReportQuery(START, END, scope)
        with pytest.raises(Forbidden):
            kpis.roi_report(s, q, RoiGroup.country)


# --- the edges: API, CSV, CLI ---------------------------------------------------------------


def get(http: httpx.Client, key: str, report: str, **params: Any) -> httpx.Response:
    return http.get(
        f"/api/v1/reports/{report}",
        params={**PERIOD, **params},
        headers={"Authorization": f"Bearer {key}"},
    )


def test_api_currency_option_and_roi(http: httpx.Client, fxnet: FxNet) -> None:
    r_mon = rate("EUR", "USD", MON)
    body = get(http, fxnet.key, "orders", program_id=fxnet.kites, currency="usd").json()
    assert body["filters"] == {"program_id": fxnet.kites, "currency": "USD"}
    assert body["rows"][0] == body["rows"][0] | {
        "group": MON.isoformat(),
        "currency": "USD",
        "sales": str(rounded(D("130.00") * r_mon)),
    }
    roi = get(http, fxnet.key, "roi", program_id=fxnet.kites, currency="USD").json()
    assert (roi["report"], roi["group_by"]) == ("roi", "country")
    assert {r["group"]: r["roi"] for r in roi["rows"]}["DE"] == "9.0000"
    assert {r["group"]: r["roi"] for r in roi["rows"]}["NL"] is None
    by_currency = get(
        http, fxnet.key, "roi", program_id=fxnet.kites, currency="USD", group_by="currency"
    ).json()
    assert [r["group"] for r in by_currency["rows"]] == ["EUR", "USD"]
    csv_body = get(
        http, fxnet.key, "roi", program_id=fxnet.kites, currency="USD", format="csv"
    ).text
    rows = list(csv.DictReader(io.StringIO(csv_body)))
    assert list(rows[0]) == list(export.ROI_COLUMNS)
    assert {r["group"]: r["roi"] for r in rows}["DE"] == "9.0000"
    tx = get(http, fxnet.key, "transactions", program_id=fxnet.kites, currency="USD", format="csv")
    header = next(csv.reader(io.StringIO(tx.text)))
    assert header == list(export.transactions_columns("USD"))


@pytest.mark.parametrize(
    ("report", "params"),
    [
        ("orders", {"currency": "KWD"}),
        ("kpis", {"currency": "XYZ"}),
        ("transactions", {"currency": "EURO"}),
        ("roi", {}),  # mixed currencies: one must be chosen
    ],
)
def test_api_refusals_name_the_currency(
    http: httpx.Client, fxnet: FxNet, report: str, params: dict[str, str]
) -> None:
    response = get(http, fxnet.key, report, program_id=fxnet.kites, **params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == "currency"


def test_api_roi_is_not_for_partners(http: httpx.Client, fxnet: FxNet) -> None:
    response = get(http, fxnet.partner_key, "roi", currency="EUR")
    assert response.status_code == 403, response.text


def test_cli_currency_option(fxnet: FxNet) -> None:
    r_mon = rate("EUR", "USD", MON)
    args = ["--from", PERIOD["from"], "--to", PERIOD["to"], "--program", fxnet.kites]
    result = CliRunner().invoke(app, ["report", "orders", *args, "--currency", "USD", "--csv"])
    assert result.exit_code == 0, result.output
    first = next(csv.DictReader(io.StringIO(result.output)))
    assert (first["group"], first["currency"]) == (MON.isoformat(), "USD")
    assert first["sales"] == str(rounded(D("130.00") * r_mon))
    roi = CliRunner().invoke(app, ["report", "roi", *args, "--currency", "USD", "--csv"])
    assert roi.exit_code == 0, roi.output
    assert "DE,Germany,USD,1," in roi.output
    refused = CliRunner().invoke(app, ["report", "roi", *args])
    assert refused.exit_code == 2
    assert "give `currency`" in refused.output
