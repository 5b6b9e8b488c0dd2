"""The reports pages in one chosen currency, and the ROI tables, against a real server.

A network of its own in June 2024: advertiser "Lamp Co" runs "Lamps" (EUR); partner L
promotes it. Orders: 06-03 100.00 EUR from DE (commission 10.00 EUR), 06-04 120.00 USD from
US (commission 11.00 EUR: an order in another currency than its program), 06-04 40.00 EUR
from SE (no commission).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest

from alliance.accounts.service import create_operator
from alliance.db.engine import reading, transaction
from alliance.payouts import fx
from alliance.reports import export
from alliance.web.templating import DASH, money, percent
from tests.conftest import Server
from tests.reports.factory import Factory
from tests.web.conftest import Browser, signed_in

pytestmark = pytest.mark.xdist_group("web-reports-currency")

PERIOD = {"from": "2024-06-01", "to": "2024-06-10"}
MON, TUE = date(2024, 6, 3), date(2024, 6, 4)


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@dataclass
class Net:
    operator_id: str
    advertiser: str
    lamps: str
    partner: str


@pytest.fixture(scope="module")
def net(db_url: str) -> Net:
    with transaction() as session:
        opr, _ = create_operator(session, name="Currency Ops")
        f = Factory(session)
        adv, _ = f.advertiser("Lamp Co")
        lamps = f.program(adv, "Lamps", "EUR")
        partner, _ = f.partner("Lumen Links")
        f.enroll(lamps, partner)
        de = f.conversion(lamps, partner, "lamp-1", at(MON), "100.00", buyer_country="DE")
        f.commission(de, "10.00", [])
        us = f.conversion(
            lamps, partner, "lamp-2", at(TUE), "120.00", currency="USD", buyer_country="US"
        )
        f.commission(us, "11.00", [], currency="EUR")
        f.conversion(lamps, partner, "lamp-3", at(TUE, 13), "40.00", buyer_country="SE")
        return Net(opr.id, adv.id, lamps.id, partner.id)


@dataclass
class Viewers:
    operator: Browser
    advertiser: Browser
    partner: Browser


@pytest.fixture(scope="module")
def viewers(server: Server, net: Net) -> Any:
    v = Viewers(
        signed_in(server, net.operator_id),
        signed_in(server, net.advertiser),
        signed_in(server, net.partner),
    )
    yield v
    for b in (v.operator, v.advertiser, v.partner):
        b.close()


def page(b: Browser, path: str, status: int = 200, **params: str) -> str:
    answer = b.get(path, params={**PERIOD, **params})
    assert answer.status_code == status, answer.text[-2000:]
    return answer.text


def roi_rows(html: str, table: str) -> dict[str, list[str]]:
    """The ROI table's body rows: group code -> the text of its cells."""
    body = html.split(f'id="{table}"', 1)[1].split("</tbody>", 1)[0]
    found = {}
    for group, row in re.findall(r'<tr data-group="([^"]*)">(.*?)</tr>', body, flags=re.S):
        found[group] = [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        ]
    return found


def fx_rate(base: str, to: str, day: date) -> Decimal:
    with reading() as session:
        return fx.quote(session, base, to, day).rate


def eur(amount: Decimal | str) -> str:
    return money(Decimal(amount), "EUR")


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def test_roi_tables_default_to_the_busiest_currency_and_say_so(viewers: Viewers) -> None:
    html = page(viewers.advertiser, "/reports")
    assert 'id="roi-defaulted"' in html  # the USD order earns EUR: one currency is needed
    assert "compared in EUR" in html
    rows = roi_rows(html, "roi-by-country")
    assert rows["DE"] == ["1", eur("100.00"), eur("10.00"), percent(Decimal(9))]
    assert rows["SE"] == ["1", eur("40.00"), eur("0.00"), DASH]  # no commission: no ROI
    revenue = cents(Decimal("120.00") * fx_rate("USD", "EUR", TUE))
    assert rows["US"][1:3] == [eur(revenue), eur("11.00")]
    by_currency = roi_rows(html, "roi-by-currency")
    assert set(by_currency) == {"EUR", "USD"}
    assert by_currency["USD"][2] == eur("11.00")  # the USD order's commission, moved to it


