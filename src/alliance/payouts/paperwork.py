"""What a payout run hands to the bank and PayPal, and what a partner keeps: payment files per
run, and the statement and self-billing invoice of each payout (docs/payouts.md).

Files and documents are made from the stored payouts every time they are asked for, never
kept: the payout, its lines and the destination snapshot taken when it was created are the
record, so a re-download gives the same money to the same accounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.models import Partner
from alliance.clock import as_utc, utcnow
from alliance.commissions.models import Commission
from alliance.conversions.models import Conversion
from alliance.errors import Conflict, NotFound
from alliance.money import round_money
from alliance.payouts import documents, files
from alliance.payouts.models import (
    NetworkProfile,
    Payout,
    PayoutLine,
    PayoutRun,
    PayoutStatus,
    TaxProfile,
)
from alliance.programs.models import Program

# Payouts a run's files carry: made and not yet confirmed or failed. A file downloaded again
# after "sent" still lists them, so a bank upload that was lost can be repeated.
_IN_FILES = (PayoutStatus.created.value, PayoutStatus.sent.value)


@dataclass(slots=True)
class RunFiles:
    files: dict[str, bytes] = field(default_factory=dict)  # file name -> content
    notes: list[str] = field(default_factory=list)  # why an expected file is not there


def remittance(payout: Payout) -> str:
    """The text the payee's bank statement shows: invoice number first (SEPA cuts at 140)."""
    return f"Invoice {payout.invoice_number} Alliance payout {payout.period} {payout.id}"


def transfers(session: Session, run_id: str) -> list[files.Transfer]:
    """The run's payouts as transfers: the net amount plus any domestic VAT on the invoice."""
    rows = session.execute(
        select(Payout, Partner.name, TaxProfile.legal_name)
        .join(Partner, Partner.id == Payout.partner_id)
        .outerjoin(TaxProfile, TaxProfile.partner_id == Payout.partner_id)
        .where(Payout.run_id == run_id, Payout.status.in_(_IN_FILES))
        .order_by(Payout.id)
    )
    found = []
    for payout, partner_name, legal_name in rows:
        destination = payout.destination or {}
        found.append(
            files.Transfer(
                payout_id=payout.id,
                partner_id=payout.partner_id,
                payee_name=destination.get("account_holder") or legal_name or partner_name,
                amount=round_money(payout.amount + (payout.vat_amount or 0), payout.currency),
                currency=payout.currency,
                method=payout.method or "",
                iban=destination.get("iban"),
                bic=destination.get("bic"),
                paypal_email=destination.get("paypal_email"),
                remittance=remittance(payout),
            )
        )
    return found


def run_files(session: Session, run_id: str) -> RunFiles:
    """The run's payment files: a SEPA credit transfer (pain.001.001.03) for EUR bank
    payouts, a PayPal Payouts CSV per currency, and a generic CSV of every payout (for banks
    outside SEPA and for bookkeeping). A payout that cannot go in its file is named in
    `notes`, and that file is not made: the other files still are."""
    run = session.get(PayoutRun, run_id)
    if run is None:
        raise NotFound(f"no payout run {run_id}", field="run_id")
    found = RunFiles()
    every = transfers(session, run_id)
    if not every:
        found.notes.append("the run has no payouts to send (created or sent)")
        return found
    sepa = [t for t in every if t.method == files.BANK_TRANSFER and t.currency == "EUR"]
    if sepa:
        network = session.get(NetworkProfile, "network")
        if network is None or not network.payer_iban:
            found.notes.append(
                "no SEPA file: set the network's paying account (IBAN) on the payouts page "
                "or with `alliance payouts network`"
            )
        else:
            payer = files.Payer(network.legal_name, network.payer_iban, network.payer_bic)
            try:
                found.files[f"sepa-{run_id}.xml"] = files.sepa_credit_transfer(
                    sepa,
                    payer,
                    message_id=files.end_to_end_id(run_id),
                    execution_date=utcnow().date(),
                    created_at=run.started_at,
                )
            except files.FileRefused as exc:
                found.notes.append(f"no SEPA file: {exc}")
    paypal = [t for t in every if t.method == files.PAYPAL]
    try:
        for currency, content in files.paypal_files(paypal).items() if paypal else ():
            found.files[f"paypal-{currency}-{run_id}.csv"] = content
    except files.FileRefused as exc:
        found.notes.append(f"no PayPal file: {exc}")
    other = [t for t in every if t.method == files.BANK_TRANSFER and t.currency != "EUR"]
    if other:
        found.notes.append(
            f"{len(other)} bank payouts outside SEPA (not EUR) are in the generic CSV only"
        )
    found.files[f"payouts-{run_id}.csv"] = files.generic_csv(every)
    return found


# --- statements and invoices -----------------------------------------------------------------


