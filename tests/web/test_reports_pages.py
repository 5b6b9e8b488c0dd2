"""The reports pages against a real server: scope per role, filters, sort, paging, exports.

A small network in April 2024 (the period under test, 2024-04-01 .. 04-10): advertiser A
runs "Boots" (EUR) and "Hats" (USD), advertiser B runs "Novels" (EUR). Partners P and Q
promote Boots, P also Hats, R promotes Novels. "Tags" (advertiser A, EUR) holds 60 sub-ids
and 55 orders of partner P for the paging tests. The page's numbers are checked against the
REST API's answer for the same filters, and some against numbers worked out by hand.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from alliance.accounts.service import create_operator
from alliance.commissions.models import Bucket, EntryType
from alliance.db.engine import transaction
from alliance.web.templating import money
from tests.conftest import Server
from tests.reports.factory import Factory, Op
from tests.web.conftest import Browser, signed_in

pytestmark = pytest.mark.xdist_group("web-reports")

EVIL = '=HYPERLINK("http://evil.example","x")'
XSS = "<img src=x onerror=alert(1)>"
PERIOD = {"from": "2024-04-01", "to": "2024-04-10"}


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2024, 4, day, hour, minute, tzinfo=UTC)


@dataclass
class Net:
    operator_id: str
    operator_key: str
    adv_a: str
    adv_a_key: str
    adv_b: str
    boots: str
    hats: str
    novels: str
    tags: str
    p: str
    p_name: str
    p_key: str
    q: str
    q_name: str
    r_name: str


def _settle() -> None:
    """The rollup tables (read by the reports when present) catch up with rows written here."""
    from sqlalchemy import inspect

    from alliance.db.engine import reading

    try:
        from alliance.reports import rollups
    except ImportError:  # pragma: no cover - before the rollups land
        return
    with reading() as session:
        if not inspect(session.get_bind()).has_table("report_changes"):
            return  # the rollup tables are not migrated yet: the reports read raw rows
    rollups.rebuild(start=date(2024, 4, 1), end=date(2024, 4, 10))


@pytest.fixture(scope="module")
def net(db_url: str) -> Net:
    with transaction() as session:
        opr, opr_key = create_operator(session, name="Reports Ops")
        f = Factory(session)
        adv_a, adv_a_key = f.advertiser("Reports Advertiser A")
        adv_b, _ = f.advertiser("Reports Advertiser B")
        boots = f.program(adv_a, "Boots", "EUR")
        hats = f.program(adv_a, "Hats", "USD")
        novels = f.program(adv_b, "Novels", "EUR")
        tags = f.program(adv_a, "Tags", "EUR")
        p, p_key = f.partner("Pia Deals")
        q, _ = f.partner("Quinn Blog")
        r, _ = f.partner("Rex Media")
        for program, partner in ((boots, p), (boots, q), (hats, p), (novels, r), (tags, p)):
            f.enroll(program, partner)
        lp, lq = f.link(boots, p), f.link(boots, q)
        lh, lr, lt = f.link(hats, p), f.link(novels, r), f.link(tags, p)

        # Boots: P 5 clicks (2 sub1=news DE desktop, 1 EVIL FR mobile, 1 XSS DE, 1 bot US),
        # Q 2 clicks (DE mobile, FR tablet).
        c1 = f.click(lp, at(1, 10), "vis_1", sub1="news", country="DE")
        f.click(lp, at(2, 10), "vis_2", sub1="news", country="DE")
        c3 = f.click(lp, at(2, 11), "vis_3", sub1=EVIL, country="FR", device="mobile")
        f.click(lp, at(3, 9), "vis_4", sub1=XSS, country="DE")
        f.click(lp, at(3, 9, 5), "vis_bot", bot=True, country="US")
        c6 = f.click(lq, at(4, 8), "vis_5", country="DE", device="mobile")
        f.click(lq, at(4, 9), "vis_6", country="FR", device="tablet")
        f.click(lh, at(1, 8), "vis_7", country="US")
        f.click(lr, at(1, 7), "vis_8", country="DE")
        f.click(lr, at(1, 7, 1), "vis_9", country="DE")
        session.flush()

        # Boots orders: P 100.00 (DE, approved 10.00), P 60.00 (FR, pending 6.00, 20.00
        # refunded on 04-06), Q 200.00 (DE, pending 20.00).
        o1 = f.conversion(boots, p, "boots-p-1", at(1, 11), "100.00", click=c1, buyer_country="DE")
        f.event(o1, "completed", "completed", at(2))
        f.commission(o1, "10.00", [Op("approve")])
        o2 = f.conversion(boots, p, "boots-p-2", at(2, 12), "60.00", click=c3, buyer_country="FR")
        f.event(o2, "refund", "pending", at(6), refunded="20.00")
        k2, _ = f.commission(o2, "6.00", [])
        f.entry(k2, Bucket.pending, EntryType.reduction, "-2.00", at(6))
        o3 = f.conversion(boots, q, "boots-q-1", at(4, 9), "200.00", click=c6, buyer_country="DE")
        f.commission(o3, "20.00", [])
        # Hats (USD), Novels (advertiser B).
        o4 = f.conversion(hats, p, "hats-p-1", at(1, 9), "30.00")
        f.commission(o4, "3.00", [])
        o5 = f.conversion(novels, r, "novels-r-1", at(1, 8), "90.00")
        f.commission(o5, "9.00", [])

        # Tags: 60 sub-ids (s-00 .. s-59; s-07 has 3 clicks, s-42 has 2) and 55 orders.
        for i in range(60):
            f.click(lt, at(1 + i % 9, 6, i % 60), f"vis_t{i}", sub1=f"s-{i:02d}", country="SE")
        for i, extra in ((7, 2), (42, 1)):
            for j in range(extra):
                f.click(lt, at(5, 7, j), f"vis_t{i}x{j}", sub1=f"s-{i:02d}", country="SE")
        for i in range(55):
            f.conversion(tags, p, f"tags-{i:02d}", at(2) + timedelta(minutes=i), "10.00")
        ids = Net(
            opr.id,
            opr_key,
            adv_a.id,
            adv_a_key,
            adv_b.id,
            boots.id,
            hats.id,
            novels.id,
            tags.id,
            p.id,
            p.name,
            p_key,
            q.id,
            q.name,
            r.name,
        )
    _settle()
    return ids


@dataclass
class Viewers:
    operator: Browser
    advertiser: Browser
    other_advertiser: Browser
    partner: Browser


@pytest.fixture(scope="module")
def viewers(server: Server, net: Net) -> Any:
    v = Viewers(
        signed_in(server, net.operator_id),
        signed_in(server, net.adv_a),
        signed_in(server, net.adv_b),
        signed_in(server, net.p),
    )
    yield v
    for b in (v.operator, v.advertiser, v.other_advertiser, v.partner):
        b.close()


def page(b: Browser, path: str, **params: str) -> httpx.Response:
    answer = b.get(path, params={**PERIOD, **params})
    assert answer.status_code == 200, answer.text[-2000:]
    return answer


def api(http: httpx.Client, key: str, report: str, **params: str) -> httpx.Response:
    answer = http.get(
        f"/api/v1/reports/{report}",
        params={**PERIOD, **params},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 200, answer.text
    return answer


def body_rows(html: str) -> list[str]:
    """The <tr> elements of the report table's body, as HTML."""
    parts = re.split(r'<table class="report-table[^"]*">', html, maxsplit=1)
    if len(parts) < 2:
        return []
    table = parts[1]
    tbody = table.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>.*?</tr>", tbody, flags=re.S)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- pages per role ------------------------------------------------------------------------


