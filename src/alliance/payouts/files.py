"""Payment files for a payout run: what the operator uploads to the bank or to PayPal.

- `sepa_credit_transfer`: a SEPA credit transfer initiation, ISO 20022 pain.001.001.03 (the
  version every SEPA bank accepts), for EUR bank transfers. One batch-booked payment
  information block; counts and control sums are Decimal sums, and the document is validated
  against the ISO XSD (the copy sepaxml ships) before it is returned.
- `paypal_csv`: the PayPal Payouts Web upload (see the function for the columns).
- `generic_csv`: every transfer with a header row, for banks or tools with their own import.

Pure functions over plain data: the payout run decides who is paid what; this module only
writes it down, or refuses with `FileRefused` naming the payout at fault. Nothing is rounded
here: an amount with more decimals than its currency has is a bug upstream, not something to
round silently in a file that moves money.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from importlib.resources import files

import xmlschema
from email_validator import EmailNotValidError, validate_email
from schwifty import BIC, IBAN
from text_unidecode import unidecode  # type: ignore[import-untyped]

from alliance.clock import as_utc
from alliance.money import MAX_ABS_AMOUNT, is_currency, minor_units, round_money
from alliance.reports.export import safe_cell, to_csv

BANK_TRANSFER = "bank_transfer"
PAYPAL = "paypal"

PAIN_001 = "pain.001.001.03"
_NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{PAIN_001}"
# The SEPA basic Latin character set (EPC217-08): the one every SEPA bank must accept (some
# take more, e.g. German umlauts, but a file meant for any bank uses only these).
_SEPA_CHAR = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]")
# Identifiers (MsgId, EndToEndId) use the same set without spaces, max 35, and must not start
# or end with '/' nor contain '//' (EPC implementation guidelines).
_SEPA_ID = re.compile(r"(?!/)(?!.*//)[A-Za-z0-9/\-?:().,'+]{1,35}(?<!/)")
_SEPA_MAX_AMOUNT = Decimal("999999999.99")  # per transaction, in the SEPA rulebook
_NAME_MAX = 70  # Max70Text: Nm of debtor, creditor and initiating party
_REMITTANCE_MAX = 140  # Max140Text: Ustrd

# PayPal Payouts Web takes at most this many rows per file, and HUF and TWD only in whole
# units although ISO 4217 gives them two decimals (PayPal's currency codes page: "decimal
# amounts cause an error"; JPY has no decimals in ISO 4217 already).
PAYPAL_MAX_ROWS = 5000
_PAYPAL_WHOLE_UNITS = frozenset({"HUF", "TWD"})
# The reference ("Customer ID") column: at most 30 characters and no spaces, as PayPal's mass
# payment file format documents it. A "pay_" id (4 + 26 characters) fits exactly.
_PAYPAL_REFERENCE_MAX = 30

GENERIC_COLUMNS = (
    "payout_id",
    "partner_id",
    "payee_name",
    "method",
    "iban",
    "bic",
    "paypal_email",
    "amount",
    "currency",
    "remittance",
)


@dataclass(frozen=True, slots=True)
class Payer:
    """The network operator's bank account (settings), debited by the SEPA file."""

    name: str
    iban: str
    bic: str | None


@dataclass(frozen=True, slots=True)
class Transfer:
    """One payout to one partner, as the payout run decided it."""

    payout_id: str  # "pay_01J...": the EndToEndId / PayPal reference, unique per file
    partner_id: str
    payee_name: str  # any script; transliterated for SEPA
    amount: Decimal  # > 0, with at most the currency's minor-unit digits
    currency: str  # ISO 4217
    method: str  # BANK_TRANSFER | PAYPAL
    iban: str | None
    bic: str | None
    paypal_email: str | None
    remittance: str  # e.g. "Alliance payout 2026-11 invoice SB-000123"


class FileRefused(ValueError):
    """A payment file that cannot be written: which payout (None: the whole file) and why."""

    def __init__(self, payout_id: str | None, reason: str) -> None:
        super().__init__(f"payout {payout_id}: {reason}" if payout_id else reason)
        self.payout_id = payout_id
        self.reason = reason


# --- shared checks --------------------------------------------------------------------------


def _check_amount(transfer: Transfer) -> None:
    amount, currency = transfer.amount, transfer.currency
    if not is_currency(currency):
        raise FileRefused(transfer.payout_id, f"unknown currency {currency!r}")
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise FileRefused(transfer.payout_id, "amount must be a finite Decimal")
    if amount <= 0:
        raise FileRefused(transfer.payout_id, f"amount must be positive, not {amount}")
    if amount > MAX_ABS_AMOUNT:
        raise FileRefused(transfer.payout_id, f"amount {amount} is out of range")
    if round_money(amount, currency) != amount:
        raise FileRefused(
            transfer.payout_id,
            f"amount {amount} has more decimals than {currency} allows ({minor_units(currency)})",
        )


