"""The dashboards' headline numbers and charts for a ReportQuery, from the rollups.

- `kpi_summary`: clicks, partner retention (period over the previous period of equal
  length) and, per currency, orders, sales, commission, the KPIs of the orders report and
  customer lifetime value.
- `time_series`: one point per day (clicks, valid clicks, orders, sales, commission).

`kpi_summary_raw` computes the same from the raw tables: the tests compare the two.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pycountry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alliance.conversions.models import Conversion, ConversionKind
from alliance.errors import Forbidden, InvalidInput
from alliance.reports import convert, cube, queries, rollups
from alliance.reports.models import ANY_PARTNER, ORDER_MEASURES, CustomerCohort
from alliance.reports.schemas import (
    CurrencyKpis,
    KpiSummary,
    OrdersGroup,
    RoiGroup,
    RoiReport,
    RoiRow,
    SeriesPoint,
    TimeSeries,
    TrafficGroup,
)

Counts = dict[Any, list[int]]
# ORDER_MEASURES (money in micro-units; converted: exact Decimal micro-units) per (group key,
# currency)
Orders = Mapping[tuple[str | None, str], queries.Measures]
# (customers, orders, net sales in micro-units) per currency
CustomerTotals = dict[str, list[int]]


def previous_period(q: queries.ReportQuery) -> queries.ReportQuery:
    """The period of equal length just before `q`'s, same scope and filters (its money is
    not converted: only which partners were active is read from it)."""
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
    customers: Callable[[queries.ReportQuery], Mapping[str, queries.Measures]],
) -> KpiSummary:
    with convert.exact(q.fx):
        return _summary_of(session, q, traffic, orders, customers)


def _summary_of(
    session: Session,
    q: queries.ReportQuery,
    traffic: Callable[[queries.ReportQuery, TrafficGroup], Counts],
    orders: Callable[[queries.ReportQuery, OrdersGroup], Orders],
    customers: Callable[[queries.ReportQuery], Mapping[str, queries.Measures]],
) -> KpiSummary:
    before = previous_period(q)
    # Who was active needs no conversion: the partner rows in their own currencies.
    plain = replace(q, fx=None)
    traffic_now, orders_now = traffic(q, TrafficGroup.partner), orders(plain, OrdersGroup.partner)
    now_active = _active_partners(traffic_now, orders_now)
    then_active = _active_partners(
        traffic(before, TrafficGroup.partner), orders(before, OrdersGroup.partner)
    )
    retained = now_active & then_active
    # Everything here adds up across partners: the totals are sums of the partner rows.
    clicks = sum(v[0] for v in traffic_now.values())
    valid = sum(v[1] for v in traffic_now.values())
    unique = sum(v[2] for v in traffic_now.values())
    if q.fx is None:
        by_currency = queries.totals_by_currency(orders_now.items())
    else:
        # In one currency each day is converted at its own rate: the days of the smallest
        # grain, ungrouped, rather than every partner's days.
        by_currency = queries.totals_by_currency(queries.orders_counts(session, q, None).items())
    new_customers = customers(q)
    roi = q.scope.sees_roi
    entries = []
    empty = [0] * len(ORDER_MEASURES)
    for cur in sorted(set(by_currency) | set(new_customers)):
        values = by_currency.get(cur, empty)
        count, _, net = new_customers.get(cur, (0, 0, 0))
        count = int(count)
        entries.append(
            CurrencyKpis(
                currency=cur,
                orders=values[ORDER_MEASURES.index("orders")],
                sales=queries.money_of(values[ORDER_MEASURES.index("sales")], cur),
                net_sales=queries.money_of(values[ORDER_MEASURES.index("net_sales")], cur),
                commission=queries.money_of(values[ORDER_MEASURES.index("commission_value")], cur),
                kpis=queries._kpis(values, cur, valid, roi),
                new_customers=count,
                customer_lifetime_value=queries.round_money(queries._units(net) / count, cur)
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
    """The same from the raw tables: the reference for the rollups (unconverted: pass a
    query without fx)."""
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


def customer_totals(session: Session, q: queries.ReportQuery) -> Mapping[str, queries.Measures]:
    """(new customers, their orders, their net sales to date) per currency: customers whose
    first order in scope falls in the period. From the cohorts, with the customers of
    buckets still logged as changed taken from the raw tables.

    Converted (q.fx): one entry in the target currency. Net sales to date are kept per
    cohort (the customers' first day), not per day of each order, so a cohort's net sales
    are converted at the rate of its first day; customers are added across currencies."""
    if q.fx is None:
        return {cur: v for (cur, _), v in _cohorts(session, q, daily=False).items()}
    cohorts = _cohorts(session, q, daily=True)
    daily = {(None, str(day), cur): v for (cur, day), v in cohorts.items()}
    return {cur: v for (_, cur), v in convert.by_day(session, q.fx, daily, _NET).items()}


_NET = frozenset({2})  # the money position of (customers, orders, net sales)


def _cohorts(
    session: Session, q: queries.ReportQuery, *, daily: bool
) -> dict[tuple[str, str | None], list[int]]:
    """(customers, orders, net sales) per (currency, first day as ISO text or None)."""
    first_day = CustomerCohort.first_day
    keys = [CustomerCohort.currency, *([first_day] if daily else [])]
    stmt = (
        select(
            *keys,
            func.sum(CustomerCohort.customers),
            func.sum(CustomerCohort.orders),
            func.sum(CustomerCohort.net_sales),
        )
        .where(
            CustomerCohort.partner_id == (q.scope.partner_id or ANY_PARTNER),
            first_day >= q.start,
            first_day <= q.end,
        )
        .group_by(*keys)
    )
    if q.scope.program_ids is not None:
        stmt = stmt.where(CustomerCohort.program_id.in_(q.scope.program_ids))
    found: dict[tuple[str, str | None], list[int]] = {}
    row: Any
    for row in session.execute(stmt):
        found[(row[0], _day_key(row[1]) if daily else None)] = [int(v or 0) for v in row[-3:]]
    # A change on any day can move a customer's first order or add to its net sales.
    stale = cube.stale_buckets(session, None, None, q.scope.program_ids)
    if not stale:
        return found
    affected = _customers_in(session, stale)
    for (program_id, _, scope, cur), (_, first, orders, net) in rollups.stored_customers(
        session, affected
    ).items():
        if _in_cohort(q, program_id, scope, first):
            _add(found, (cur, _day_key(first) if daily else None), [-1, -orders, -net])
    for (program_id, _, scope, cur), (first, orders, net) in rollups.customer_facts(
        session, affected
    ).items():
        if _in_cohort(q, program_id, scope, first):
            _add(found, (cur, _day_key(first) if daily else None), [1, orders, net])
    return {k: v for k, v in found.items() if v[0]}


def _day_key(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _add(target: dict[Any, list[int]], key: Any, values: list[int]) -> None:
    row = target.setdefault(key, [0, 0, 0])
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
    q: queries.ReportQuery,
    traffic: Counts,
    orders: Iterable[tuple[tuple[Any, str], queries.Measures]],
) -> TimeSeries:
    by_day: dict[str, dict[str, queries.Measures]] = defaultdict(dict)
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
                orders=sum(int(values[orders_at]) for values in accs.values()),
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


# --- ROI per buyer country and per order currency ---------------------------------------------

_ORDERS_AT = ORDER_MEASURES.index("orders")
_NET_AT = ORDER_MEASURES.index("net_sales")
_VALUE_AT = ORDER_MEASURES.index("commission_value")
# (orders, revenue, cost): revenue and cost are money
_ROI_MONEY = frozenset({1, 2})
# (group key, UTC day or None, the currency of the amounts) -> (orders, revenue, cost); the
# day is None for amounts that need no rate (in the currency asked, or none asked)
Legs = dict[tuple[str | None, str | None, str], list[int]]


def roi_report(session: Session, q: queries.ReportQuery, group: RoiGroup) -> RoiReport:
    """ROI for the advertiser, (revenue - cost) / cost, per buyer country or per order
    currency: revenue is net sales (what the store kept), cost the commission value (Σ
    ledger entries), as the orders report's `roi`.

    Converted (q.fx): one row per group in that currency, each day's revenue and cost at
    that day's ECB rate. Not converted: one row per (group, currency); refused (422,
    `currency`) when an order's commission is in another currency than the order, since
    revenue and cost could then only be compared once converted. Partners do not see ROI.
    """
    if not q.scope.sees_roi:
        raise Forbidden("ROI is the advertiser's figure: partners do not see it")
    legs = _roi_legs(session, q, group)
    with convert.exact(q.fx):
        same = {(key, cur): v for (key, day, cur), v in legs.items() if day is None}
        if q.fx is None:
            found: Mapping[tuple[str | None, str], queries.Measures] = same
        else:
            daily = {(key, day, cur): v for (key, day, cur), v in legs.items() if day}
            found = convert.by_day(session, q.fx, daily, _ROI_MONEY, same)
        totals: dict[str, list[int | Decimal]] = {}
        for (_, cur), values in found.items():
            queries.add_counts(totals.setdefault(cur, [0, Decimal(0), Decimal(0)]), values)
        labels = _country_names(group, (key for key, _ in found))
        return RoiReport(
            report="roi",
            from_=q.start,
            to=q.end,
            group_by=group.value,
            filters=q.echo_filters(),
            rows=[
                _roi_row(key, labels.get(key or ""), cur, values)
                for (key, cur), values in sorted(
                    found.items(), key=lambda kv: (queries._sort_key(kv[0][0]), kv[0][1])
                )
                if any(values)
            ],
            totals=[_roi_row(None, None, cur, v) for cur, v in sorted(totals.items()) if any(v)],
        )


def _roi_row(key: str | None, label: str | None, currency: str, values: queries.Measures) -> RoiRow:
    orders, revenue, cost = values
    return RoiRow(
        group=key,
        label=label,
        currency=currency,
        orders=int(orders),
        revenue=queries.money_of(revenue, currency),
        cost=queries.money_of(cost, currency),
        # Both in micro-units: the scale cancels out. No cost: no ratio (null), never 1/0.
        roi=queries._ratio(revenue - cost, cost),
    )


def _country_names(group: RoiGroup, keys: Iterable[str | None]) -> dict[str, str]:
    if group is not RoiGroup.country:
        return {}
    found: dict[str, str] = {}
    for key in keys:
        country = pycountry.countries.get(alpha_2=key) if key else None
        if country is not None:
            found[str(key)] = country.name
    return found


def _roi_legs(session: Session, q: queries.ReportQuery, group: RoiGroup) -> Legs:
    """(orders, revenue, cost) per (group key, day, currency of the amounts); days only for
    the amounts to convert. Read from the orders rollups, where a commission sits under the
    buyer's country but under its own currency: for a breakdown by order currency,
    commissions in another currency than their order are moved to their order's group
    (queries.foreign_commissions)."""
    s = queries.slice_of(q)
    target = q.fx.currency if q.fx is not None else None
    dim = "country" if group is RoiGroup.country else None
    legs: Legs = {}

    def leg(key: Any, day: str | None, cur: str, values: list[int]) -> None:
        group_key = key if group is RoiGroup.country else cur
        _add(legs, (group_key, day, cur), [values[_ORDERS_AT], values[_NET_AT], values[_VALUE_AT]])

    # Rows in the target currency (all of them, unconverted) need no day: their blocks.
    for (key, cur), values in cube.orders(session, s, dim).items():
        if target is None or cur == target:
            leg(key, None, cur, values)
    if target is not None:
        for (key, on, cur), values in cube.orders_by_day(session, s, dim, target).items():
            leg(key, on, cur, values)
        if group is RoiGroup.country:
            return legs
    foreign = queries.foreign_commissions(session, q)
    if foreign and target is None:
        pairs = sorted({f"{f.order_currency} -> {f.currency}" for f in foreign})
        raise InvalidInput(
            "some orders earn commission in another currency than their own ("
            + ", ".join(pairs[:6])
            + ("" if len(pairs) <= 6 else ", ...")
            + "): give `currency` to compare revenue and cost in one currency",
            field="currency",
        )
    for f in foreign:
        day = None if f.currency == target else f.day  # as the rows it moves from
        _add(legs, (f.currency, day, f.currency), [0, 0, -f.value])
        _add(legs, (f.order_currency, day, f.currency), [0, 0, f.value])
    return legs
