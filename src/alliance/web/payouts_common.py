"""Pieces the payout pages of the operator and the partners share: the words for schedules,
methods, run outcomes and hold reasons, the currencies a partner can be paid in, when the
current payout period closes, rates in words, and the PDF downloads.

Hold reasons are written by the payout service in English (alliance/payouts/details.py),
shared with the API and stored on the payout. The pages show them in the reader's language:
each known sentence is matched here and told again through the catalogs, with a link to the
form that fixes it. A sentence this table does not know is shown as stored (tests/web/
test_payout_pages.py fails when the service says something the table misses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from fastapi.responses import Response
from sqlalchemy.orm import Session

from alliance.clock import utcnow
from alliance.errors import NotFound
from alliance.payouts import fx, paperwork
from alliance.payouts.models import Payout, PayoutSchedule
from alliance.payouts.service import latest_closed_period
from alliance.web import i18n
from alliance.web.i18n import N_, _
from alliance.web.templating import DASH, money, number

SCHEDULES = {
    "monthly": N_("Monthly"),
    "twice_monthly": N_("Twice a month (the 1st to the 15th, the 16th to the end)"),
}
METHODS = {
    "bank_transfer": N_("Bank transfer"),
    "paypal": N_("PayPal"),
}
ENTITIES = {
    "business": N_("Business (a company or a registered trader)"),
    "individual": N_("Individual (a private person)"),
}
# What a run does for a partner (payouts/service.py Decision.outcome).
OUTCOMES = {
    "create": N_("to be paid"),
    "hold": N_("held"),
    "below_threshold": N_("below the threshold"),
    "nothing_owed": N_("nothing owed"),
    "already_made": N_("already made"),
    "later_period_paid": N_("paid with a later period"),
}
# What a finished run counted (PayoutRun.outcome): the outcomes, and partners whose invoice
# could not be issued (the run says why in its "problems").
RUN_COUNTS = {**OUTCOMES, "invoice_refused": N_("invoice refused")}

# Where a reason is fixed on /partner/payouts/settings.
FIX_PAYOUT = "payout-details"
FIX_TAX = "tax-profile"


@dataclass(frozen=True, slots=True)
class Reason:
    text: str  # in the reader's language (the stored English when not known)
    fix: str | None  # the settings form that fixes it, or None


# (pattern of the stored English, the sentence shown, the form that fixes it). Named groups
# are passed to the sentence; `detail` stays in English (it comes from a checking library).
_REASONS: list[tuple[re.Pattern[str], str, str | None]] = [
    (
        re.compile(r"no payout method: add bank details or a PayPal address"),
        N_("No payout method yet: add your bank details or a PayPal address."),
        FIX_PAYOUT,
    ),
    (
        re.compile(r"bank details incomplete: account holder, IBAN and BIC are needed"),
        N_("Your bank details are incomplete: the account holder, IBAN and BIC are needed."),
        FIX_PAYOUT,
    ),
    (
        re.compile(r"bank details: (?P<detail>.+)"),
        N_("Your bank details were refused: %(detail)s"),
        FIX_PAYOUT,
    ),
    (re.compile(r"no PayPal address"), N_("No PayPal address yet."), FIX_PAYOUT),
    (
        re.compile(r"no tax profile: .+"),
        N_(
            "No tax profile yet: the invoice needs your legal name, your address and whether "
            "you are a business or an individual."
        ),
        FIX_TAX,
    ),
    (
        re.compile(r"VAT number missing: an EU business's invoice must show it"),
        N_("Your VAT number is missing: the invoice of a business in the EU must show it."),
        FIX_TAX,
    ),
    (
        re.compile(
            r"(?P<detail>(?:not a valid VAT number|VAT number \S+ is not of|"
            r"no VAT number format is known).*)"
        ),
        N_("Your VAT number was refused: %(detail)s"),
        FIX_TAX,
    ),
    (
        re.compile(
            r"US tax form (?P<form>\S+) needed for commissions from US programs"
            r" \(on file: (?P<on_file>[^)]+)\)"
        ),
        N_(
            "Commissions from US programs need the US tax form %(form)s; the form on file "
            "is %(on_file)s."
        ),
        FIX_TAX,
    ),
    (
        re.compile(r"US tax form (?P<form>\S+) needed for commissions from US programs"),
        N_("Commissions from US programs need the US tax form %(form)s on file."),
        FIX_TAX,
    ),
    (
        re.compile(r"a W-9 needs your US taxpayer id \(SSN, ITIN or EIN\)"),
        N_("A W-9 needs your US taxpayer id (SSN, ITIN or EIN) in the tax id field."),
        FIX_TAX,
    ),
    (
        re.compile(r"the network's legal details are missing \(the operator sets them\)"),
        N_("The network has not entered its own legal details yet: nothing to do on your side."),
        None,
    ),
    (
        re.compile(r"the network's VAT number is missing: a reverse-charge invoice shows both"),
        N_(
            "The network has not entered its own VAT number yet, which your reverse-charge "
            "invoice shows: nothing to do on your side."
        ),
        None,
    ),
    (
        re.compile(
            r"cancelled: the balance \((?P<balance>[^)]+)\) is below the threshold "
            r"\((?P<threshold>[^)]+)\) and stays in the balance"
        ),
        N_(
            "Cancelled: the balance (%(balance)s) was below the threshold (%(threshold)s); "
            "it stays in the balance for a later payout."
        ),
        None,
    ),
    (
        re.compile(r"replaced by the payout of period (?P<period>\S+)"),
        N_("Replaced by the payout of period %(period)s, which includes its money."),
        None,
    ),
]


def reason_in_words(stored: str) -> Reason:
    text = stored.strip()
    for pattern, sentence, fix in _REASONS:
        found = pattern.fullmatch(text)
        if found:
            return Reason(_(sentence, **found.groupdict()), fix)
    return Reason(text, None)


def reasons_in_words(stored: str | list[str] | None) -> list[Reason]:
    """A payout's stored hold reason ("; "-joined) or a preview's list, in words."""
    if not stored:
        return []
    parts = stored if isinstance(stored, list) else stored.split("; ")
    return [reason_in_words(part) for part in parts if part.strip()]


def label(table: dict[str, str], value: str | None) -> str:
    """A stored identifier in words (translated), or the identifier when unknown."""
    if value is None:
        return DASH
    found = table.get(value)
    return _(found) if found else value.replace("_", " ")


def next_period_end(schedule: str | None, today: date) -> date:
    """The last day of the payout period `today` is in: money approved by its end is paid by
    the first run after it (the service's own period rule, walked forward a day at a time)."""
    chosen = schedule or PayoutSchedule.monthly
    day = today
    for _step in range(32):
        if latest_closed_period(chosen, day).end == day:
            return day
        day += timedelta(days=1)
    raise AssertionError(f"no period of {chosen} ends within a month of {today}")


def ecb_currencies(session: Session) -> list[str]:
    """The currencies a partner can be paid in: the euro and every currency the ECB quotes
    as of today (approval converts into the payout currency at the ECB rate; one the ECB
    stopped quoting, RUB say, is not offered)."""
    return fx.quoted_currencies(session, utcnow().date())


def document_response(session: Session, payout: Payout, kind: str) -> Response:
    """The payout's statement or self-billing invoice as a PDF download, in the reader's
    language. Only a payout that was made has them: a held or cancelled one moved no money
    and has no invoice number."""
    if payout.invoice_number is None:
        raise NotFound(f"payout {payout.id} was not made: it has no {kind}", field="payout_id")
    if kind == "invoice":
        content = paperwork.invoice_pdf(session, payout.id, i18n.current())
        name = f"invoice-{payout.invoice_number}.pdf"
    else:
        content = paperwork.statement_pdf(session, payout.id, i18n.current())
        name = f"statement-{payout.id}.pdf"
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def money_list(pairs: list[tuple[str, Decimal]]) -> str:
    """(currency, amount) pairs as "SEK 1,000.00, USD 20.00" in the reader's notation."""
    return ", ".join(money(amount, currency) for currency, amount in pairs)


def rate_text(rate: Decimal, base: str, quote: str) -> str:
    """A stored rate as "1 SEK = 0.0912 EUR", with every digit it was stored with."""
    digits = len(f"{rate.normalize():f}".partition(".")[2])
    return _("1 %(base)s = %(rate)s %(quote)s", base=base, rate=number(rate, digits), quote=quote)