def test_pages_need_a_session(browser: Browser) -> None:
    answer = browser.get("/reports/orders?from=2024-04-01")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=/reports/orders")


def test_overview_for_each_role(viewers: Viewers, net: Net) -> None:
    for b in (viewers.operator, viewers.advertiser, viewers.partner):
        html = page(b, "/reports", program_id=net.boots).text
        assert html.count("<h1") == 1
        assert 'role="img"' in html and "<title" in html
        assert "Conversion rate" in html and "EPC" in html and "Refund rate" in html
        assert 'aria-current="page">Overview' in html
        # No inline script or style anywhere (CSP), no external resources.
        assert "<style" not in html and "style=" not in html and " onclick" not in html
        assert not re.search(r'(src|href|action)="(https?:)?//', html)
    # ROI is the advertiser's figure; partners do not get it.
    assert ">ROI<" in page(viewers.advertiser, "/reports", program_id=net.boots).text
    assert ">ROI<" not in page(viewers.partner, "/reports", program_id=net.boots).text


def test_kpis_are_the_orders_totals(http: httpx.Client, viewers: Viewers, net: Net) -> None:
    html = page(viewers.advertiser, "/reports", program_id=net.boots).text
    totals = api(http, net.adv_a_key, "orders", program_id=net.boots).json()["totals"]
    assert [t["currency"] for t in totals] == ["EUR"]
    kpis = totals[0]["kpis"]
    # 3 orders / 6 valid clicks; 1 of the 3 orders refunded (in part).
    assert Decimal(kpis["conversion_rate"]) == Decimal("0.5")
    assert "50.00 %" in html
    assert Decimal(kpis["refund_rate"]) == Decimal("0.3333")
    assert "33.33 %" in html
    assert money(Decimal(kpis["aov"]), "EUR") in html  # 360.00 / 3 = 120.00
    assert money(Decimal("360.00"), "EUR") in html


