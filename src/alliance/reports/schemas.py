"""Report parameters and answers.

Amounts are `Decimal`, which Pydantic writes as decimal strings in JSON ("12.50"), never as
floats; every amount sits in a row that carries its ISO 4217 `currency`. Ratios (conversion
rate, refund rate, ROI) are decimal strings with 4 places, as fractions (0.0525 = 5.25 %).
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from alliance.errors import InvalidInput

# A bounded period keeps every query bounded (rollup blocks and the raw reference alike).
MAX_PERIOD_DAYS = 400
DEFAULT_PERIOD_DAYS = 30


class TrafficGroup(enum.StrEnum):
    day = "day"  # UTC calendar day of the click
    partner = "partner"
    program = "program"
    link = "link"
    sub1 = "sub1"
    country = "country"  # visitor country from the IP
    device = "device"  # desktop | mobile | tablet | bot | unknown


class OrdersGroup(enum.StrEnum):
    day = "day"  # UTC calendar day the order occurred
    partner = "partner"
    program = "program"
    status = "status"  # the order's current status (pending, completed, declined, refunded)
    country = "country"  # the buyer's country
    device = "device"  # the attributed click's device (none for orders without a click)
    sub1 = "sub1"  # the attributed click's sub1


class RefundsGroup(enum.StrEnum):
    day = "day"  # UTC calendar day of the refund
    partner = "partner"
    program = "program"


class RoiGroup(enum.StrEnum):
    country = "country"  # the buyer's country
    currency = "currency"  # the order's currency (its commission may be in another)


class Device(enum.StrEnum):
    desktop = "desktop"
    mobile = "mobile"
    tablet = "tablet"
    bot = "bot"
    unknown = "unknown"


class ReportFormat(enum.StrEnum):
    json = "json"
    csv = "csv"


def resolve_period(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """Inclusive UTC days. Defaults: the last 30 days ending today."""
    end = end or (today if start is None else max(today, start))
    start = start or end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if start > end:
        raise InvalidInput("`from` must be on or before `to`", field="from")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidInput(
            f"a report covers at most {MAX_PERIOD_DAYS} days; narrow `from`/`to`", field="from"
        )
    return start, end


def parse_day(raw: str | None, field: str) -> date | None:
    """An ISO date (YYYY-MM-DD) from the command line; `field` names it in the refusal."""
    if raw is None or raw == "":
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{field} must be a date such as 2024-05-31", field=field) from None


class ReportHeader(BaseModel):
    """What was asked, after defaults: echoed so a saved answer explains itself."""

    report: Literal["traffic", "orders", "refunds", "transactions", "kpis", "timeseries", "roi"]
    from_: date = Field(serialization_alias="from")
    to: date
    group_by: str | None = None
    filters: dict[str, str] = Field(default_factory=dict)


# --- traffic ----------------------------------------------------------------------------


class TrafficRow(BaseModel):
    group: str | None = Field(description="The group key: a day, an id, a sub-id, ...")
    label: str | None = Field(default=None, description="A readable name for ids")
    clicks: int
    unique_visitors: int = Field(
        description="Unique clicks: the first click of a visitor through a partner in a "
        "program on a UTC day (adds up across rows and days)"
    )
    valid_clicks: int = Field(
        description="Clicks that may earn: not bots, and not from a country the program "
        "does not allow"
    )
    invalid_clicks: int = Field(
        description="clicks - valid_clicks: bots, and visitors from countries the program "
        "does not allow (sent to its fallback URL)"
    )
    bot_clicks: int = Field(
        description="Older name of invalid_clicks, the same number (kept for existing clients; "
        "before geo-targeting every invalid click was a bot)"
    )
    unique_valid_visitors: int = Field(
        description="Unique valid clicks: the first valid click of a visitor through a "
        "partner in a program on a UTC day"
    )


class TrafficReport(ReportHeader):
    rows: list[TrafficRow]
    totals: TrafficRow


# --- orders -----------------------------------------------------------------------------


class CommissionByStatus(BaseModel):
    """Commission on the row's orders, by the commission's status.

    pending, approved, paid: the current value (Σ ledger entries) of commissions in that
    status. declined, reversed: the amount first computed for commissions that were declined
    or reversed (their ledger value is zero). `value` is Σ ledger entries of every commission
    on the row's orders, which equals pending + approved + paid.
    """

    pending: Decimal
    approved: Decimal
    paid: Decimal
    declined: Decimal
    reversed: Decimal
    value: Decimal


class Kpis(BaseModel):
    conversion_rate: Decimal | None = Field(description="orders / valid clicks")
    epc: Decimal | None = Field(description="commission value / valid clicks (4 places)")
    aov: Decimal | None = Field(description="sales / orders")
    refund_rate: Decimal | None = Field(description="refunded orders / orders")
    roi: Decimal | None = Field(
        default=None,
        description="(net sales - commission value) / commission value; advertiser view",
    )


class OrdersRow(BaseModel):
    group: str | None
    label: str | None = None
    currency: str
    orders: int
    refunded_orders: int
    declined_orders: int
    sales: Decimal = Field(description="Σ order amounts as reported (gross)")
    refunded: Decimal = Field(description="Σ refunded amounts (gross, cumulative)")
    declined_sales: Decimal
    net_sales: Decimal = Field(description="Σ (amount - refunded) over orders not declined")
    commission: CommissionByStatus
    valid_clicks: int | None = Field(description="Valid clicks of the group (all currencies)")
    kpis: Kpis


class OrdersReport(ReportHeader):
    rows: list[OrdersRow]
    totals: list[OrdersRow] = Field(description="One row per currency: the KPIs block")


# --- KPIs and charts -------------------------------------------------------------------


class CurrencyKpis(BaseModel):
    """The money KPIs of one currency (orders, sales and commission are never converted)."""

    currency: str
    orders: int
    sales: Decimal = Field(description="Σ order amounts as reported (gross)")
    net_sales: Decimal = Field(description="Σ (amount - refunded) over orders not declined")
    commission: Decimal = Field(description="Σ ledger entries of the orders' commissions")
    kpis: Kpis
    new_customers: int = Field(
        description="Customers (customer ids) whose first order in scope is in the period"
    )
    customer_lifetime_value: Decimal | None = Field(
        description="Average net sales to date (sales - refunds, declined excluded) of the "
        "new customers, in this currency"
    )


class KpiSummary(ReportHeader):
    """The dashboards' headline numbers for a period, scope and filters.

    Partner retention compares the period with the one of equal length just before it.
    Customer lifetime value follows the period and the scope (programs, partner); the sub1,
    country and device filters do not apply to it.
    """

    previous_from: date = Field(description="First day of the previous period")
    previous_to: date
    clicks: int
    valid_clicks: int
    unique_clicks: int
    active_partners: int = Field(description="Partners with a valid click or an order")
    previous_active_partners: int = Field(description="The same in the previous period")
    retained_partners: int = Field(description="Active in both periods")
    partner_retention: Decimal | None = Field(
        description="retained partners / previous active partners (4 places)"
    )
    currencies: list[CurrencyKpis] = Field(description="One entry per currency with orders")


class SeriesPoint(BaseModel):
    day: date
    clicks: int
    valid_clicks: int
    orders: int = Field(description="Orders and leads, all currencies")
    sales: dict[str, Decimal] = Field(description="Σ order amounts per currency")
    commission: dict[str, Decimal] = Field(description="Σ ledger value per currency")


class TimeSeries(ReportHeader):
    """One point per UTC day of the period, days without data included (zeros)."""

    currencies: list[str]
    points: list[SeriesPoint]


class RoiRow(BaseModel):
    group: str | None = Field(
        description="The buyer's country (null: not known), or the order's currency"
    )
    label: str | None = None
    currency: str = Field(description="The currency of revenue and cost")
    orders: int = Field(description="Orders and leads")
    revenue: Decimal = Field(
        description="Net sales: Σ (amount - refunded) over the orders not declined"
    )
    cost: Decimal = Field(
        description="Commission value: Σ ledger entries of every commission on the orders"
    )
    roi: Decimal | None = Field(
        description="(revenue - cost) / cost, 4 places; null when the cost is zero"
    )


class RoiReport(ReportHeader):
    """ROI for the advertiser per buyer country or per order currency. Without `currency`,
    one row per (group, currency), only when every order's commission is in the order's
    own currency; with it, one row per group, converted at each day's ECB rate."""

    rows: list[RoiRow]
    totals: list[RoiRow] = Field(description="One row per currency")