def _check_unique(transfers: Iterable[Transfer]) -> None:
    seen: set[str] = set()
    for transfer in transfers:
        if transfer.payout_id in seen:
            raise FileRefused(transfer.payout_id, "appears twice in one file")
        seen.add(transfer.payout_id)


def amount_text(amount: Decimal, currency: str) -> str:
    """A plain decimal with exactly the currency's minor-unit digits: 12.50 EUR, 1500 JPY.

    Called on amounts already checked exact, so the quantize only pads digits (100 -> 100.00).
    """
    return f"{round_money(amount, currency):f}"


# --- SEPA credit transfer (pain.001.001.03) -------------------------------------------------


def sepa_text(text: str, limit: int) -> str:
    """`text` in the SEPA Latin character set, at most `limit` characters.

    Other scripts are transliterated (ä -> a, ø -> o, 中文 -> Zhong Wen); '&' becomes '+'
    (the usual bank substitution); anything else outside the set becomes a space; runs of
    spaces collapse.
    """
    ascii_text = unidecode(text).replace("&", "+")
    kept = "".join(c if _SEPA_CHAR.fullmatch(c) else " " for c in ascii_text)
    return " ".join(kept.split())[:limit].rstrip()


def end_to_end_id(payout_id: str) -> str:
    """The EndToEndId for a payout: its id with '_' (not in the SEPA set) written as '-'.

    The bank returns it unchanged on statements and returns (camt.053/054, pacs.004), so a
    payout is found again by reversing the one substitution.
    """
    return payout_id.replace("_", "-")


def _sepa_iban(value: str | None, who: str | None, what: str) -> str:
    if not value:
        raise FileRefused(who, f"{what} has no IBAN")
    try:
        iban = IBAN(value)
    except ValueError as error:
        raise FileRefused(who, f"{what} IBAN {value!r} is not valid: {error}") from None
    if not iban.in_sepa_zone:
        raise FileRefused(who, f"{what} IBAN {iban.compact} is outside the SEPA zone")
    return iban.compact


def _sepa_bic(value: str | None, who: str | None, what: str) -> str | None:
    if not value:
        return None
    try:
        return BIC(value).compact
    except ValueError as error:
        raise FileRefused(who, f"{what} BIC {value!r} is not valid: {error}") from None


@dataclass(frozen=True, slots=True)
class _SepaLine:
    end_to_end_id: str
    amount: str
    name: str
    iban: str
    bic: str | None
    remittance: str


def _sepa_line(transfer: Transfer) -> _SepaLine:
    who = transfer.payout_id
    if transfer.method != BANK_TRANSFER:
        raise FileRefused(who, f"is a {transfer.method} payout, not a bank transfer")
    if transfer.currency != "EUR":
        raise FileRefused(who, f"is in {transfer.currency}: SEPA credit transfers are EUR only")
    _check_amount(transfer)
    if transfer.amount > _SEPA_MAX_AMOUNT:
        raise FileRefused(who, f"amount {transfer.amount} is above the SEPA maximum")
    e2e = end_to_end_id(who)
    if not _SEPA_ID.fullmatch(e2e):
        raise FileRefused(who, "id cannot be a SEPA EndToEndId (35 characters, SEPA set)")
    name = sepa_text(transfer.payee_name, _NAME_MAX)
    if not name:
        raise FileRefused(who, f"payee name {transfer.payee_name!r} has no SEPA characters")
    return _SepaLine(
        end_to_end_id=e2e,
        amount=amount_text(transfer.amount, "EUR"),
        name=name,
        iban=_sepa_iban(transfer.iban, who, "payee"),
        bic=_sepa_bic(transfer.bic, who, "payee"),
        remittance=sepa_text(transfer.remittance, _REMITTANCE_MAX),
    )


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def _agent(parent: ET.Element, tag: str, bic: str | None) -> None:
    institution = _sub(_sub(parent, tag), "FinInstnId")
    if bic:
        _sub(institution, "BIC", bic)
    else:  # IBAN-only: the EPC guidelines' placeholder for "no BIC given"
        _sub(_sub(institution, "Othr"), "Id", "NOTPROVIDED")


def _account(parent: ET.Element, tag: str, iban: str) -> None:
    _sub(_sub(_sub(parent, tag), "Id"), "IBAN", iban)