def test_program_select_lists_only_visible_programs(viewers: Viewers, net: Net) -> None:
    adv = page(viewers.advertiser, "/reports/traffic").text
    assert f'value="{net.boots}"' in adv and f'value="{net.hats}"' in adv
    assert f'value="{net.novels}"' not in adv
    partner = page(viewers.partner, "/reports/traffic").text
    assert f'value="{net.boots}"' in partner and f'value="{net.novels}"' not in partner
    assert 'name="partner_id"' not in partner  # a partner is always itself


def test_partner_sees_only_its_rows(viewers: Viewers, net: Net) -> None:
    html = page(viewers.partner, "/reports/orders", group_by="partner").text
    assert net.p_name in html
    assert net.q_name not in html and net.r_name not in html
    txs = page(viewers.partner, "/reports/transactions", program_id=net.boots).text
    assert "boots-p-1" in txs and "boots-p-2" in txs
    assert "boots-q-1" not in txs and "novels-r-1" not in txs
    # The advertiser sees both of its partners, not advertiser B's.
    adv = page(viewers.advertiser, "/reports/orders", group_by="partner").text
    assert net.p_name in adv and net.q_name in adv and net.r_name not in adv


def test_other_accounts_program_or_partner_is_404(viewers: Viewers, net: Net) -> None:
    answer = viewers.advertiser.get("/reports/orders", params={"program_id": net.novels})
    assert answer.status_code == 404
    assert "program_id" in answer.text
    csv_answer = viewers.advertiser.get("/reports/orders.csv", params={"program_id": net.novels})
    assert csv_answer.status_code == 404
    other = viewers.partner.get("/reports/traffic", params={"partner_id": net.q})
    assert other.status_code == 404 and "partner_id" in other.text
    assert viewers.operator.get("/reports/nonsense").status_code == 404


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"country": "de"},
        {"sub1": "news"},
        {"device": "mobile"},
        {"partner_id": "Q"},
        {"program_id": "BOOTS", "group_by": "partner"},
    ],
)
def test_filters_match_the_api(
    http: httpx.Client, viewers: Viewers, net: Net, filters: dict[str, str]
) -> None:
    names = {"Q": net.q, "BOOTS": net.boots}
    params = {k: names.get(v, v) for k, v in filters.items()}
    for report in ("traffic", "orders", "refunds"):
        answer = page(viewers.advertiser, f"/reports/{report}", **params)
        assert answer.status_code == 200
        mine = viewers.advertiser.get(f"/reports/{report}.csv", params={**PERIOD, **params})
        assert mine.status_code == 200
        theirs = api(http, net.adv_a_key, report, format="csv", **params)
        assert mine.text == theirs.text, report
        assert mine.headers["content-type"].startswith("text/csv")
        data = api(http, net.adv_a_key, report, **params).json()
        html = answer.text
        # The totals row of the table shows the API's totals.
        if report == "traffic":
            assert f'<td class="num">{data["totals"]["clicks"]}</td>' in html
        else:
            for total in data["totals"]:
                amount = total["sales"] if report == "orders" else total["refunded_amount"]
                assert money(Decimal(amount), total["currency"]) in html
        assert len(body_rows(html)) == len(data["rows"])


