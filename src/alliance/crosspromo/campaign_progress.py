"""A campaign's progress against its goals, read from the raw tables by the campaign's links.

Period: from the campaign's `starts_at` to its `ends_at` (or now, while it runs).
- clicks: the valid clicks (not bots, not refused by country) through the slots' links in
  the period; all clicks are given too;
- orders: sales attributed to those links' clicks (conversions.click_id), placed in the
  period and not declined;
- revenue: those orders' amounts less what was refunded of them, converted into the goal's
  currency at the ECB reference rate of each order's day (as reports convert: payouts/fx.py);
  an order in a currency the ECB does not quote is left out of the converted total and listed
  under `unconverted`.

Reads go through the (partner_id, occurred_at) index of clicks with the campaign's link
ids as a filter, and conversions.click_id: a campaign has a handful of links, so the rows
read are its own clicks, never a program's whole traffic.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from alliance.clock import as_utc, utcnow
from alliance.conversions.models import Conversion, ConversionKind, ConversionStatus
from alliance.crosspromo.campaign_models import Campaign, CampaignSlot
from alliance.crosspromo.campaign_rules import percent_of
from alliance.money import round_money
from alliance.payouts import fx
from alliance.tracking.models import Click, Link, valid_click


@dataclass(slots=True)
class LinkFigures:
    """One slot's link in the period."""

    slot_id: str
    link_id: str
    clicks: int = 0
    valid_clicks: int = 0
    orders: int = 0
    revenue: dict[str, Decimal] = field(default_factory=dict)  # currency -> amount


@dataclass(frozen=True, slots=True)
class GoalProgress:
    metric: str  # clicks | orders | revenue
    target: Decimal
    value: Decimal
    percent: Decimal | None  # of the target, one decimal; may pass 100
    currency: str | None  # revenue only


@dataclass(frozen=True, slots=True)
class Progress:
    campaign_id: str
    start: datetime | None  # None: the campaign has no period yet (nothing counted)
    end_before: datetime | None
    clicks: int
    valid_clicks: int
    orders: int
    revenue_by_currency: dict[str, Decimal]
    revenue: Decimal | None  # in `currency`, when the campaign has a revenue goal
    currency: str | None
    unconverted: dict[str, Decimal]  # currencies the ECB does not quote: not in `revenue`
    goals: list[GoalProgress]
    slots: list[LinkFigures]


def _period(campaign: Campaign, now: datetime) -> tuple[datetime, datetime] | None:
    if campaign.starts_at is None:
        return None
    start = as_utc(campaign.starts_at)
    end = as_utc(campaign.ends_at) if campaign.ends_at is not None else now
    end = min(end, now)
    return (start, end) if end > start else (start, start)


def progress(session: Session, campaign: Campaign, now: datetime | None = None) -> Progress:
    now = now or utcnow()
    slot_links = list(
        session.execute(
            select(CampaignSlot.id, CampaignSlot.link_id)
            .where(CampaignSlot.campaign_id == campaign.id)
            .order_by(CampaignSlot.starts_at, CampaignSlot.id)
        ).all()
    )
    figures = {link_id: LinkFigures(slot_id, link_id) for slot_id, link_id in slot_links}
    period = _period(campaign, now)
    converted: Decimal | None = None
    unconverted: dict[str, Decimal] = {}
    if period is not None and figures:
        converted, unconverted = _count(session, campaign, figures, *period)
    rows = list(figures.values())
    clicks = sum(r.clicks for r in rows)
    valid = sum(r.valid_clicks for r in rows)
    orders = sum(r.orders for r in rows)
    by_currency: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        for code, amount in row.revenue.items():
            by_currency[code] += amount
    currency = campaign.goal_currency if campaign.goal_revenue is not None else None
    revenue = None
    if currency is not None:
        revenue = round_money(converted if converted is not None else Decimal(0), currency)
    goals = []
    if campaign.goal_clicks is not None:
        goals.append(_goal("clicks", campaign.goal_clicks, valid, None))
    if campaign.goal_orders is not None:
        goals.append(_goal("orders", campaign.goal_orders, orders, None))
    if campaign.goal_revenue is not None and revenue is not None:
        goals.append(_goal("revenue", campaign.goal_revenue, revenue, currency))
    return Progress(
        campaign_id=campaign.id,
        start=period[0] if period else None,
        end_before=period[1] if period else None,
        clicks=clicks,
        valid_clicks=valid,
        orders=orders,
        revenue_by_currency=dict(sorted(by_currency.items())),
        revenue=revenue,
        currency=currency,
        unconverted=unconverted,
        goals=goals,
        slots=rows,
    )


def _goal(
    metric: str, target: Decimal | int, value: Decimal | int, currency: str | None
) -> GoalProgress:
    return GoalProgress(
        metric, Decimal(target), Decimal(value), percent_of(value, target), currency
    )


def _count(
    session: Session,
    campaign: Campaign,
    figures: dict[str, LinkFigures],
    start: datetime,
    end_before: datetime,
) -> tuple[Decimal | None, dict[str, Decimal]]:
    """Fill `figures` from clicks and orders; the revenue converted into the goal currency."""
    link_ids = list(figures)
    partner_ids = list(
        session.scalars(select(Link.partner_id).where(Link.id.in_(link_ids)).distinct())
    )
    in_links = (
        Click.partner_id.in_(partner_ids),  # the (partner_id, occurred_at) index
        Click.link_id.in_(link_ids),
    )
    valid = valid_click(Click.is_bot, Click.invalid_reason)
    counted = session.execute(
        select(Click.link_id, func.count(), func.sum(case((valid, 1), else_=0)))
        .where(*in_links, Click.occurred_at >= start, Click.occurred_at < end_before)
        .group_by(Click.link_id)
    )
    for link_id, clicks, valid_clicks in counted:
        figures[link_id].clicks = int(clicks)
        figures[link_id].valid_clicks = int(valid_clicks or 0)
    # Orders of the links' clicks placed in the period (the click may be older), summed in
    # Python: amounts are exact text on SQLite and SQL's SUM would go through float.
    orders = session.execute(
        select(
            Click.link_id,
            Conversion.currency,
            Conversion.amount,
            Conversion.refunded_amount,
            Conversion.occurred_at,
        )
        .join(Conversion, Conversion.click_id == Click.id)
        .where(
            *in_links,
            Conversion.kind == ConversionKind.sale.value,
            Conversion.status != ConversionStatus.declined.value,
            Conversion.occurred_at >= start,
            Conversion.occurred_at < end_before,
        )
    ).all()
    target = campaign.goal_currency if campaign.goal_revenue is not None else None
    book = fx.RateBook(start.date(), end_before.date()) if target else None
    total: Decimal | None = Decimal(0) if target else None
    unconverted: dict[str, Decimal] = defaultdict(Decimal)
    for link_id, currency, amount, refunded, occurred_at in orders:
        kept = amount - (refunded or Decimal(0))
        row = figures[link_id]
        row.orders += 1
        row.revenue[currency] = row.revenue.get(currency, Decimal(0)) + kept
        if target is None or total is None or book is None:
            continue
        if currency == target:
            total += kept
            continue
        try:
            quote = book.quote(session, currency, target, as_utc(occurred_at).date())
        except fx.NoRate:
            unconverted[currency] += kept
            continue
        total += kept * quote.rate
    return total, dict(unconverted)
