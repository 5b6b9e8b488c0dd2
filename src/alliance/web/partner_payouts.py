"""/partner/payouts: what the partner will be paid, what is held and why, and every payout
with its statement, its self-billing invoice and its lines.

Balances are the ledger's, in the payout currency at each commission's approval-day ECB rate
(commissions/service.py `payout_balances`); a payout's lines keep the original amount, its
currency, the rate and the rate's day (DESIGN §2 Money: the original next to the converted).
A partner reaches only its own payouts: another partner's id answers 404, as in the API.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.models import Partner
from alliance.api.scoping import get_visible
from alliance.clock import as_utc, utcnow
from alliance.commissions.models import Commission
from alliance.commissions.service import payout_balances
from alliance.conversions.models import Conversion
from alliance.db.engine import reading
from alliance.ids import PREFIXES
from alliance.payouts.models import (
    Payout,
    PayoutLine,
    PayoutRun,
    PayoutSettings,
    PayoutStatus,
    TaxProfile,
)
from alliance.programs.models import Program
from alliance.settings import get_settings
from alliance.web.partner_common import percent_text, query_url
from alliance.web.payouts_common import (
    METHODS,
    SCHEDULES,
    Reason,
    document_response,
    label,
    money_list,
    next_period_end,
    rate_text,
    reasons_in_words,
)
from alliance.web.sessions import PartnerPage, Viewer
from alliance.web.templating import render

router = APIRouter()

ZERO = Decimal(0)
HISTORY_PAGE = 24  # a year of twice-monthly payouts
LINES_PAGE = 100
PageNumber = Annotated[int, Query(ge=1, le=10_000)]


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    approved: Decimal  # the next payout, before the threshold decides
    paid: Decimal


@dataclass(frozen=True, slots=True)
class Held:
    payout: Payout
    reasons: list[Reason]
    changed_since: bool  # the partner edited its details after the run that held it


@dataclass(frozen=True, slots=True)
class HistoryRow:
    payout: Payout
    origins: list[tuple[str, Decimal]]  # the lines' original money, per currency


def _balances(session: Session, partner: Partner) -> list[Balance]:
    found = payout_balances(session, partner.id)
    approved, paid = found.get("approved", {}), found.get("paid", {})
    currencies = sorted(set(approved) | set(paid) | {partner.payout_currency})
    # The current payout currency first; an earlier one keeps its money until it is paid.
    currencies.sort(key=lambda c: c != partner.payout_currency)
    return [Balance(c, approved.get(c, ZERO), paid.get(c, ZERO)) for c in currencies]


def _details_changed_at(session: Session, partner_id: str) -> datetime | None:
    stamps = [
        as_utc(row.updated_at)
        for row in (session.get(PayoutSettings, partner_id), session.get(TaxProfile, partner_id))
        if row is not None
    ]
    return max(stamps) if stamps else None


def _held(session: Session, partner_id: str) -> list[Held]:
    changed_at = _details_changed_at(session, partner_id)
    rows = session.execute(
        select(Payout, PayoutRun.started_at)
        .join(PayoutRun, PayoutRun.id == Payout.run_id)
        .where(Payout.partner_id == partner_id, Payout.status == PayoutStatus.held.value)
        .order_by(Payout.period_end.desc(), Payout.id)
    ).all()
    return [
        Held(
            payout,
            reasons_in_words(payout.hold_reason),
            changed_at is not None and changed_at > as_utc(started_at),
        )
        for payout, started_at in rows
    ]


def _origins(session: Session, payout_ids: list[str]) -> dict[str, list[tuple[str, Decimal]]]:
    """Each payout's lines added up per original currency (in Python: SQLite's SUM() would
    go through floats)."""
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    if payout_ids:
        for payout_id, currency, amount in session.execute(
            select(PayoutLine.payout_id, PayoutLine.currency, PayoutLine.amount).where(
                PayoutLine.payout_id.in_(payout_ids)
            )
        ):
            sums[payout_id][currency] += amount
    return {pid: sorted(per.items()) for pid, per in sums.items()}


def _history(session: Session, partner_id: str, page: int) -> tuple[list[HistoryRow], bool]:
    found = list(
        session.scalars(
            select(Payout)
            .where(Payout.partner_id == partner_id, Payout.status != PayoutStatus.held.value)
            .order_by(Payout.period_end.desc(), Payout.created_at.desc(), Payout.id.desc())
            .offset((page - 1) * HISTORY_PAGE)
            .limit(HISTORY_PAGE + 1)
        )
    )
    more = len(found) > HISTORY_PAGE
    found = found[:HISTORY_PAGE]
    origins = _origins(session, [p.id for p in found])
    return [HistoryRow(p, origins.get(p.id, [])) for p in found], more


@router.get("/partner/payouts", response_class=HTMLResponse)
def payouts_page(request: Request, viewer: PartnerPage, page: PageNumber = 1) -> Response:
    today = utcnow().date()
    with reading() as session:
        partner = session.get(Partner, viewer.account_id)
        assert partner is not None  # the viewer's own account
        settings = session.get(PayoutSettings, partner.id)
        has_tax_profile = session.get(TaxProfile, partner.id) is not None
        balances = _balances(session, partner)
        held = _held(session, partner.id)
        history, more = _history(session, partner.id, page)
    schedule = settings.schedule if settings else None
    if settings is not None:
        threshold = (settings.threshold, partner.payout_currency, False)
    else:
        threshold = (get_settings().payout_default_threshold_eur, "EUR", True)
    context: dict[str, Any] = {
        "partner": partner,
        "settings": settings,
        "has_tax_profile": has_tax_profile,
        "schedule_label": label(SCHEDULES, schedule or "monthly"),
        "method_label": label(METHODS, settings.method) if settings else None,
        "threshold": threshold,
        "period_end": next_period_end(schedule, today),
        "balances": balances,
        "held": held,
        "history": history,
        "origins_joined": money_list,
        "prev_url": query_url("/partner/payouts", page=page - 1) if page > 1 else None,
        "next_url": query_url("/partner/payouts", page=page + 1) if more else None,
    }
    return render(request, "partner/payouts.html", context)


# --- one payout ------------------------------------------------------------------------------


def _own_payout(session: Session, viewer: Viewer, payout_id: str) -> Payout:
    return get_visible(
        session,
        Payout,
        payout_id,
        Payout.partner_id == viewer.account_id,
        prefix=PREFIXES["payout"],
        what="payout",
    )


@dataclass(frozen=True, slots=True)
class LineRow:
    line: PayoutLine
    program: str
    order_id: str | None


@router.get("/partner/payouts/{payout_id}", response_class=HTMLResponse)
def payout_page(
    request: Request, viewer: PartnerPage, payout_id: str, page: PageNumber = 1
) -> Response:
    with reading() as session:
        payout = _own_payout(session, viewer, payout_id)
        rows = session.execute(
            select(PayoutLine, Program.name, Conversion.order_id)
            .join(Commission, Commission.id == PayoutLine.commission_id)
            .outerjoin(Conversion, Conversion.id == Commission.conversion_id)
            .outerjoin(Program, Program.id == PayoutLine.program_id)
            .where(PayoutLine.payout_id == payout.id)
            .order_by(PayoutLine.id)
            .offset((page - 1) * LINES_PAGE)
            .limit(LINES_PAGE + 1)
        ).all()
        origins = _origins(session, [payout.id]).get(payout.id, [])
    more = len(rows) > LINES_PAGE
    lines = [LineRow(line, name or line.program_id, order) for line, name, order in rows]
    path = f"/partner/payouts/{payout.id}"
    context = {
        "payout": payout,
        "lines": lines[:LINES_PAGE],
        "origins": origins,
        "origins_joined": money_list,
        "rate_text": rate_text,
        "percent_text": percent_text,
        "reasons": reasons_in_words(payout.hold_reason),
        "method_label": label(METHODS, payout.method) if payout.method else None,
        "prev_url": query_url(path, page=page - 1) if page > 1 else None,
        "next_url": query_url(path, page=page + 1) if more else None,
    }
    return render(request, "partner/payout.html", context)


@router.get("/partner/payouts/{payout_id}/statement.pdf")
def statement_pdf(viewer: PartnerPage, payout_id: str) -> Response:
    with reading() as session:
        return document_response(session, _own_payout(session, viewer, payout_id), "statement")


@router.get("/partner/payouts/{payout_id}/invoice.pdf")
def invoice_pdf(viewer: PartnerPage, payout_id: str) -> Response:
    with reading() as session:
        return document_response(session, _own_payout(session, viewer, payout_id), "invoice")
