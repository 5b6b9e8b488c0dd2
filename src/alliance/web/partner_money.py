"""Earnings and the statement: the partner's money, always read from the ledger.

A commission's value is the sum of its ledger entries, where the money sits is the sum per
bucket (commissions/service.py `balances`), and nothing here stores or mutates a total.
Amounts are added as `Decimal` in Python: SQLite keeps them as text and its SUM() would go
through floats.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from alliance.api.fields import is_public_id
from alliance.api.scoping import visible_commissions
from alliance.clock import as_utc
from alliance.commissions.models import Commission, CommissionStatus, LedgerEntry
from alliance.commissions.service import balances
from alliance.conversions.models import Conversion
from alliance.crosspromo.referral_rules import MAX_LEVELS
from alliance.db.engine import reading
from alliance.errors import InvalidInput
from alliance.money import round_money
from alliance.programs.models import Program
from alliance.reports.export import csv_lines
from alliance.reports.queries import decode_cursor, encode_cursor
from alliance.web.partner_common import day_after, day_start, parse_day, query_url
from alliance.web.payouts_common import money_list
from alliance.web.sessions import PartnerPage, Viewer
from alliance.web.templating import render

router = APIRouter()

ZERO = Decimal(0)
STATUSES = tuple(s.value for s in CommissionStatus)  # pending, approved, declined, reversed, paid
SHOWN_STATUSES = ("pending", "approved", "paid", "reversed", "declined")
BUCKETS = ("pending", "approved", "paid")
STATEMENT_PAGE = 50
CSV_BATCH = 1000


# --- earnings ----------------------------------------------------------------------------


@dataclass(slots=True)
class StatusLine:
    """Commissions in one status and currency: how many, what they first earned, what they
    are worth now (Σ ledger entries)."""

    count: int = 0
    earned: Decimal = ZERO
    value: Decimal = ZERO

    @property
    def taken_back(self) -> Decimal:
        return self.earned - self.value


@dataclass(slots=True)
class ProgramLine:
    """A program's commissions in one currency, by status, as the orders report counts them:
    pending, approved, paid at their current value; declined, reversed at the amount lost."""

    by_status: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    value: Decimal = ZERO


Converted = dict[str, dict[str, list[tuple[str, Decimal]]]]


@dataclass(frozen=True, slots=True)
class Earnings:
    currencies: list[str]
    by_status: dict[str, dict[str, StatusLine]]  # currency -> status -> line
    buckets: dict[str, dict[str, Decimal]]  # currency -> bucket -> Σ entries
    totals: dict[str, Decimal]  # currency -> Σ of every entry
    programs: list[tuple[str, str, str, ProgramLine]]  # (program id, name, currency, line)
    # currency -> bucket (approved, paid) or status -> [(payout currency, Σ payout_amount)]:
    # the same money in the payout currency at each commission's approval rate. Only where
    # that currency differs, and only when every entry has its value (none lacks a rate).
    converted_buckets: Converted = field(default_factory=dict)
    converted_status: Converted = field(default_factory=dict)


def _converted(
    groups: dict[tuple[str, str], dict[str, Decimal]], incomplete: set[tuple[str, str]]
) -> Converted:
    out: Converted = defaultdict(dict)
    for (currency, key), per in groups.items():
        shown = sorted((pc, amount) for pc, amount in per.items() if pc != currency)
        if shown and (currency, key) not in incomplete:
            out[currency][key] = shown
    return dict(out)


def earnings_of(session: Session, partner_id: str) -> Earnings:
    ledger = balances(session, partner_id)
    buckets: dict[str, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(BUCKETS, ZERO))
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for bucket, per_currency in ledger.items():
        for currency, amount in per_currency.items():
            buckets[currency][bucket] = buckets[currency].get(bucket, ZERO) + amount
            totals[currency] += amount
    values: dict[str, Decimal] = defaultdict(Decimal)
    payable: list[tuple[str, str, Decimal | None]] = []  # approved and paid: (id, bucket, value)
    for commission_id, amount, bucket, payout_amount in session.execute(
        select(
            LedgerEntry.commission_id,
            LedgerEntry.amount,
            LedgerEntry.bucket,
            LedgerEntry.payout_amount,
        ).where(LedgerEntry.partner_id == partner_id)
    ):
        values[commission_id] += amount
        if bucket in ("approved", "paid"):
            payable.append((commission_id, bucket, payout_amount))
    by_status: dict[str, dict[str, StatusLine]] = defaultdict(
        lambda: {s: StatusLine() for s in SHOWN_STATUSES}
    )
    per_program: dict[tuple[str, str], ProgramLine] = defaultdict(ProgramLine)
    rows = session.execute(
        select(
            Commission.id,
            Commission.status,
            Commission.currency,
            Commission.amount,
            Commission.program_id,
            Commission.payout_currency,
        ).where(Commission.partner_id == partner_id)
    )
    about: dict[str, tuple[str, str, str | None]] = {}  # id -> (currency, status, payout cur.)
    for cid, status, currency, amount, program_id, payout_currency in rows:
        about[cid] = (currency, status, payout_currency)
        value = values.get(cid, ZERO)
        line = by_status[currency].setdefault(status, StatusLine())
        line.count += 1
        line.earned += amount
        line.value += value
        program = per_program[(program_id, currency)]
        program.value += value
        lost = status in (CommissionStatus.declined, CommissionStatus.reversed)
        program.by_status[status] += amount if lost else value
    names = dict(
        session.execute(
            select(Program.id, Program.name).where(
                Program.id.in_(sorted({p for p, _ in per_program}))
            )
        ).all()
    )
    # The approved and paid money in the payout currency, by bucket and by status.
    per_bucket: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(
        lambda: defaultdict(Decimal)
    )
    per_status: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(
        lambda: defaultdict(Decimal)
    )
    incomplete: tuple[set[tuple[str, str]], set[tuple[str, str]]] = (set(), set())
    for cid, bucket, payout_amount in payable:
        if cid not in about:
            continue
        currency, status, payout_currency = about[cid]
        for groups, missing, key in (
            (per_bucket, incomplete[0], (currency, bucket)),
            (per_status, incomplete[1], (currency, status)),
        ):
            if payout_amount is None or payout_currency is None:
                missing.add(key)
            else:
                groups[key][payout_currency] += payout_amount
    currencies = sorted(set(by_status) | set(buckets))
    return Earnings(
        currencies=currencies,
        by_status={c: by_status[c] for c in currencies},
        buckets={c: buckets[c] for c in currencies},
        totals={c: totals[c] for c in currencies},
        programs=sorted(
            ((p, names.get(p, p), c, line) for (p, c), line in per_program.items()),
            key=lambda row: (row[1].lower(), row[2]),
        ),
        converted_buckets=_converted(per_bucket, incomplete[0]),
        converted_status=_converted(per_status, incomplete[1]),
    )


@router.get("/partner/earnings", response_class=HTMLResponse)
def earnings_page(request: Request, viewer: PartnerPage) -> Response:
    with reading() as session:
        earnings = earnings_of(session, viewer.account_id)
    return render(
        request,
        "partner/earnings.html",
        {
            "earnings": earnings,
            "statuses": SHOWN_STATUSES,
            "buckets": BUCKETS,
            "money_list": money_list,
        },
    )


# --- statement ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatementFilters:
    status: str = ""
    program_id: str = ""
    start: date | None = None
    end: date | None = None

    def conditions(self, viewer: Viewer) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = [visible_commissions(viewer.principal)]
        if self.status:
            found.append(Commission.status == self.status)
        if self.program_id:
            found.append(Commission.program_id == self.program_id)
        if self.start is not None:
            found.append(Commission.occurred_at >= day_start(self.start))
        if self.end is not None:
            found.append(Commission.occurred_at < day_after(self.end))
        return found

    def params(self) -> dict[str, str]:
        return {
            "status": self.status,
            "program_id": self.program_id,
            "from": self.start.isoformat() if self.start else "",
            "to": self.end.isoformat() if self.end else "",
        }


def statement_filters(
    status: Annotated[str, Query(max_length=16)] = "",
    program_id: Annotated[str, Query(max_length=40)] = "",
    from_: Annotated[str, Query(alias="from", max_length=40)] = "",
    to: Annotated[str, Query(max_length=40)] = "",
) -> StatementFilters:
    if status and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    if program_id and not is_public_id(program_id, "prg"):
        raise InvalidInput("no such program", field="program_id")
    start, end = parse_day(from_, "from"), parse_day(to, "to")
    if start and end and start > end:
        raise InvalidInput("`from` must be on or before `to`", field="from")
    return StatementFilters(status, program_id, start, end)


@dataclass(frozen=True, slots=True)
class StatementLine:
    commission: Commission
    order_id: str | None
    program: str
    value: Decimal
    entries: list[LedgerEntry]
    # Referral overrides this commission earned the partner's recruiters: (level, amount,
    # who pays it). Paid on top, never taken from the partner.
    overrides: list[tuple[int, Decimal, str]] = field(default_factory=list)

    @property
    def rule_text(self) -> str:
        return json.dumps(self.commission.rule or {}, indent=2, sort_keys=True, default=str)


def _page(
    session: Session, viewer: Viewer, filters: StatementFilters, cursor: str | None, limit: int
) -> tuple[list[tuple[Commission, str | None]], str | None]:
    """Newest first by (occurred_at, id), keyset-paged: a cursor stays right while new
    commissions arrive."""
    statement = (
        select(Commission, Conversion.order_id)
        .outerjoin(Conversion, Conversion.id == Commission.conversion_id)
        .where(*filters.conditions(viewer))
    )
    if cursor is not None:
        at, last_id = decode_cursor(cursor)
        statement = statement.where(
            or_(
                Commission.occurred_at < at,
                and_(Commission.occurred_at == at, Commission.id < last_id),
            )
        )
    rows: list[tuple[Commission, str | None]] = [
        (row[0], row[1])
        for row in session.execute(
            statement.order_by(Commission.occurred_at.desc(), Commission.id.desc()).limit(limit + 1)
        )
    ]
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1][0]
        return rows, encode_cursor(last.occurred_at, last.id)
    return rows, None


def _lines(session: Session, rows: Sequence[tuple[Commission, str | None]]) -> list[StatementLine]:
    ids = [c.id for c, _ in rows]
    entries: dict[str, list[LedgerEntry]] = defaultdict(list)
    if ids:
        for entry in session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.commission_id.in_(ids))
            .order_by(LedgerEntry.created_at, LedgerEntry.id)
        ):
            entries[entry.commission_id].append(entry)
    names = dict(
        session.execute(
            select(Program.id, Program.name).where(
                Program.id.in_(sorted({c.program_id for c, _ in rows}))
            )
        ).all()
    )
    overrides: dict[str, list[tuple[int, Decimal, str]]] = defaultdict(list)
    keys = [f"ref:{i}:{level}" for i in ids for level in range(1, MAX_LEVELS + 1)]
    for chunk in (keys[i : i + 500] for i in range(0, len(keys), 500)):
        for override in session.scalars(select(Commission).where(Commission.source_key.in_(chunk))):
            _ref, underlying, level = override.source_key.split(":")
            overrides[underlying].append(
                (
                    int(level),
                    round_money(override.amount, override.currency),
                    override.funded_by or "",
                )
            )
    return [
        StatementLine(
            commission=c,
            order_id=order_id,
            program=names.get(c.program_id, c.program_id),
            value=round_money(sum((e.amount for e in entries[c.id]), ZERO), c.currency),
            entries=entries[c.id],
            overrides=sorted(overrides[c.id]),
        )
        for c, order_id in rows
    ]


def _programs_of(session: Session, viewer: Viewer) -> list[tuple[str, str]]:
    """Programs the partner has commissions in, for the filter."""
    ids = select(Commission.program_id).where(Commission.partner_id == viewer.account_id)
    return [
        (pid, name)
        for pid, name in session.execute(
            select(Program.id, Program.name).where(Program.id.in_(ids)).order_by(Program.name)
        ).all()
    ]


@router.get("/partner/statement", response_class=HTMLResponse)
def statement_page(
    request: Request,
    viewer: PartnerPage,
    status: Annotated[str, Query(max_length=16)] = "",
    program_id: Annotated[str, Query(max_length=40)] = "",
    from_: Annotated[str, Query(alias="from", max_length=40)] = "",
    to: Annotated[str, Query(max_length=40)] = "",
    cursor: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    filters = statement_filters(status, program_id, from_, to)
    with reading() as session:
        rows, next_cursor = _page(session, viewer, filters, cursor or None, STATEMENT_PAGE)
        lines = _lines(session, rows)
        programs = _programs_of(session, viewer)
    params = filters.params()
    return render(
        request,
        "partner/statement.html",
        {
            "lines": lines,
            "filters": params,
            "programs": programs,
            "statuses": [(s, s) for s in SHOWN_STATUSES],
            "csv_url": query_url("/partner/statement.csv", **params),
            "first_url": query_url("/partner/statement", **params) if cursor else None,
            "next_url": query_url("/partner/statement", **params, cursor=next_cursor)
            if next_cursor
            else None,
        },
    )


CSV_COLUMNS = (
    "commission_id",
    "order_id",
    "kind",
    "program_id",
    "program_name",
    "occurred_at",
    "status",
    "currency",
    "amount",
    "value",
    "terms_version",
    "rule",
    "arithmetic",
    "approvable_at",
    "approved_at",
)


def _record(line: StatementLine) -> dict[str, Any]:
    c = line.commission
    return {
        "commission_id": c.id,
        "order_id": line.order_id,
        "kind": c.kind,
        "program_id": c.program_id,
        "program_name": line.program,
        "occurred_at": as_utc(c.occurred_at).isoformat(),
        "status": c.status,
        "currency": c.currency,
        "amount": round_money(c.amount, c.currency),
        "value": line.value,
        "terms_version": c.terms_version,
        "rule": json.dumps(c.rule or {}, separators=(",", ":"), sort_keys=True, default=str),
        "arithmetic": c.arithmetic,
        "approvable_at": as_utc(c.approvable_at).isoformat() if c.approvable_at else None,
        "approved_at": as_utc(c.approved_at).isoformat() if c.approved_at else None,
    }


def _csv(viewer: Viewer, filters: StatementFilters) -> Iterator[str]:
    """The whole statement, a batch per short read transaction, newest first."""

    def records() -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            with reading() as session:
                rows, cursor = _page(session, viewer, filters, cursor, CSV_BATCH)
                lines = _lines(session, rows)
            yield from (_record(line) for line in lines)
            if cursor is None:
                return

    return csv_lines(CSV_COLUMNS, records())


@router.get("/partner/statement.csv")
def statement_csv(
    viewer: PartnerPage,
    status: Annotated[str, Query(max_length=16)] = "",
    program_id: Annotated[str, Query(max_length=40)] = "",
    from_: Annotated[str, Query(alias="from", max_length=40)] = "",
    to: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    filters = statement_filters(status, program_id, from_, to)
    return StreamingResponse(
        _csv(viewer, filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="statement.csv"'},
    )