# --- refunds ----------------------------------------------------------------------------


class RefundsRow(BaseModel):
    group: str | None
    label: str | None = None
    currency: str
    refunds: int = Field(description="Refund events (a partial refund counts once)")
    refunded_orders: int = Field(description="Distinct orders with a refund in the period")
    refunded_amount: Decimal = Field(description="Gross amount refunded in the period")
    reversed_commission: Decimal = Field(
        description="Commission taken back (reduction, reversal, adjustment), positive"
    )


class RefundsReport(ReportHeader):
    rows: list[RefundsRow]
    totals: list[RefundsRow]


# --- transactions -----------------------------------------------------------------------


class Named(BaseModel):
    id: str
    name: str | None = None


class StatusChange(BaseModel):
    kind: str
    status: str
    refunded_amount: Decimal | None = None
    note: str | None = None
    occurred_at: datetime


class TransactionCommission(BaseModel):
    id: str
    status: str
    currency: str
    amount: Decimal = Field(description="The amount first computed")
    value: Decimal = Field(description="Current value: Σ ledger entries")
    rule: dict[str, Any]
    arithmetic: str


class ConvertedAmounts(BaseModel):
    """A transaction's money in the currency the report was asked in, each amount converted
    at the ECB rate of the order's UTC day and rounded once (`currency=` on the report)."""

    currency: str
    rate: Decimal = Field(description="Units of `currency` per unit of the order's currency")
    rate_day: date = Field(description="The ECB business day of `rate`")
    amount: Decimal
    net_amount: Decimal
    refunded_amount: Decimal
    commission_rate: Decimal | None = Field(
        description="Units of `currency` per unit of the commission's currency, same day"
    )
    commission_amount: Decimal | None
    commission_value: Decimal | None


class Transaction(BaseModel):
    id: str
    order_id: str
    kind: str
    program: Named
    partner: Named
    occurred_at: datetime
    status: str
    currency: str
    amount: Decimal
    net_amount: Decimal
    refunded_amount: Decimal
    attributed_by: str
    commission: TransactionCommission | None
    click_path: list[dict[str, Any]]
    history: list[StatusChange]
    converted: ConvertedAmounts | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # only in a report asked with `currency`
        description="The money in the report's `currency`; absent when none was asked",
    )


class TransactionsPage(ReportHeader):
    data: list[Transaction]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")