def test_a_chosen_currency_converts_the_whole_page(viewers: Viewers) -> None:
    html = page(viewers.advertiser, "/reports", currency="USD")
    assert 'id="converted-note"' in html and 'id="roi-defaulted"' not in html
    assert '<option value="USD" selected>' in html
    rows = roi_rows(html, "roi-by-country")
    to_usd = fx_rate("EUR", "USD", MON)
    assert rows["DE"] == [
        "1",
        money(cents(100 * to_usd), "USD"),
        money(cents(10 * to_usd), "USD"),
        percent(Decimal(9)),
    ]
    assert rows["US"][1] == money(Decimal("120.00"), "USD")
    orders = page(viewers.advertiser, "/reports/orders", currency="USD", group_by="day")
    assert "Total USD" in orders and "Total EUR" not in orders
    # The tabs keep the currency.
    assert "currency=USD" in orders.split('id="report-tabs"', 1)[1].split("</nav>", 1)[0]


def test_operator_sees_roi_and_partner_does_not(viewers: Viewers, net: Net) -> None:
    operator = page(viewers.operator, "/reports", program_id=net.lamps, currency="EUR")
    assert roi_rows(operator, "roi-by-country")["DE"][-1] == percent(Decimal(9))
    partner = page(viewers.partner, "/reports", currency="EUR")
    assert 'id="roi"' not in partner
    assert 'id="converted-note"' in partner  # a partner may convert its figures too


def test_a_currency_the_ecb_does_not_quote_is_a_422_page(viewers: Viewers) -> None:
    html = page(viewers.advertiser, "/reports/orders", status=422, currency="KWD")
    assert "(field: currency)" in html and "the ECB does not quote KWD" in html


def test_exports_in_the_chosen_currency(viewers: Viewers) -> None:
    orders = viewers.advertiser.get("/reports/orders.csv", params={**PERIOD, "currency": "USD"})
    assert orders.status_code == 200, orders.text
    rows = list(csv.DictReader(io.StringIO(orders.text)))
    assert {r["currency"] for r in rows} == {"USD"}
    assert rows[0]["sales"] == str(cents(100 * fx_rate("EUR", "USD", MON)))
    plain = viewers.advertiser.get("/reports/transactions.csv", params=PERIOD)
    assert next(csv.reader(io.StringIO(plain.text))) == list(export.TRANSACTIONS_COLUMNS)
    converted = viewers.advertiser.get(
        "/reports/transactions.csv", params={**PERIOD, "currency": "USD"}
    )
    assert next(csv.reader(io.StringIO(converted.text))) == list(export.transactions_columns("USD"))


def test_the_roi_tables_download_in_their_currency(viewers: Viewers) -> None:
    html = page(viewers.advertiser, "/reports")
    links = re.findall(r'href="(/reports/roi\.(?:csv|xlsx)\?[^"]+)"', html)
    assert len(links) == 4  # CSV and XLSX for each table
    csv_link = next(link for link in links if ".csv" in link and "group_by=country" in link)
    assert "currency=EUR" in csv_link.replace("&amp;", "&")  # the currency the tables are in
    answer = viewers.advertiser.get(csv_link.replace("&amp;", "&"))
    assert answer.status_code == 200, answer.text
    rows = {r["group"]: r for r in csv.DictReader(io.StringIO(answer.text))}
    assert (rows["DE"]["currency"], rows["DE"]["roi"], rows["SE"]["roi"]) == ("EUR", "9.0000", "")
    xlsx = viewers.advertiser.get("/reports/roi.xlsx", params={**PERIOD, "currency": "USD"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    # Without a currency the file cannot compare the USD order's revenue with its EUR cost.
    refused = viewers.advertiser.get("/reports/roi.csv", params=PERIOD)
    assert refused.status_code == 422 and "currency" in refused.text
    assert (
        viewers.partner.get("/reports/roi.csv", params={**PERIOD, "currency": "EUR"}).status_code
        == 403
    )