def sepa_credit_transfer(
    transfers: Sequence[Transfer],
    payer: Payer,
    *,
    message_id: str,
    execution_date: date,
    created_at: datetime,
) -> bytes:
    """A pain.001.001.03 document paying every transfer from the payer's account.

    Only EUR bank transfers with a valid SEPA-zone IBAN; anything else is refused, naming the
    payout, rather than left out (a payout silently missing from the file would be marked paid
    and never arrive). `message_id` (max 35, SEPA characters) must be unique per payer: banks
    reject a second file with the same one. `created_at` is written in UTC.
    """
    if not transfers:
        raise FileRefused(None, "no transfers: a SEPA file needs at least one")
    if not _SEPA_ID.fullmatch(message_id):
        raise FileRefused(None, f"message id {message_id!r} is not a SEPA identifier")
    _check_unique(transfers)
    lines = [_sepa_line(t) for t in transfers]
    payer_name = sepa_text(payer.name, _NAME_MAX)
    if not payer_name:
        raise FileRefused(None, f"payer name {payer.name!r} has no SEPA characters")
    payer_iban = _sepa_iban(payer.iban, None, "payer")
    payer_bic = _sepa_bic(payer.bic, None, "payer")

    count = str(len(lines))
    control_sum = amount_text(sum((t.amount for t in transfers), Decimal(0)), "EUR")

    document = ET.Element("Document", xmlns=_NAMESPACE)
    initiation = _sub(document, "CstmrCdtTrfInitn")
    header = _sub(initiation, "GrpHdr")
    _sub(header, "MsgId", message_id)
    _sub(header, "CreDtTm", as_utc(created_at).replace(microsecond=0).isoformat())
    _sub(header, "NbOfTxs", count)
    _sub(header, "CtrlSum", control_sum)
    _sub(_sub(header, "InitgPty"), "Nm", payer_name)

    info = _sub(initiation, "PmtInf")
    _sub(info, "PmtInfId", message_id)
    _sub(info, "PmtMtd", "TRF")
    _sub(info, "BtchBookg", "true")  # one debit line on the operator's statement
    _sub(info, "NbOfTxs", count)
    _sub(info, "CtrlSum", control_sum)
    _sub(_sub(_sub(info, "PmtTpInf"), "SvcLvl"), "Cd", "SEPA")
    _sub(info, "ReqdExctnDt", execution_date.isoformat())
    _sub(_sub(info, "Dbtr"), "Nm", payer_name)
    _account(info, "DbtrAcct", payer_iban)
    _agent(info, "DbtrAgt", payer_bic)
    _sub(info, "ChrgBr", "SLEV")  # SEPA: each side pays its own bank
    for line in lines:
        tx = _sub(info, "CdtTrfTxInf")
        _sub(_sub(tx, "PmtId"), "EndToEndId", line.end_to_end_id)
        _sub(_sub(tx, "Amt"), "InstdAmt", line.amount, Ccy="EUR")
        if line.bic:  # optional within the EEA since 2016 (IBAN-only)
            _agent(tx, "CdtrAgt", line.bic)
        _sub(_sub(tx, "Cdtr"), "Nm", line.name)
        _account(tx, "CdtrAcct", line.iban)
        if line.remittance:
            _sub(_sub(tx, "RmtInf"), "Ustrd", line.remittance)

    ET.indent(document)
    # The declaration in the double-quoted form bank specifications print (ElementTree's own
    # uses single quotes: equally valid XML, but no reason to differ).
    body: bytes = ET.tostring(document, encoding="utf-8")
    xml = b'<?xml version="1.0" encoding="UTF-8"?>\n' + body
    validate_pain001(xml, [t.payout_id for t in transfers])
    return xml


@cache
def _pain001_schema() -> xmlschema.XMLSchema:
    # The ISO 20022 XSD as sepaxml ships it (sepaxml/schemas); loaded once per process.
    return xmlschema.XMLSchema(str(files("sepaxml") / "schemas" / f"{PAIN_001}.xsd"))


_TRANSACTION_IN_PATH = re.compile(r"/CdtTrfTxInf(?:\[(\d+)\])?")


def validate_pain001(xml: bytes, payout_ids: Sequence[str] = ()) -> None:
    """Raise FileRefused unless `xml` is valid pain.001.001.03 (the first error, and the payout
    whose transaction it is in when `payout_ids` lists them in document order)."""
    error = next(iter(_pain001_schema().iter_errors(xml)), None)
    if error is None:
        return
    where = error.path or ""
    payout_id = None
    found = _TRANSACTION_IN_PATH.search(where)
    if found and payout_ids:
        index = int(found.group(1) or 1) - 1
        payout_id = payout_ids[index] if index < len(payout_ids) else None
    raise FileRefused(payout_id, f"not valid {PAIN_001} at {where}: {error.reason}")