def _party_lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _payment_text(payout: Payout) -> str:
    destination = payout.destination or {}
    if payout.method == files.PAYPAL:
        return f"PayPal to {destination.get('paypal_email')}"
    iban = destination.get("iban") or ""
    grouped = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    holder = destination.get("account_holder")
    return f"Bank transfer to {grouped} (BIC {destination.get('bic')}), {holder}"


def supplier_of(partner: Partner, profile: TaxProfile | None) -> documents.LegalParty:
    """The partner as the invoice's supplier (its tax profile; its account before it has
    one, on a held payout's statement)."""
    if profile is None:
        return documents.LegalParty(partner.name, (), partner.country, "individual", None, None)
    return documents.LegalParty(
        name=profile.legal_name,
        address=_party_lines(profile.address),
        country=profile.country,
        entity=profile.entity,
        vat_id=profile.vat_id,
        tax_id=profile.tax_id,
    )


def recipient_of(network: NetworkProfile) -> documents.LegalParty:
    return documents.LegalParty(
        name=network.legal_name,
        address=_party_lines(network.address),
        country=network.country,
        entity="business",
        vat_id=network.vat_id,
        tax_id=None,
    )


def vat_of(
    partner: Partner, profile: TaxProfile | None, network: NetworkProfile, payout: Payout
) -> documents.VatTreatment:
    return documents.vat_treatment(
        supplier_of(partner, profile),
        recipient_of(network),
        payout.amount,
        payout.currency,
        domestic_vat_rate=profile.vat_rate if profile is not None else None,
    )


def document(session: Session, payout_id: str) -> documents.PayoutDocument:
    """Everything a statement or an invoice of the payout shows, read from the payout, its
    lines, the partner's tax profile and the network's details."""
    payout = session.get(Payout, payout_id)
    if payout is None:
        raise NotFound(f"no payout {payout_id}", field="payout_id")
    partner = session.get(Partner, payout.partner_id)
    assert partner is not None
    profile = session.get(TaxProfile, payout.partner_id)
    network = session.get(NetworkProfile, "network")
    if network is None:
        raise Conflict(
            "the network's legal details are not set (payouts page, or `alliance payouts "
            "network`): every statement and invoice names the network",
            field="network",
        )
    supplier, recipient = supplier_of(partner, profile), recipient_of(network)
    rows = session.execute(
        select(PayoutLine, Commission.kind, Commission.occurred_at, Program.name, Conversion)
        .join(Commission, Commission.id == PayoutLine.commission_id)
        .join(Program, Program.id == PayoutLine.program_id)
        .outerjoin(Conversion, Conversion.id == Commission.conversion_id)
        .where(PayoutLine.payout_id == payout.id)
        .order_by(Commission.occurred_at, PayoutLine.id)
    )
    lines = []
    for line, kind, occurred_at, program_name, conversion in rows:
        lines.append(
            documents.DocumentLine(
                commission_id=line.commission_id,
                occurred_on=as_utc(occurred_at).date(),
                program=program_name,
                description=_describe(kind, conversion, line.amount),
                amount=round_money(line.amount, line.currency),
                currency=line.currency,
                rate=line.rate,
                rate_day=line.rate_day,
                payout_amount=round_money(line.payout_amount, payout.currency),
            )
        )
    return documents.PayoutDocument(
        payout_id=payout.id,
        period=f"{payout.period} ({payout.period_start.isoformat()} to "
        f"{payout.period_end.isoformat()})",
        issued_on=as_utc(payout.settled_at or payout.created_at).date(),
        currency=payout.currency,
        lines=tuple(lines),
        supplier=supplier,
        recipient=recipient,
        invoice_number=payout.invoice_number,
        payment=_payment_text(payout),
        vat=vat_of(partner, profile, network, payout),
    )


def _describe(kind: str, conversion: Conversion | None, amount: Decimal) -> str:
    what = {"sale": "Sale", "lead": "Lead", "click": "Clicks"}.get(kind, kind)
    order = (
        f", order {conversion.order_id} ({conversion.amount} {conversion.currency})"
        if conversion is not None
        else ""
    )
    if amount < 0:
        return f"Refund after an earlier payout: {what.lower()}{order}"
    return f"{what}{order}"


def statement_pdf(session: Session, payout_id: str, locale: str = "en") -> bytes:
    """The payout's statement: every commission line, its original amount and currency,
    the approval-day rate, and the amount in the payout currency."""
    return documents.statement_pdf(document(session, payout_id), locale=locale)


def invoice_pdf(session: Session, payout_id: str, locale: str = "en") -> bytes:
    """The self-billing invoice the network issued on the partner's behalf. A held (or
    cancelled) payout has none: 404."""
    found = document(session, payout_id)
    if found.invoice_number is None:
        raise NotFound(
            f"payout {payout_id} has no invoice: it was not made (held or cancelled)",
            field="payout_id",
        )
    return documents.invoice_pdf(found, locale=locale)
