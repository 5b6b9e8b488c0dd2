"""The report queries called directly on the known network: exact numbers per grouping."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from alliance.commissions.models import LedgerEntry
from alliance.db.engine import reading
from alliance.reports import queries
from alliance.reports.schemas import OrdersGroup, RefundsGroup, TrafficGroup

from .conftest import EVIL, Net

D = Decimal


def q(
    program: str | None = None, partner: str | None = None, filters: queries.Filters | None = None
) -> queries.ReportQuery:
    return queries.ReportQuery(
        date(2024, 3, 1),
        date(2024, 3, 10),
        queries.operator_scope(program, partner),
        filters or queries.Filters(),
    )


def counts(row: object) -> tuple[int, ...]:
    r = row.model_dump()  # type: ignore[attr-defined]
    return (
        r["clicks"],
        r["unique_visitors"],
        r["valid_clicks"],
        r["bot_clicks"],
        r["unique_valid_visitors"],
    )


def test_traffic_by_day_counts_repeat_visitors_once_and_bots_apart(net: Net) -> None:
    with reading() as s:
        report = queries.traffic_report(s, q(net.shoes), TrafficGroup.day)
    # D1: v1 twice, v2, bot b1 twice. D2: v1 (via Y), v2, v3 at 23:59:59.999999.
    assert {r.group: counts(r) for r in report.rows} == {
        "2024-03-01": (5, 3, 3, 2, 2),
        "2024-03-02": (3, 3, 3, 0, 3),
    }
    # Unique clicks are per (program, partner, visitor, day): v1 and v2 came on both days and
    # count once on each, so the totals are the sums of the days.
    assert counts(report.totals) == (8, 6, 6, 2, 5)


def test_traffic_by_partner_sub1_device_country_link(net: Net) -> None:
    with reading() as s:
        by_partner = queries.traffic_report(s, q(net.shoes), TrafficGroup.partner)
        by_sub1 = queries.traffic_report(s, q(net.shoes), TrafficGroup.sub1)
        by_device = queries.traffic_report(s, q(net.shoes), TrafficGroup.device)
        by_country = queries.traffic_report(s, q(net.shoes), TrafficGroup.country)
        by_link = queries.traffic_report(s, q(net.shoes), TrafficGroup.link)
    assert {(r.group, r.label): counts(r) for r in by_partner.rows} == {
        (net.x, "Xavier Deals"): (6, 4, 4, 2, 3),
        (net.y, "Yolanda Blog"): (2, 2, 2, 0, 2),
    }
    assert {r.group: counts(r) for r in by_sub1.rows} == {
        None: (3, 2, 1, 2, 1),
        "news": (3, 2, 3, 0, 2),
        EVIL: (1, 1, 1, 0, 1),
        "@promo": (1, 1, 1, 0, 1),
    }
    assert by_sub1.rows[0].group is None  # the "no sub-id" row comes first
    assert {r.group: counts(r) for r in by_device.rows} == {
        "desktop": (2, 1, 2, 0, 1),
        "mobile": (3, 3, 3, 0, 3),
        "bot": (2, 1, 0, 2, 0),
        "tablet": (1, 1, 1, 0, 1),
    }
    assert {r.group: counts(r) for r in by_country.rows} == {
        "DE": (3, 2, 3, 0, 2),
        "FR": (3, 3, 3, 0, 3),
        "US": (2, 1, 0, 2, 0),
    }
    link_x = next(r for r in by_link.rows if r.group == net.link_x)
    assert counts(link_x) == (6, 4, 4, 2, 3)
    assert link_x.label is not None and link_x.label.endswith("spring")


def test_traffic_filters(net: Net) -> None:
    with reading() as s:
        mobile = queries.traffic_report(
            s, q(net.shoes, filters=queries.Filters(device="mobile")), TrafficGroup.day
        )
        news_x = queries.traffic_report(
            s, q(net.shoes, net.x, queries.Filters(sub1="news", country="DE")), TrafficGroup.day
        )
    assert counts(mobile.totals) == (3, 3, 3, 0, 3)
    assert counts(news_x.totals) == (2, 1, 2, 0, 1)
    assert news_x.filters == {
        "sub1": "news",
        "country": "DE",
        "program_id": net.shoes,
        "partner_id": net.x,
    }


def test_orders_by_day_with_commission_by_status_and_kpis(net: Net) -> None:
    with reading() as s:
        report = queries.orders_report(s, q(net.shoes), OrdersGroup.day)
    rows = {r.group: r for r in report.rows}
    assert set(rows) == {"2024-03-01", "2024-03-02"}
    d1, d2 = rows["2024-03-01"], rows["2024-03-02"]
    # D1: o-1 (100, approved 8), o-5 (60, fully refunded, reversed 5), lead-1 (approved 1.50).
    assert (d1.currency, d1.orders, d1.refunded_orders, d1.declined_orders) == ("EUR", 3, 1, 0)
    assert (d1.sales, d1.refunded, d1.declined_sales, d1.net_sales) == (
        D("160.00"),
        D("60.00"),
        D("0.00"),
        D("100.00"),
    )
    assert d1.commission.model_dump() == {
        "pending": D("0.00"),
        "approved": D("9.50"),
        "paid": D("0.00"),
        "declined": D("0.00"),
        "reversed": D("5.00"),
        "value": D("9.50"),
    }
    assert d1.valid_clicks == 3
    assert d1.kpis.model_dump() == {
        "conversion_rate": D("1.0000"),
        "epc": D("3.1667"),
        "aov": D("53.33"),
        "refund_rate": D("0.3333"),
        "roi": D("9.5263"),
    }
    # D2: o-2 (50 pending 4), o-3 (200, 50 refunded, 16 - 4 = 12 pending), o-4 (30 declined).
    assert (d2.orders, d2.refunded_orders, d2.declined_orders) == (3, 1, 1)
    assert (d2.sales, d2.refunded, d2.declined_sales, d2.net_sales) == (
        D("280.00"),
        D("50.00"),
        D("30.00"),
        D("200.00"),
    )
    assert d2.commission.model_dump() == {
        "pending": D("16.00"),
        "approved": D("0.00"),
        "paid": D("0.00"),
        "declined": D("2.50"),
        "reversed": D("0.00"),
        "value": D("16.00"),
    }
    [total] = report.totals
    assert (total.currency, total.orders, total.sales, total.net_sales) == (
        "EUR",
        6,
        D("440.00"),
        D("300.00"),
    )
    assert total.commission.value == D("25.50")
    assert total.kpis.model_dump() == {
        "conversion_rate": D("1.0000"),
        "epc": D("4.2500"),
        "aov": D("73.33"),
        "refund_rate": D("0.3333"),
        "roi": D("10.7647"),
    }


def test_orders_commission_reconciles_with_the_ledger(net: Net) -> None:
    """Σ commission over statuses in the orders report == Σ ledger entries, to the cent."""
    in_period = [net.commissions[o] for o in ("o-1", "o-2", "o-3", "o-4", "o-5", "lead-1")]
    with reading() as s:
        report = queries.orders_report(s, q(net.shoes), OrdersGroup.partner)
        entries = s.scalars(
            select(LedgerEntry.amount).where(LedgerEntry.commission_id.in_(in_period))
        ).all()
    ledger = sum(entries, D(0))
    [total] = report.totals
    c = total.commission
    assert c.pending + c.approved + c.paid == ledger == c.value == D("25.50")
    assert sum((r.commission.value for r in report.rows), D(0)) == ledger


def test_orders_by_partner_and_by_status(net: Net) -> None:
    with reading() as s:
        by_partner = queries.orders_report(s, q(net.shoes), OrdersGroup.partner)
        by_status = queries.orders_report(s, q(net.shoes), OrdersGroup.status)
    x = next(r for r in by_partner.rows if r.group == net.x)
    y = next(r for r in by_partner.rows if r.group == net.y)
    assert (x.label, x.orders, x.sales, x.commission.value, x.valid_clicks) == (
        "Xavier Deals",
        4,
        D("210.00"),
        D("13.50"),
        4,
    )
    assert (y.orders, y.sales, y.commission.value, y.commission.declined, y.valid_clicks) == (
        2,
        D("230.00"),
        D("12.00"),
        D("2.50"),
        2,
    )
    assert {r.group: r.orders for r in by_status.rows} == {
        "completed": 3,
        "pending": 1,
        "declined": 1,
        "refunded": 1,
    }
    assert all(r.valid_clicks is None and r.kpis.conversion_rate is None for r in by_status.rows)


def test_orders_filtered_by_attributed_click_and_buyer_country(net: Net) -> None:
    with reading() as s:
        news = queries.orders_report(
            s, q(net.shoes, filters=queries.Filters(sub1="news")), OrdersGroup.day
        )
        fr = queries.orders_report(
            s, q(net.shoes, filters=queries.Filters(country="FR")), OrdersGroup.day
        )
    # sub1=news: o-1 (click c2) and o-2 (click c8); the lead has no click at all.
    assert [(t.orders, t.sales) for t in news.totals] == [(2, D("150.00"))]
    assert [(t.orders, t.sales) for t in fr.totals] == [(2, D("110.00"))]  # o-2, o-5


def test_orders_of_an_advertiser_are_per_currency(net: Net) -> None:
    scope = queries.Scope((net.shoes, net.bags), None)
    with reading() as s:
        report = queries.orders_report(
            s, queries.ReportQuery(date(2024, 3, 1), date(2024, 3, 10), scope), OrdersGroup.program
        )
    assert [(r.group, r.currency, r.orders) for r in report.rows] == sorted(
        [(net.shoes, "EUR", 6), (net.bags, "USD", 1)]
    )
    assert [(t.currency, t.sales, t.commission.pending) for t in report.totals] == [
        ("EUR", D("440.00"), D("16.00")),
        ("USD", D("120.00"), D("12.00")),
    ]


def test_refunds_count_the_step_of_each_refund_event(net: Net) -> None:
    with reading() as s:
        by_day = queries.refunds_report(s, q(net.shoes), RefundsGroup.day)
        by_partner = queries.refunds_report(s, q(net.shoes), RefundsGroup.partner)
    # o-3 partial 50.00 (-4.00), o-5 full 60.00 after payout (-5.00 adjustment), and o-8's
    # second refund: cumulative 40.00 minus the 10.00 refunded in February = 30.00 (-3.00).
    assert [
        (r.group, r.refunds, r.refunded_amount, r.reversed_commission) for r in by_day.rows
    ] == [
        ("2024-03-05", 1, D("50.00"), D("4.00")),
        ("2024-03-06", 1, D("60.00"), D("5.00")),
        ("2024-03-07", 1, D("30.00"), D("3.00")),
    ]
    [total] = by_day.totals
    assert (
        total.refunds,
        total.refunded_orders,
        total.refunded_amount,
        total.reversed_commission,
    ) == (3, 3, D("140.00"), D("12.00"))
    assert {r.group: (r.refunded_amount, r.reversed_commission) for r in by_partner.rows} == {
        net.x: (D("90.00"), D("8.00")),
        net.y: (D("50.00"), D("4.00")),
    }


def test_refunds_in_february_only_see_the_first_step(net: Net) -> None:
    period = queries.ReportQuery(
        date(2024, 2, 1), date(2024, 2, 29), queries.operator_scope(net.shoes)
    )
    with reading() as s:
        report = queries.refunds_report(s, period, RefundsGroup.program)
    assert [(r.refunds, r.refunded_amount, r.reversed_commission) for r in report.rows] == [
        (1, D("10.00"), D("1.00"))
    ]


def test_transactions_carry_commission_path_and_history(net: Net) -> None:
    with reading() as s:
        page = queries.transactions_page(s, q(net.shoes), limit=100)
    assert [t.order_id for t in page.data] == ["o-1", "o-5", "lead-1", "o-2", "o-3", "o-4"]
    o3 = next(t for t in page.data if t.order_id == "o-3")
    assert o3.commission is not None
    assert (o3.commission.amount, o3.commission.value, o3.commission.status) == (
        D("16.00"),
        D("12.00"),
        "pending",
    )
    assert o3.commission.arithmetic.startswith("10% of 160")
    assert [(h.kind, h.status, h.refunded_amount) for h in o3.history] == [
        ("created", "pending", None),
        ("completed", "completed", None),
        ("refund", "completed", D("50.00")),
    ]
    assert [p["verdict"] for p in o3.click_path] == ["won", "lost"]
    assert page.next_cursor is None


def test_transactions_paginate_without_gaps_or_repeats(net: Net) -> None:
    seen: list[str] = []
    cursor = None
    with reading() as s:
        for _ in range(10):
            page = queries.transactions_page(s, q(net.shoes), cursor=cursor, limit=4)
            seen += [t.order_id for t in page.data]
            cursor = page.next_cursor
            if cursor is None:
                break
        total = s.scalar(select(func.count()).select_from(LedgerEntry))
    assert seen == ["o-1", "o-5", "lead-1", "o-2", "o-3", "o-4"]
    assert total  # the ledger is not empty: the page queries read real rows
