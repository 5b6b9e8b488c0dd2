"""/api/v1/payouts, /api/v1/payout-runs, the partner's payout and tax details, and the
network's own details (docs/payouts.md).

Operators preview, run and follow payouts; partners read their own payouts, download their
statements and invoices, and keep their details. Advertisers have no part in payouts: the
network pays partners.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from alliance.accounts.models import AccountKind, Partner
from alliance.accounts.service import Principal
from alliance.api.deps import OperatorOnly, PartnerOnly, ReadDB, require
from alliance.api.fields import PartnerId, amount_text
from alliance.api.pagination import Page, PageQuery, fetch_page, given
from alliance.api.scoping import get_visible
from alliance.db.engine import transaction
from alliance.errors import NotFound
from alliance.payouts import paperwork, profiles
from alliance.payouts import service as payouts
from alliance.payouts.models import (
    NetworkProfile,
    Payout,
    PayoutLine,
    PayoutRun,
    PayoutSettings,
    PayoutStatus,
    TaxProfile,
)

router = APIRouter(prefix="/api/v1", tags=["payouts"])

PayoutReader = Annotated[Principal, require(AccountKind.operator, AccountKind.partner)]


def _visible(who: Principal) -> ColumnElement[bool]:
    return true() if who.is_operator else Payout.partner_id == who.id


class PayoutOut(BaseModel):
    id: str
    run_id: str
    partner_id: str
    period: str
    period_start: date
    period_end: date
    currency: str = Field(description="The partner's payout currency")
    amount: str = Field(description="Σ lines, net of VAT; never negative")
    vat_rate: str | None = Field(description="Percent, domestic VAT only")
    vat_amount: str | None = Field(description="Domestic VAT on the invoice, if any")
    status: PayoutStatus
    hold_reason: str | None
    method: str | None
    destination: dict[str, Any]
    invoice_number: str | None
    line_count: int
    failure_reason: str | None
    created_at: datetime
    settled_at: datetime | None
    sent_at: datetime | None
    paid_at: datetime | None
    failed_at: datetime | None

    @classmethod
    def of(cls, row: Payout) -> PayoutOut:
        # Amounts as exact strings in the currency's minor unit (PostgreSQL hands NUMERIC
        # back with six decimals), as every other amount of the API.
        return cls(
            **{name: getattr(row, name) for name in cls.model_fields if name not in _MONEY},
            amount=amount_text(row.amount, row.currency),
            vat_rate=None if row.vat_rate is None else f"{row.vat_rate.normalize():f}",
            vat_amount=None
            if row.vat_amount is None
            else amount_text(row.vat_amount, row.currency),
        )


_MONEY = frozenset({"amount", "vat_rate", "vat_amount"})


class PayoutLineOut(BaseModel):
    commission_id: str
    program_id: str
    currency: str = Field(description="The program currency")
    amount: str
    payout_amount: str = Field(description="In the payout currency, at `rate`")
    rate: str | None = Field(description="The ECB rate of the commission's approval day")
    rate_day: date | None

    @classmethod
    def of(cls, line: PayoutLine, payout_currency: str) -> PayoutLineOut:
        return cls(
            commission_id=line.commission_id,
            program_id=line.program_id,
            currency=line.currency,
            amount=amount_text(line.amount, line.currency),
            payout_amount=amount_text(line.payout_amount, payout_currency),
            rate=None if line.rate is None else f"{line.rate.normalize():f}",
            rate_day=line.rate_day,
        )


class PayoutDetail(PayoutOut):
    lines: list[PayoutLineOut]


class RunOut(BaseModel):
    id: str
    through: date
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    outcome: dict[str, Any]


class RunRequest(BaseModel):
    through: date | None = Field(
        default=None, description="Settle periods closed by this day; default yesterday (UTC)"
    )
    partner_ids: list[str] | None = Field(default=None, description="Only these partners")


class StatusChange(BaseModel):
    status: Literal["sent", "paid", "failed"]
    reason: str | None = Field(default=None, max_length=500, description="Required for failed")


class PayoutSettingsIn(BaseModel):
    payout_currency: str
    schedule: Literal["monthly", "twice_monthly"]
    threshold: Decimal
    method: Literal["bank_transfer", "paypal"]
    account_holder: str | None = None
    iban: str | None = None
    bic: str | None = None
    paypal_email: str | None = None


class PayoutSettingsOut(PayoutSettingsIn):
    updated_at: datetime


class TaxProfileIn(BaseModel):
    entity: Literal["business", "individual"]
    legal_name: str
    address: str
    country: str
    vat_id: str | None = None
    tax_id: str | None = None
    vat_rate: Decimal | None = Field(default=None, description="Percent; domestic VAT only")
    us_tax_form: Literal["W-9", "W-8BEN", "W-8BEN-E"] | None = None
    us_tax_form_signed_on: date | None = None


class TaxProfileOut(TaxProfileIn):
    updated_at: datetime


class NetworkProfileIn(BaseModel):
    legal_name: str
    address: str
    country: str
    vat_id: str | None = None
    payer_iban: str | None = None
    payer_bic: str | None = None


class NetworkProfileOut(NetworkProfileIn):
    updated_at: datetime


# --- payouts ---------------------------------------------------------------------------------


@router.get("/payouts", response_model=Page[PayoutOut])
def list_payouts(
    db: ReadDB,
    caller: PayoutReader,
    page: PageQuery,
    partner_id: PartnerId | None = None,
    run_id: Annotated[str | None, Query(max_length=40)] = None,
    payout_status: Annotated[PayoutStatus | None, Query(alias="status")] = None,
) -> Page[PayoutOut]:
    """Payouts, newest first: all of them for the operator, its own for a partner."""
    conditions = [_visible(caller)]
    conditions += given(
        (Payout.partner_id, partner_id), (Payout.run_id, run_id), (Payout.status, payout_status)
    )
    rows, cursor = fetch_page(db, select(Payout).where(*conditions), Payout.id, page)
    return Page(data=[PayoutOut.of(row) for row in rows], next_cursor=cursor)


def _visible_payout(db: Session, caller: Principal, payout_id: str) -> Payout:
    return get_visible(db, Payout, payout_id, _visible(caller), prefix="pay", what="payout")


@router.get("/payouts/{payout_id}", response_model=PayoutDetail)
def get_payout(payout_id: str, db: ReadDB, caller: PayoutReader) -> PayoutDetail:
    """A payout with every commission line: the original amount and currency, the ECB rate
    of the approval day, and the amount in the payout currency."""
    row = _visible_payout(db, caller, payout_id)
    lines = db.scalars(
        select(PayoutLine).where(PayoutLine.payout_id == row.id).order_by(PayoutLine.id)
    )
    return PayoutDetail(
        **PayoutOut.of(row).model_dump(),
        lines=[PayoutLineOut.of(line, row.currency) for line in lines],
    )


@router.post("/payouts/{payout_id}/status", response_model=PayoutOut)
def change_status(payout_id: str, body: StatusChange, caller: OperatorOnly) -> PayoutOut:
    """Follow a payout: `sent` when the file went to the bank or PayPal, `paid` when it is
    confirmed, `failed` (with a reason) when it bounced: its money returns to the partner's
    balance. The same status again is a replay; an illegal move is 409."""
    with transaction() as session:
        get_visible(session, Payout, payout_id, true(), prefix="pay", what="payout")
        row = payouts.mark(session, payout_id, body.status, reason=body.reason)
        answer = PayoutOut.of(row)
    return answer


def _pdf(content: bytes, name: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/payouts/{payout_id}/statement.pdf", response_class=Response)
def statement(payout_id: str, db: ReadDB, caller: PayoutReader) -> Response:
    """The payout's statement: every commission line with its original amount and rate."""
    row = _visible_payout(db, caller, payout_id)
    return _pdf(paperwork.statement_pdf(db, row.id), f"statement-{row.id}.pdf")