def test_filters_narrow_the_numbers(http: httpx.Client, viewers: Viewers, net: Net) -> None:
    def clicks(**params: str) -> int:
        html = page(viewers.advertiser, "/reports/traffic", program_id=net.boots, **params).text
        foot = html.split("<tfoot>", 1)[1]
        return int(re.findall(r'<td class="num">([\d,]+)</td>', foot)[0].replace(",", ""))

    assert clicks() == 7
    assert clicks(sub1="news") == 2
    assert clicks(country="DE") == 4
    assert clicks(device="mobile") == 2
    assert clicks(partner_id=net.q) == 2
    assert clicks(**{"from": "2024-04-04", "to": "2024-04-04"}) == 2


def test_sort_and_paging(viewers: Viewers, net: Net) -> None:
    base = {"program_id": net.tags, "group_by": "sub1"}
    first = page(viewers.advertiser, "/reports/traffic", **base).text
    rows = body_rows(first)
    assert len(rows) == 50
    assert "Rows 1\u201350 of 60" in first
    assert "s-00" in rows[0] and "s-49" in rows[-1]
    assert 'rel="next"' in first and 'rel="prev"' not in first
    second = page(viewers.advertiser, "/reports/traffic", page="2", **base).text
    assert len(body_rows(second)) == 10 and "s-50" in body_rows(second)[0]
    assert 'rel="prev"' in second and 'rel="next"' not in second
    by_clicks = page(viewers.advertiser, "/reports/traffic", sort="clicks", dir="desc", **base).text
    top = body_rows(by_clicks)
    assert "s-07" in top[0] and "s-42" in top[1]
    assert 'aria-sort="descending"' in by_clicks
    backwards = page(viewers.advertiser, "/reports/traffic", sort="group", dir="desc", **base)
    assert "s-59" in body_rows(backwards.text)[0]
    # Sorting keeps the filters; the links carry them.
    assert f"program_id={net.tags}" in by_clicks
    bad = viewers.advertiser.get("/reports/traffic", params={**PERIOD, "sort": "nope"})
    assert bad.status_code == 422 and "sort" in bad.text


def test_transactions_keyset_pages(viewers: Viewers, net: Net) -> None:
    first = page(viewers.advertiser, "/reports/transactions", program_id=net.tags).text
    assert len(body_rows(first)) == 50
    found = re.search(r'href="([^"]*cursor=[^"]+)" rel="next"', first)
    assert found
    second = viewers.advertiser.get(found.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    rows = body_rows(second.text)
    assert len(rows) == 5 and "tags-54" in rows[-1]
    assert "First page" in second.text and 'rel="next"' not in second.text


def test_exports_are_injection_safe_and_match_the_table(viewers: Viewers, net: Net) -> None:
    params = {**PERIOD, "program_id": net.boots, "group_by": "sub1"}
    table = page(viewers.partner, "/reports/traffic", **params).text
    got = viewers.partner.get("/reports/traffic.csv", params=params)
    assert got.status_code == 200
    assert (
        got.headers["content-disposition"]
        == 'attachment; filename="traffic-2024-04-01-2024-04-10.csv"'
    )
    rows = csv_rows(got.text)
    assert len(rows) == len(body_rows(table))
    groups = {r["group"] for r in rows}
    assert "'" + EVIL in groups and EVIL not in groups
    xl = viewers.partner.get("/reports/traffic.xlsx", params=params)
    assert xl.status_code == 200
    assert xl.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(xl.content))
    sheet = book["Traffic"]
    lines = list(sheet.iter_rows(values_only=True))
    assert lines[0][:3] == ("group", "label", "clicks")
    assert len(lines) - 1 == len(rows)
    evil = [c for line in sheet.iter_rows(min_row=2) for c in line if c.value == "'" + EVIL]
    assert len(evil) == 1 and evil[0].data_type == "s"
    assert all(isinstance(line[2], int) for line in lines[1:])  # clicks are numbers
    assert list(book["Totals"].iter_rows(values_only=True))[1][2] == 5


