"""The dashboards' headline numbers and charts for a ReportQuery, from the rollups.

- `kpi_summary`: clicks, partner retention (period over the previous period of equal
  length) and, per currency, orders, sales, commission, the KPIs of the orders report and
  customer lifetime value.
- `time_series`: one point per day (clicks, valid clicks, orders, sales, commission).

`kpi_summary_raw` computes the same from the raw tables: the tests compare the two.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alliance.conversions.models import Conversion, ConversionKind
from alliance.reports import cube, queries, rollups
from alliance.reports.models import ANY_PARTNER, ORDER_MEASURES, CustomerCohort
from alliance.reports.schemas import (
    CurrencyKpis,
    KpiSummary,
    OrdersGroup,
    SeriesPoint,
    TimeSeries,
    TrafficGroup,
)

Counts = dict[Any, list[int]]
# ORDER_MEASURES (money in micro-units) per (group key, currency)
Orders = dict[tuple[str | None, str], list[int]]
# (customers, orders, net sales in micro-units) per currency
CustomerTotals = dict[str, list[int]]


def previous_period(q: queries.ReportQuery) -> queries.ReportQuery:
    """The period of equal length just before `q`'s, same scope and filters."""
    length = (q.end - q.start).days + 1
    return queries.ReportQuery(
        q.start - timedelta(days=length), q.start - timedelta(days=1), q.scope, q.filters
    )


def _active_partners(traffic: Counts, orders: Orders) -> set[str]:
    """Partners with a valid click or an order (an order's own row: earner = partner)."""
    active = {str(k) for k, v in traffic.items() if v[1] > 0}
    active |= {str(k) for (k, _), values in orders.items() if values[0] > 0}
    return active


def _summary(
    session: Session,
    q: queries.ReportQuery,
    traffic: Callable[[queries.ReportQuery, TrafficGroup], Counts],
    orders: Callable[[queries.ReportQuery, OrdersGroup], Orders],
    customers: Callable[[queries.ReportQuery], CustomerTotals],
) -> KpiSummary:
    before = previous_period(q)
    traffic_now, orders_now = traffic(q, TrafficGroup.partner), orders(q, OrdersGroup.partner)
    now_active = _active_partners(traffic_now, orders_now)
    then_active = _active_partners(
        traffic(before, TrafficGroup.partner), orders(before, OrdersGroup.partner)
    )
    retained = now_active & then_active
    # Everything here adds up across partners: the totals are sums of the partner rows.
    clicks = sum(v[0] for v in traffic_now.values())
    valid = sum(v[1] for v in traffic_now.values())
    unique = sum(v[2] for v in traffic_now.values())
    by_currency = queries.totals_by_currency(orders_now.items())
    new_customers = customers(q)
    roi = q.scope.sees_roi
    entries = []
    empty = [0] * len(ORDER_MEASURES)
    for cur in sorted(set(by_currency) | set(new_customers)):
        values = by_currency.get(cur, empty)
        count, _, net = new_customers.get(cur, [0, 0, 0])
        entries.append(
            CurrencyKpis(
                currency=cur,
                orders=values[ORDER_MEASURES.index("orders")],
                sales=queries.money_of(values[ORDER_MEASURES.index("sales")], cur),
                net_sales=queries.money_of(values[ORDER_MEASURES.index("net_sales")], cur),
                commission=queries.money_of(values[ORDER_MEASURES.index("commission_value")], cur),
                kpis=queries._kpis(values, cur, valid, roi),
                new_customers=count,
                customer_lifetime_value=queries.round_money(rollups.from_micros(net) / count, cur)
                if count
                else None,
            )
        )
    return KpiSummary(
        report="kpis",
        from_=q.start,
        to=q.end,
        filters=q.echo_filters(),
        previous_from=before.start,
        previous_to=before.end,
        clicks=clicks,
        valid_clicks=valid,
        unique_clicks=unique,
        active_partners=len(now_active),
        previous_active_partners=len(then_active),
        retained_partners=len(retained),
        partner_retention=queries._ratio(len(retained), len(then_active)),
        currencies=entries,
    )


def kpi_summary(session: Session, q: queries.ReportQuery) -> KpiSummary:
    """Headline KPIs for a period, scope and filters (from the rollups)."""
    return _summary(
        session,
        q,
        lambda r, g: queries.traffic_counts(session, r, g),
        lambda r, g: queries.orders_counts(session, r, g),
        lambda r: customer_totals(session, r),
    )


def kpi_summary_raw(session: Session, q: queries.ReportQuery) -> KpiSummary:
    """The same from the raw tables: the reference for the rollups."""
    return _summary(
        session,
        q,
        lambda r, g: queries.traffic_counts_raw(session, r, g),
        lambda r, g: queries.orders_counts_raw(session, r, g),
        lambda r: customer_totals_raw(session, r),
    )


# --- customer lifetime value ----------------------------------------------------------------


def _in_cohort(q: queries.ReportQuery, program_id: str, scope: str, first_day: date) -> bool:
    wanted = q.scope.partner_id or ANY_PARTNER
    programs = q.scope.program_ids
    return (
        scope == wanted
        and (programs is None or program_id in programs)
        and q.start <= first_day <= q.end
    )