@router.get("/payouts/{payout_id}/invoice.pdf", response_class=Response)
def invoice(payout_id: str, db: ReadDB, caller: PayoutReader) -> Response:
    """The self-billing invoice the network issued on the partner's behalf (404 until the
    payout is created: a held payout has no invoice)."""
    row = _visible_payout(db, caller, payout_id)
    return _pdf(paperwork.invoice_pdf(db, row.id), f"invoice-{row.invoice_number}-{row.id}.pdf")


# --- runs ------------------------------------------------------------------------------------


@router.get("/payout-runs/preview")
def preview(
    db: ReadDB,
    caller: OperatorOnly,
    through: date | None = None,
    partner_id: PartnerId | None = None,
) -> dict[str, Any]:
    """What a run through `through` would do now, per partner and payout currency: create
    (with the amount), hold (with the reasons), below_threshold, nothing_owed (a balance of
    zero), or already_made (with the status of the payout the period has)."""
    day = payouts.closed_through(through)
    decisions = payouts.preview(db, day, [partner_id] if partner_id else None)
    return {"through": day.isoformat(), "data": [d.as_dict() for d in decisions]}


@router.post("/payout-runs", response_model=RunOut, status_code=201)
def start_run(body: RunRequest, caller: OperatorOnly) -> RunOut:
    """Run payouts: every partner whose approved balance passes its threshold is paid for
    its latest closed period. Exactly once per period, also when started twice at once."""
    run = payouts.run(
        payouts.closed_through(body.through), f"api:{caller.id}", partners=body.partner_ids
    )
    return RunOut.model_validate(run, from_attributes=True)