def test_orders_xlsx_has_numeric_amounts(viewers: Viewers, net: Net) -> None:
    params = {**PERIOD, "program_id": net.boots, "group_by": "partner", "sort": "sales"}
    table = page(viewers.advertiser, "/reports/orders", **params)
    xl = viewers.advertiser.get("/reports/orders.xlsx", params=params)
    assert xl.status_code == 200
    sheet = load_workbook(io.BytesIO(xl.content))["Orders"]
    header, *lines = list(sheet.iter_rows(values_only=True))
    rows = [dict(zip(header, line, strict=True)) for line in lines]
    # Sorted by sales as on the page: P (160.00) before Q (200.00).
    assert [r["group"] for r in rows] == [net.p, net.q]
    assert rows[0]["sales"] == 160 and isinstance(rows[0]["sales"], int | float)
    assert rows[1]["commission_value"] == 20
    assert isinstance(rows[0]["conversion_rate"], float)
    cells = {c.column_letter: c for c in next(sheet.iter_rows(min_row=2, max_row=2))}
    sales_col = header.index("sales")
    assert '"EUR"' in list(cells.values())[sales_col].number_format
    assert body_rows(table.text)[0].count(net.p_name) == 1
    # Transactions too: amounts are numbers, order ids are text.
    tx = viewers.advertiser.get(
        "/reports/transactions.xlsx", params={**PERIOD, "program_id": net.boots}
    )
    tx_sheet = load_workbook(io.BytesIO(tx.content))["Transactions"]
    head, *tx_lines = list(tx_sheet.iter_rows(values_only=True))
    assert len(tx_lines) == 3
    amounts = [line[head.index("amount")] for line in tx_lines]
    assert sorted(amounts) == [60, 100, 200]


def test_user_data_is_escaped(viewers: Viewers, net: Net) -> None:
    html = page(viewers.advertiser, "/reports/traffic", program_id=net.boots, group_by="sub1").text
    assert XSS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    overview = page(viewers.advertiser, "/reports", program_id=net.boots, breakdown="sub1").text
    assert XSS not in overview and "&lt;img src=x onerror=alert(1)&gt;" in overview


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2024-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2024-04-10", "to": "2024-04-01"}, "from"),
        ({"country": "Germany"}, "country"),
        ({"device": "toaster"}, "device"),
        ({"group_by": "weather"}, "group_by"),
        ({"page": "0"}, "page"),
    ],
)
def test_bad_input_is_a_422_page_naming_the_field(
    viewers: Viewers, params: dict[str, str], field: str
) -> None:
    answer = viewers.advertiser.get("/reports/orders", params=params)
    assert answer.status_code == 422
    assert f"(field: {field})" in answer.text
    assert 'aria-invalid="true"' in answer.text or field in ("group_by", "page")
    export = viewers.advertiser.get("/reports/orders.xlsx", params=params)
    assert export.status_code == 422 and field in export.text


def test_htmx_swaps_the_report_region(viewers: Viewers, net: Net) -> None:
    plain = page(viewers.advertiser, "/reports/orders", program_id=net.boots).text
    assert 'hx-get="/reports/orders"' in plain and 'hx-push-url="true"' in plain
    assert 'hx-select="#report"' in plain and 'id="report"' in plain
    swapped = viewers.advertiser.get(
        "/reports/orders", params={"country": "nope"}, headers={"HX-Request": "true"}
    )
    # htmx swaps no 4xx answer: the error is shown in the region instead.
    assert swapped.status_code == 200 and "(field: country)" in swapped.text


def test_partner_retention_and_lifetime_value_slot(viewers: Viewers, net: Net) -> None:
    adv = page(viewers.advertiser, "/reports", program_id=net.boots).text
    assert "Partner retention" in adv and 'id="kpi-summary"' in adv
    # A partner only ever sees itself: retention says nothing to it.
    assert "Partner retention" not in page(viewers.partner, "/reports").text