def customer_totals(session: Session, q: queries.ReportQuery) -> CustomerTotals:
    """(new customers, their orders, their net sales to date) per currency: customers whose
    first order in scope falls in the period. From the cohorts, with the customers of
    buckets still logged as changed taken from the raw tables."""
    stmt = (
        select(
            CustomerCohort.currency,
            func.sum(CustomerCohort.customers),
            func.sum(CustomerCohort.orders),
            func.sum(CustomerCohort.net_sales),
        )
        .where(
            CustomerCohort.partner_id == (q.scope.partner_id or ANY_PARTNER),
            CustomerCohort.first_day >= q.start,
            CustomerCohort.first_day <= q.end,
        )
        .group_by(CustomerCohort.currency)
    )
    if q.scope.program_ids is not None:
        stmt = stmt.where(CustomerCohort.program_id.in_(q.scope.program_ids))
    found: CustomerTotals = {
        r[0]: [int(r[1] or 0), int(r[2] or 0), int(r[3] or 0)] for r in session.execute(stmt)
    }
    # A change on any day can move a customer's first order or add to its net sales.
    stale = cube.stale_buckets(session, None, None, q.scope.program_ids)
    if not stale:
        return found
    affected = _customers_in(session, stale)
    for (program_id, _, scope, cur), (_, first_day, orders, net) in rollups.stored_customers(
        session, affected
    ).items():
        if _in_cohort(q, program_id, scope, first_day):
            _add(found, cur, [-1, -orders, -net])
    for (program_id, _, scope, cur), (first_day, orders, net) in rollups.customer_facts(
        session, affected
    ).items():
        if _in_cohort(q, program_id, scope, first_day):
            _add(found, cur, [1, orders, net])
    return {cur: v for cur, v in found.items() if v[0]}


def _add(target: CustomerTotals, cur: str, values: list[int]) -> None:
    row = target.setdefault(cur, [0, 0, 0])
    for i, v in enumerate(values):
        row[i] += v


def _customers_in(session: Session, buckets: dict[date, list[str]]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for part in rollups.bucket_parts(buckets):
        rows = session.execute(
            select(Conversion.program_id, Conversion.customer_id).where(
                *rollups.conversion_where(part), Conversion.customer_id.is_not(None)
            )
        )
        found |= {(p, c) for p, c in rows if c}
    return found


def customer_totals_raw(session: Session, q: queries.ReportQuery) -> CustomerTotals:
    """The same from the raw table alone (every customer of the programs in scope)."""
    stmt = (
        select(Conversion.program_id, Conversion.customer_id)
        .where(
            Conversion.customer_id.is_not(None),
            Conversion.kind == ConversionKind.sale.value,
        )
        .distinct()
    )
    if q.scope.program_ids is not None:
        stmt = stmt.where(Conversion.program_id.in_(q.scope.program_ids))
    customers = {(p, c) for p, c in session.execute(stmt) if c}
    found: CustomerTotals = {}
    for (program_id, _, scope, cur), (first_day, orders, net) in rollups.customer_facts(
        session, customers
    ).items():
        if _in_cohort(q, program_id, scope, first_day):
            _add(found, cur, [1, orders, net])
    return found


# --- charts ---------------------------------------------------------------------------------


def time_series(session: Session, q: queries.ReportQuery) -> TimeSeries:
    """One point per UTC day of the period: clicks, valid clicks, orders, sales and
    commission per currency (from the rollups; days without data are zeros)."""
    traffic = queries.traffic_counts(session, q, TrafficGroup.day)
    orders = queries.orders_counts(session, q, OrdersGroup.day)
    return _series(q, traffic, orders.items())


def _series(
    q: queries.ReportQuery, traffic: Counts, orders: Iterable[tuple[tuple[Any, str], list[int]]]
) -> TimeSeries:
    by_day: dict[str, dict[str, list[int]]] = defaultdict(dict)
    currencies: set[str] = set()
    for (day, cur), values in orders:
        by_day[str(day)][cur] = values
        currencies.add(cur)
    orders_at, sales_at = ORDER_MEASURES.index("orders"), ORDER_MEASURES.index("sales")
    value_at = ORDER_MEASURES.index("commission_value")
    points = []
    day = q.start
    while day <= q.end:
        key = day.isoformat()
        counts = traffic.get(key, [0, 0, 0, 0])
        accs = by_day.get(key, {})
        points.append(
            SeriesPoint(
                day=day,
                clicks=counts[0],
                valid_clicks=counts[1],
                orders=sum(values[orders_at] for values in accs.values()),
                sales={cur: queries.money_of(accs[cur][sales_at], cur) for cur in sorted(accs)},
                commission={
                    cur: queries.money_of(accs[cur][value_at], cur) for cur in sorted(accs)
                },
            )
        )
        day += timedelta(days=1)
    return TimeSeries(
        report="timeseries",
        from_=q.start,
        to=q.end,
        group_by="day",
        filters=q.echo_filters(),
        currencies=sorted(currencies),
        points=points,
    )