@router.get("/payout-runs", response_model=Page[RunOut])
def list_runs(db: ReadDB, caller: OperatorOnly, page: PageQuery) -> Page[RunOut]:
    rows, cursor = fetch_page(db, select(PayoutRun), PayoutRun.id, page)
    return Page(
        data=[RunOut.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor
    )


@router.get("/payout-runs/{run_id}", response_model=RunOut)
def get_run(run_id: str, db: ReadDB, caller: OperatorOnly) -> RunOut:
    row = get_visible(db, PayoutRun, run_id, true(), prefix="prn", what="payout run")
    return RunOut.model_validate(row, from_attributes=True)


@router.get("/payout-runs/{run_id}/files")
def list_files(run_id: str, db: ReadDB, caller: OperatorOnly) -> dict[str, Any]:
    """The run's payment files by name, and why an expected one is missing."""
    get_visible(db, PayoutRun, run_id, true(), prefix="prn", what="payout run")
    found = paperwork.run_files(db, run_id)
    return {"files": sorted(found.files), "notes": found.notes}


@router.get("/payout-runs/{run_id}/files/{name}", response_class=Response)
def get_file(run_id: str, name: str, db: ReadDB, caller: OperatorOnly) -> Response:
    """One payment file: the SEPA XML to upload to the bank, a PayPal Payouts CSV, or the
    generic CSV."""
    get_visible(db, PayoutRun, run_id, true(), prefix="prn", what="payout run")
    found = paperwork.run_files(db, run_id)
    content = found.files.get(name)
    if content is None:
        raise NotFound(f"no file {name[:80]!r} in run {run_id}", field="name")
    media = "application/xml" if name.endswith(".xml") else "text/csv; charset=utf-8"
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/payout-runs/{run_id}/sent")
def run_sent(run_id: str, caller: OperatorOnly) -> dict[str, int]:
    """Every created payout of the run is sent (its files were uploaded)."""
    with transaction() as session:
        get_visible(session, PayoutRun, run_id, true(), prefix="prn", what="payout run")
        count = payouts.mark_run_sent(session, run_id)
    return {"sent": count}


# --- details ---------------------------------------------------------------------------------


def _settings_out(session: Session, partner_id: str) -> PayoutSettingsOut | None:
    row = session.get(PayoutSettings, partner_id)
    partner = session.get(Partner, partner_id)
    if row is None or partner is None:
        return None
    return PayoutSettingsOut(
        payout_currency=partner.payout_currency,
        schedule=row.schedule,
        threshold=row.threshold,
        method=row.method,
        account_holder=row.account_holder,
        iban=row.iban,
        bic=row.bic,
        paypal_email=row.paypal_email,
        updated_at=row.updated_at,
    )


@router.get("/partners/me/payout-settings", response_model=PayoutSettingsOut | None)
def get_payout_settings(db: ReadDB, caller: PartnerOnly) -> PayoutSettingsOut | None:
    """How the partner is paid; null until it says."""
    return _settings_out(db, caller.id)


@router.put("/partners/me/payout-settings", response_model=PayoutSettingsOut)
def put_payout_settings(body: PayoutSettingsIn, caller: PartnerOnly) -> PayoutSettingsOut:
    """How the partner is paid. IBAN and BIC are checked (schwifty), a PayPal address by
    syntax, the currency must be one the ECB quotes; a refusal is 422 naming the field. A
    new payout currency applies to commissions approved from now on."""
    with transaction() as session:
        profiles.save_payout_settings(session, caller.id, **body.model_dump())
        session.flush()
        answer = _settings_out(session, caller.id)
    assert answer is not None
    return answer


@router.get("/partners/me/tax-profile", response_model=TaxProfileOut | None)
def get_tax_profile(db: ReadDB, caller: PartnerOnly) -> TaxProfileOut | None:
    row = db.get(TaxProfile, caller.id)
    return None if row is None else TaxProfileOut.model_validate(row, from_attributes=True)


@router.put("/partners/me/tax-profile", response_model=TaxProfileOut)
def put_tax_profile(body: TaxProfileIn, caller: PartnerOnly) -> TaxProfileOut:
    """Who the partner is for tax: it shapes the invoice, and payouts are held while what
    they need is missing. VAT numbers and tax ids are checked (python-stdnum)."""
    with transaction() as session:
        row = profiles.save_tax_profile(session, caller.id, **body.model_dump())
        session.flush()
        answer = TaxProfileOut.model_validate(row, from_attributes=True)
    return answer


@router.get("/network/profile", response_model=NetworkProfileOut | None)
def get_network(db: ReadDB, caller: OperatorOnly) -> NetworkProfileOut | None:
    row = db.get(NetworkProfile, "network")
    return None if row is None else NetworkProfileOut.model_validate(row, from_attributes=True)


@router.put("/network/profile", response_model=NetworkProfileOut)
def put_network(body: NetworkProfileIn, caller: OperatorOnly) -> NetworkProfileOut:
    """The operator's legal details (on every invoice) and the paying account (SEPA)."""
    with transaction() as session:
        row = profiles.save_network_profile(session, **body.model_dump())
        session.flush()
        answer = NetworkProfileOut.model_validate(row, from_attributes=True)
    return answer