# --- PayPal Payouts -------------------------------------------------------------------------


def _paypal_amount(transfer: Transfer) -> str:
    _check_amount(transfer)
    if transfer.currency in _PAYPAL_WHOLE_UNITS:
        if transfer.amount != transfer.amount.to_integral_value():
            raise FileRefused(
                transfer.payout_id, f"PayPal pays {transfer.currency} in whole units only"
            )
        return f"{transfer.amount.to_integral_value():f}"
    return amount_text(transfer.amount, transfer.currency)


def _paypal_row(transfer: Transfer) -> list[str]:
    who = transfer.payout_id
    if transfer.method != PAYPAL:
        raise FileRefused(who, f"is a {transfer.method} payout, not a PayPal one")
    if not transfer.paypal_email:
        raise FileRefused(who, "has no PayPal e-mail address")
    try:
        email = validate_email(transfer.paypal_email, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise FileRefused(who, f"PayPal e-mail {transfer.paypal_email!r}: {error}") from None
    if safe_cell(email) != email:
        # Legal in an address, but a formula to a spreadsheet; defusing would change it.
        raise FileRefused(who, f"PayPal e-mail {email!r} starts with a formula character")
    if len(who) > _PAYPAL_REFERENCE_MAX or any(c.isspace() for c in who):
        raise FileRefused(who, "id is not a PayPal reference (30 characters, no spaces)")
    amount = _paypal_amount(transfer)
    # The note is defused like any text cell: operators open these files in a spreadsheet to
    # check them before uploading.
    return [email, amount, transfer.currency, who, safe_cell(transfer.remittance), "PAYPAL"]


def paypal_csv(transfers: Sequence[Transfer]) -> bytes:
    """The PayPal Payouts Web payment file (the CSV upload that replaced Mass Payments).

    The format PayPal documents for it (developer.paypal.com, Payouts > "Use the Payouts Web
    UI"): no header row, one payout per row, columns recipient (PayPal e-mail), amount (plain
    decimal with '.'), currency, Customer ID (our payout id, to match PayPal's report back to
    the payout), note to the recipient, recipient wallet (PAYPAL; the older five-column Mass
    Payments layout is the same without it). One currency per file and at most 5,000 rows, as
    PayPal requires: `paypal_files` splits a run by currency. UTF-8, RFC 4180 quoting, CRLF.
    """
    if not transfers:
        raise FileRefused(None, "no transfers: a PayPal file needs at least one")
    if len(transfers) > PAYPAL_MAX_ROWS:
        raise FileRefused(None, f"{len(transfers)} rows: PayPal takes {PAYPAL_MAX_ROWS} a file")
    _check_unique(transfers)
    currency = transfers[0].currency
    for transfer in transfers:
        if transfer.currency != currency:
            raise FileRefused(
                transfer.payout_id,
                f"is in {transfer.currency}, the file in {currency}: PayPal takes one currency "
                "per file",
            )
    rows = [_paypal_row(t) for t in transfers]
    return _csv_bytes(rows)


def paypal_files(transfers: Sequence[Transfer]) -> dict[str, bytes]:
    """One PayPal file per currency, in the order currencies first appear."""
    by_currency: dict[str, list[Transfer]] = {}
    for transfer in transfers:
        by_currency.setdefault(transfer.currency, []).append(transfer)
    return {currency: paypal_csv(group) for currency, group in by_currency.items()}


def _csv_bytes(rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


# --- generic CSV ----------------------------------------------------------------------------


def generic_csv(transfers: Sequence[Transfer]) -> bytes:
    """Every transfer, with a header row (GENERIC_COLUMNS): UTF-8, RFC 4180 quoting, CRLF, and
    text cells starting with = + - @ defused as in the report exports."""
    _check_unique(transfers)
    records = []
    for transfer in transfers:
        _check_amount(transfer)
        records.append(
            {
                "payout_id": transfer.payout_id,
                "partner_id": transfer.partner_id,
                "payee_name": transfer.payee_name,
                "method": transfer.method,
                "iban": transfer.iban,
                "bic": transfer.bic,
                "paypal_email": transfer.paypal_email,
                "amount": amount_text(transfer.amount, transfer.currency),
                "currency": transfer.currency,
                "remittance": transfer.remittance,
            }
        )
    return to_csv(GENERIC_COLUMNS, records).encode("utf-8")
