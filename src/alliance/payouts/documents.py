"""Payout statements and self-billing invoices as PDF. Pure: plain data in, bytes out.

Each payout (one partner, one payout currency, one period) settles a list of commission lines.
For it the operator produces:

- a **statement**: every commission line (date, id, program, description, original amount and
  currency, the ECB rate and its day, the amount in the payout currency) and the totals;
- a **self-billing invoice**: under a self-billing agreement the operator, who receives the
  partner's marketing service, issues the invoice in the partner's name (Article 224 of
  Council Directive 2006/112/EC). Its VAT treatment follows from the two parties
  (`vat_treatment`); its number comes from the caller's gap-free sequence.

Numbers run without gaps, so call `invoice_problems()` *before* taking a number: an invoice
that cannot be issued must not spend one. `invoice_pdf` refuses the same problems.

Labels are translated through the UI's gettext catalogs (`alliance.web.i18n`); the legal VAT
sentence stays English (the wording the rules cite) with a translated explanation below it.
Rules, legal basis and the font limits: docs/payouts-documents.md.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any, Literal

import pycountry
from babel import Locale
from babel.dates import format_date
from babel.numbers import NumberPattern, format_decimal, format_percent, parse_pattern
from fpdf.fonts import FontFace

from alliance.money import is_currency, minor_units, round_money
from alliance.payouts import pdf
from alliance.payouts.pdf import DocumentFonts, Sheet
from alliance.web import i18n
from alliance.web.i18n import N_

log = logging.getLogger(__name__)

# --- the parties and the lines --------------------------------------------------------------

BUSINESS = "business"
INDIVIDUAL = "individual"

# The EU member states (27 since 1 February 2020: the United Kingdom left). ISO 3166-1 codes;
# VAT ids use the same two letters except Greece (GR), whose VAT prefix is EL.
EU_MEMBER_STATES: frozenset[str] = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
        "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    }
)  # fmt: skip


def in_eu(country: str) -> bool:
    return country in EU_MEMBER_STATES


def vat_prefix(country: str) -> str:
    """The two letters a VAT id of `country` starts with (Greece: EL)."""
    return "EL" if country == "GR" else country


@dataclass(frozen=True, slots=True)
class LegalParty:
    """One side of an invoice as printed: the partner (supplier) or the operator (recipient).

    `vat_id` and `tax_id` are printed as given: the caller has validated them."""

    name: str
    address: tuple[str, ...]  # lines, as printed
    country: str  # ISO 3166-1 alpha-2
    entity: str  # "business" | "individual"
    vat_id: str | None
    tax_id: str | None

    def __post_init__(self) -> None:
        if self.entity not in (BUSINESS, INDIVIDUAL):
            raise ValueError(f"entity must be 'business' or 'individual', not {self.entity!r}")
        if pycountry.countries.get(alpha_2=self.country) is None or not self.country.isupper():
            raise ValueError(f"country must be an ISO 3166-1 alpha-2 code, not {self.country!r}")
        if not self.name.strip():
            raise ValueError("a party needs a name")


@dataclass(frozen=True, slots=True)
class DocumentLine:
    """One commission settled by the payout."""

    commission_id: str
    occurred_on: date
    program: str  # program name
    description: str  # "Sale, order 10023 (1 249.00 SEK)", "Refund adjustment"
    amount: Decimal  # in the program currency, signed (adjustments are negative)
    currency: str  # the program currency
    rate: Decimal | None  # program → payout currency, ECB rate of the approval day
    rate_day: date | None  # the ECB day of `rate`
    payout_amount: Decimal  # in the payout currency, signed, rounded to its minor unit


# --- VAT ------------------------------------------------------------------------------------


class VatKind(StrEnum):
    """How VAT applies to a self-billing invoice (supplier = partner, recipient = operator)."""

    REVERSE_CHARGE = "reverse_charge"
    """Business supplier in one EU state, recipient in another: the recipient owes the VAT."""
    DOMESTIC = "domestic"
    """Business supplier in the recipient's country, VAT at the rate it declared."""
    DOMESTIC_NO_VAT = "domestic_no_vat"
    """Business supplier in the recipient's country that declared no rate (small business)."""
    NOT_TAXABLE_INDIVIDUAL = "not_taxable_individual"
    """A private individual, not a taxable person: no VAT."""
    OUTSIDE_EU = "outside_eu"
    """Business supplier established outside the EU (and not in the recipient's country)."""
    OUTSIDE_EU_RECIPIENT = "outside_eu_recipient"
    """Business supplier in the EU, recipient outside it: supplied where the recipient is."""


_DIRECTIVE = "Council Directive 2006/112/EC"
# The legal mentions, in English: the wording the rules cite (Article 226(11) and (11a)).
_WORDING: dict[VatKind, str] = {
    VatKind.REVERSE_CHARGE: (
        f"Reverse charge: the recipient of the service is liable for the VAT "
        f"(Article 196 of {_DIRECTIVE})."
    ),
    VatKind.DOMESTIC: "VAT charged at {rate}%; the supplier accounts for it to its tax authority.",
    VatKind.NOT_TAXABLE_INDIVIDUAL: (
        "No VAT charged: the supplier is a private individual who has declared that they are "
        "not a taxable person for VAT purposes{eu_article}."
    ),
    VatKind.OUTSIDE_EU: (
        "No VAT charged: the supplier is established outside the European Union; the recipient "
        "accounts for any VAT or other tax due in its own country."
    ),
    VatKind.OUTSIDE_EU_RECIPIENT: (
        "No VAT charged: the recipient is a business established outside the European Union, "
        f"where these services are supplied (Article 44 of {_DIRECTIVE}); the recipient "
        "accounts for any tax due in its own country."
    ),
}
_OUTSIDE_EU_TO_EU = (
    "No VAT charged: the supplier is established outside the European Union. Reverse charge: "
    f"the recipient accounts for the VAT due in its member state (Article 196 of {_DIRECTIVE})."
)
_NO_VAT_EU = (
    "No VAT charged: the supplier has declared that it is exempt as a small enterprise "
    f"(Articles 282 to 292 of {_DIRECTIVE}) or is not registered for VAT."
)
_NO_VAT_ELSEWHERE = "No VAT charged: the supplier has declared that it is not registered for VAT."
# The same, in the reader's language, printed under the English sentence (not a legal text).
_EXPLAINED: dict[VatKind, str] = {
    # Translators: start with the mention "Reverse charge" as your language's version of
    # Directive 2006/112/EC words it in Article 226(11a) (de: "Steuerschuldnerschaft des
    # Leistungsempfängers", sv: "Omvänd betalningsskyldighet", es: "Inversión del sujeto pasivo").
    VatKind.REVERSE_CHARGE: N_(
        "Reverse charge: the recipient of the service accounts for the VAT."
    ),
    VatKind.DOMESTIC: N_("VAT is charged at the rate shown; the supplier accounts for it."),
    VatKind.DOMESTIC_NO_VAT: N_(
        "No VAT charged: the supplier is not registered for VAT or is exempt as a small enterprise."
    ),
    VatKind.NOT_TAXABLE_INDIVIDUAL: N_(
        "No VAT charged: the supplier is a private individual, not a taxable person."
    ),
    VatKind.OUTSIDE_EU: N_(
        "No VAT charged: the supplier is established outside the EU; the recipient accounts "
        "for any tax due."
    ),
    VatKind.OUTSIDE_EU_RECIPIENT: N_(
        "No VAT charged: the services are supplied to a business established outside the EU."
    ),
}
# Article 226(10a): a self-billed invoice carries this mention.
SELF_BILLING = "Self-billing"


@dataclass(frozen=True, slots=True)
class VatTreatment:
    kind: VatKind  # a str: "reverse_charge", "domestic", … (see VatKind)
    rate: Decimal  # percent; 0 unless domestic
    vat: Decimal  # the VAT amount, rounded half-even to the currency's minor unit
    wording: str  # the legal sentence printed on the invoice (English)

    @property
    def shows_vat_line(self) -> bool:
        """Whether the invoice has a VAT line (a rate, or reverse charge at 0)."""
        return self.kind in (VatKind.DOMESTIC, VatKind.REVERSE_CHARGE)

    @property
    def needs_vat_ids(self) -> bool:
        """Reverse charge needs both parties' VAT ids on the invoice (Article 226(3), (4))."""
        return self.kind is VatKind.REVERSE_CHARGE


def _percent_text(rate: Decimal) -> str:
    return f"{rate.normalize():f}"


def vat_treatment(
    supplier: LegalParty,
    recipient: LegalParty,
    net: Decimal,
    currency: str,
    *,
    domestic_vat_rate: Decimal | None,
) -> VatTreatment:
    """The VAT of a self-billing invoice for `net` (supplier = partner, recipient = operator).

    - individual supplier → no VAT, "not a taxable person";
    - business in the recipient's country → VAT at `domestic_vat_rate` (the rate the partner
      declared), or "no VAT charged" when it declared none (None or 0: small business,
      not registered);
    - business in another EU state than an EU recipient → reverse charge (Article 196);
    - business outside the EU → no VAT on the invoice, the recipient accounts for it;
    - business in the EU, recipient outside it → no VAT (Article 44: supplied where the
      recipient is).

    `domestic_vat_rate` only counts for a domestic business supply. VAT ids are not checked
    here (a treatment is a fact of the law): `invoice_problems` refuses a reverse-charge
    invoice without them.
    """
    if recipient.entity != BUSINESS:
        raise ValueError("the recipient of a self-billing invoice is the operator: a business")
    if not is_currency(currency):
        raise ValueError(f"unknown currency {currency!r}")
    if domestic_vat_rate is not None and not Decimal(0) <= domestic_vat_rate < Decimal(100):
        raise ValueError(f"a VAT rate is a percentage from 0 to 100, not {domestic_vat_rate}")
    zero = round_money(Decimal(0), currency)

    def no_vat(kind: VatKind, wording: str) -> VatTreatment:
        return VatTreatment(kind, Decimal(0), zero, wording)

    if supplier.entity == INDIVIDUAL:
        article = f" (Article 9 of {_DIRECTIVE})" if in_eu(supplier.country) else ""
        wording = _WORDING[VatKind.NOT_TAXABLE_INDIVIDUAL].format(eu_article=article)
        return no_vat(VatKind.NOT_TAXABLE_INDIVIDUAL, wording)
    if supplier.country == recipient.country:
        rate = domestic_vat_rate or Decimal(0)
        if rate == 0:
            wording = _NO_VAT_EU if in_eu(supplier.country) else _NO_VAT_ELSEWHERE
            return no_vat(VatKind.DOMESTIC_NO_VAT, wording)
        vat = round_money(net * rate / 100, currency)
        wording = _WORDING[VatKind.DOMESTIC].format(rate=_percent_text(rate))
        return VatTreatment(VatKind.DOMESTIC, rate, vat, wording)
    if not in_eu(supplier.country):
        wording = _OUTSIDE_EU_TO_EU if in_eu(recipient.country) else _WORDING[VatKind.OUTSIDE_EU]
        return no_vat(VatKind.OUTSIDE_EU, wording)
    if not in_eu(recipient.country):
        return no_vat(VatKind.OUTSIDE_EU_RECIPIENT, _WORDING[VatKind.OUTSIDE_EU_RECIPIENT])
    return no_vat(VatKind.REVERSE_CHARGE, _WORDING[VatKind.REVERSE_CHARGE])


# --- the document ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PayoutDocument:
    """What a payout's statement and invoice print. `net` and `total` are derived."""

    payout_id: str
    period: str  # "2026-11" or "2026-11-01 to 2026-11-15"
    issued_on: date
    currency: str  # the payout currency
    lines: tuple[DocumentLine, ...]
    supplier: LegalParty  # the partner
    recipient: LegalParty  # the operator
    invoice_number: str | None  # None on a statement-only payout
    payment: str  # "SEPA credit transfer to DE89 3704 … (BIC …)", "PayPal to x@y"
    vat: VatTreatment

    def __post_init__(self) -> None:
        if not is_currency(self.currency):
            raise ValueError(f"unknown payout currency {self.currency!r}")
        for line in self.lines:
            if not is_currency(line.currency):
                raise ValueError(f"{line.commission_id}: unknown currency {line.currency!r}")
            if round_money(line.payout_amount, self.currency) != line.payout_amount:
                raise ValueError(
                    f"{line.commission_id}: payout amount {line.payout_amount} has more "
                    f"decimals than {self.currency} allows ({minor_units(self.currency)})"
                )
            if line.rate is None and line.currency != self.currency:
                raise ValueError(
                    f"{line.commission_id}: a {line.currency} line paid in {self.currency} "
                    "needs the rate it was converted at"
                )

    @property
    def net(self) -> Decimal:
        """The sum of the lines in the payout currency: the invoice's taxable amount."""
        return round_money(sum((x.payout_amount for x in self.lines), Decimal(0)), self.currency)

    @property
    def total(self) -> Decimal:
        """What the partner is paid: net plus VAT."""
        return self.net + self.vat.vat


def invoice_problems(document: PayoutDocument) -> list[str]:
    """Why `document` cannot be issued as a self-billing invoice (empty when it can).

    Call it before taking an invoice number from the gap-free sequence."""
    problems: list[str] = []
    number = document.invoice_number
    if number is None or not number.strip():
        problems.append("the payout has no invoice number (a statement-only payout)")
    if document.net < 0:
        problems.append("the net amount is negative: a payout is never negative")
    vat = document.vat
    try:
        expected = vat_treatment(
            document.supplier,
            document.recipient,
            document.net,
            document.currency,
            domestic_vat_rate=vat.rate,
        )
    except ValueError as error:
        problems.append(str(error))
    else:
        # A treatment computed for other parties or another net amount is a wrong invoice.
        if (expected.kind, expected.vat) != (vat.kind, vat.vat):
            problems.append(
                f"the VAT treatment ({vat.kind}, {vat.vat}) does not match the parties and the "
                f"net amount ({expected.kind}, {expected.vat})"
            )
    if vat.needs_vat_ids:
        for role, party in (("supplier", document.supplier), ("recipient", document.recipient)):
            vat_id = (party.vat_id or "").replace(" ", "").upper()
            prefix = vat_prefix(party.country)
            if not vat_id:
                problems.append(f"reverse charge needs the {role}'s VAT id")
            elif not vat_id.startswith(prefix):
                problems.append(
                    f"the {role}'s VAT id {party.vat_id} does not start with {prefix} "
                    f"(country {party.country})"
                )
    return problems


# --- the reader's language ------------------------------------------------------------------


@cache
def _money_pattern(locale: str, digits: int) -> NumberPattern:
    """The locale's currency pattern with the currency's ISO 4217 minor units (money.py),
    which are what the amounts are rounded to (CLDR differs for a few currencies)."""
    pattern = parse_pattern(i18n.format_locale(locale).currency_formats["standard"].pattern)
    pattern.frac_prec = (digits, digits)
    return pattern


class _Words:
    """Translated labels and locale formats of one document, independent of any request."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if i18n.is_supported(locale) else i18n.DEFAULT
        self._catalog = i18n.translations(self.locale)
        self._format: Locale = i18n.format_locale(self.locale)

    def __call__(self, message: str, **values: Any) -> str:
        text = self._catalog.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        values.setdefault("num", self.number(n))
        return self._catalog.ngettext(singular, plural, n) % values

    def number(self, n: int) -> str:
        return format_decimal(n, locale=self._format)

    def money(self, amount: Decimal, currency: str) -> str:
        pattern = _money_pattern(self.locale, minor_units(currency))
        text = pattern.apply(amount, self._format, currency=currency, currency_digits=False)
        # "SEK 1,250.00", never "SEK1,250.00" (as on the pages).
        return re.sub(r"^(-?)([A-Z]{3})(?=\d)", "\\1\\2\u00a0", text)

    def day(self, value: date) -> str:
        return format_date(value, "medium", locale=self._format)

    def rate(self, value: Decimal) -> str:
        """An exchange rate with every digit it was stored with, trailing zeros dropped."""
        return format_decimal(
            value, format="#,##0.####", locale=self._format, decimal_quantization=False
        )

    def percent(self, value: Decimal) -> str:
        return format_percent(value / 100, locale=self._format, decimal_quantization=False)

    def country(self, code: str) -> str:
        return str(self._format.territories.get(code, code))

    @property
    def bcp47(self) -> str:
        return self.locale.replace("_", "-")


def _prepare(
    document: PayoutDocument,
    locale: str,
    fonts: DocumentFonts | None,
    orientation: Literal["portrait", "landscape"],
) -> tuple[Sheet, _Words]:
    """A sheet, and the language it can show: English when the fonts lack the language's
    script (Chinese without a CJK font), since labels made of "�" help no one."""
    sheet = Sheet(fonts or pdf.DEFAULT_FONTS, orientation=orientation)
    words = _Words(locale)
    if words.locale != i18n.DEFAULT:
        sample = words("Payout statement") + words("Invoice") + words.day(document.issued_on)
        if not sheet.covers(sample):
            log.warning(
                "payout %s: no font for %s labels on this machine, the PDF is in English "
                "(docs/payouts-documents.md)",
                document.payout_id,
                words.locale,
            )
            words = _Words(i18n.DEFAULT)
    sheet.set_lang(words.bcp47)
    sheet.set_creator("Alliance")
    sheet.set_author(document.recipient.name)
    # A fixed date makes the bytes depend on the document only: the same payout, the same PDF.
    sheet.set_creation_date(datetime.combine(document.issued_on, time(), tzinfo=UTC))
    return sheet, words


# --- layout pieces --------------------------------------------------------------------------

_LINE = 4.6  # mm per line of 9 pt text


def _title(sheet: Sheet, text: str, mention: str | None = None) -> None:
    sheet.use(17, bold=True)
    sheet.cell(0, 9, sheet.show(text), new_x="LMARGIN", new_y="NEXT")
    if mention:
        sheet.use(10.5, bold=True)
        sheet.cell(0, 6, sheet.show(mention), new_x="LMARGIN", new_y="NEXT")
    sheet.ln(3)


def _block(
    sheet: Sheet, x: float, y: float, width: float, rows: Sequence[tuple[str, bool]]
) -> float:
    """Lines of text (text, bold) at (x, y) in a column; returns the y below them."""
    sheet.set_xy(x, y)
    for text, bold in rows:
        sheet.use(9, bold=bold)
        sheet.set_x(x)
        sheet.multi_cell(width, _LINE, sheet.show(text), new_x="LEFT", new_y="NEXT")
    return sheet.get_y()


def _party(_: _Words, party: LegalParty, heading: str) -> list[tuple[str, bool]]:
    rows: list[tuple[str, bool]] = [(heading, False), (party.name, True)]
    if party.entity == INDIVIDUAL:
        rows.append((_("Private individual"), False))
    rows += [(line, False) for line in party.address if line.strip()]
    rows.append((_.country(party.country), False))
    if party.vat_id:
        rows.append((_("VAT ID: %(vat_id)s", vat_id=party.vat_id), False))
    if party.tax_id:
        rows.append((_("Tax ID: %(tax_id)s", tax_id=party.tax_id), False))
    return rows


def _facts(
    sheet: Sheet, x: float, y: float, width: float, facts: Sequence[tuple[str, str]]
) -> float:
    """Label: value pairs in two columns at (x, y); returns the y below them."""
    sheet.use(9, bold=True)
    widest = max(sheet.get_string_width(sheet.show(label)) for label, _value in facts)
    label_width = min(widest + 4, width * 0.5)
    sheet.set_xy(x, y)
    for label, value in facts:
        top = sheet.get_y()
        sheet.use(9, bold=True)
        sheet.set_xy(x, top)
        sheet.multi_cell(label_width, _LINE, sheet.show(label), new_x="RIGHT", new_y="TOP")
        label_bottom = sheet.get_y()
        sheet.use(9)
        sheet.set_xy(x + label_width, top)
        sheet.multi_cell(width - label_width, _LINE, sheet.show(value), new_x="LEFT", new_y="NEXT")
        sheet.set_y(max(sheet.get_y(), label_bottom))
    return sheet.get_y()


def _side_by_side(
    sheet: Sheet,
    left: Sequence[tuple[str, bool]],
    right: Callable[[float, float, float], float],
) -> None:
    """The party on the left half, `right(x, y, width)` on the right; continue below both."""
    top = sheet.get_y()
    half = sheet.epw / 2 - 4
    left_bottom = _block(sheet, sheet.l_margin, top, half, left)
    right_bottom = right(sheet.l_margin + sheet.epw / 2 + 4, top, half)
    sheet.set_xy(sheet.l_margin, max(left_bottom, right_bottom) + 6)


def _totals(sheet: Sheet, rows: Sequence[tuple[str, str, bool]], width: float = 110) -> None:
    """Right-aligned label/amount rows (the last ones bold when asked)."""
    x = sheet.l_margin + sheet.epw - width
    for label, amount, bold in rows:
        sheet.use(9.5, bold=bold)
        sheet.set_x(x)
        sheet.cell(width * 0.62, 6, sheet.show(label))
        sheet.cell(width * 0.38, 6, sheet.show(amount), align="R", new_x="LMARGIN", new_y="NEXT")


def _paragraph(sheet: Sheet, text: str, *, size: float = 9, bold: bool = False) -> None:
    sheet.use(size, bold=bold)
    sheet.set_x(sheet.l_margin)
    sheet.multi_cell(0, size * 0.5, sheet.show(text), new_x="LMARGIN", new_y="NEXT")


def _vat_rows(document: PayoutDocument, _: _Words) -> list[tuple[str, str, bool]]:
    vat = document.vat
    rows = [(_("Net amount"), _.money(document.net, document.currency), False)]
    if vat.kind is VatKind.DOMESTIC:
        label = _("VAT %(rate)s", rate=_.percent(vat.rate))
        rows.append((label, _.money(vat.vat, document.currency), False))
    elif vat.kind is VatKind.REVERSE_CHARGE:
        rows.append((_("VAT (reverse charge)"), _.money(vat.vat, document.currency), False))
    rows.append((_("Total amount"), _.money(document.total, document.currency), True))
    return rows


def _page_label(_: _Words) -> Callable[[int, str], str]:
    return lambda page, pages: _("Page %(page)s of %(pages)s", page=page, pages=pages)


def _output(sheet: Sheet) -> bytes:
    return bytes(sheet.output())


# --- the statement --------------------------------------------------------------------------

_HEADING = FontFace(emphasis="BOLD", fill_color=(236, 236, 236))


def statement_pdf(
    document: PayoutDocument, *, locale: str = "en", fonts: DocumentFonts | None = None
) -> bytes:
    """The payout statement: every commission line and the totals, on as many A4 landscape
    pages as it takes (the table's heading repeated, "Page x of y" in the footer)."""
    sheet, _ = _prepare(document, locale, fonts, "landscape")
    title = _("Payout statement")
    sheet.set_title(f"{title} {document.payout_id}")
    sheet.furnish(
        running_header=f"{title} {document.payout_id} · {document.supplier.name}",
        footer_left=f"{title} {document.payout_id}",
        page_label=_page_label(_),
    )
    sheet.add_page()
    _title(sheet, title)
    facts = [
        (_("Payout"), document.payout_id),
        (_("Period"), document.period),
        (_("Issued on"), _.day(document.issued_on)),
        (_("Payout currency"), document.currency),
    ]
    if document.invoice_number:
        facts.append((_("Self-billing invoice"), document.invoice_number))
    facts.append((_("Issued by"), document.recipient.name))
    _side_by_side(
        sheet,
        _party(_, document.supplier, _("Partner")),
        lambda x, y, width: _facts(sheet, x, y, width, facts),
    )
    _paragraph(
        sheet,
        _(
            "Every commission settled by this payout. Amounts in another currency are "
            "converted at the ECB reference rate of the day shown."
        ),
        size=8.5,
    )
    sheet.ln(2)
    _statement_lines(sheet, _, document)
    sheet.ln(4)
    _currency_summary(sheet, _, document)
    sheet.ln(3)
    _totals(sheet, _vat_rows(document, _))
    sheet.ln(4)
    _paragraph(sheet, _("Payment: %(method)s", method=document.payment))
    return _output(sheet)


def _statement_lines(sheet: Sheet, _: _Words, document: PayoutDocument) -> None:
    if not document.lines:
        _paragraph(sheet, _("No commissions in this payout."))
        return
    sheet.use(7.5)
    id_width = max(sheet.get_string_width(sheet.show(x.commission_id)) for x in document.lines)
    # The id column fits the longest id on one line (so it can be searched and copied), up
    # to a limit that leaves the description its room.
    widths = [22.0, min(max(id_width + 3, 24.0), 60.0), 36.0, 0.0, 30.0, 38.0, 30.0]
    widths[3] = sheet.epw - sum(widths)
    headings = (
        _("Date"),
        _("Commission"),
        _("Program"),
        _("Description"),
        _("Amount"),
        _("Exchange rate (ECB day)"),
        _("Amount in %(currency)s", currency=document.currency),
    )
    with sheet.table(
        width=sheet.epw,
        col_widths=widths,
        text_align=("LEFT", "LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
        borders_layout="HORIZONTAL_LINES",
        headings_style=_HEADING,
        line_height=3.6,
        padding=(1.2, 1, 1.2, 1),
        repeat_headings=1,
    ) as table:
        row = table.row()
        for heading in headings:
            row.cell(sheet.show(heading))
        for line in document.lines:
            row = table.row()
            for text in (
                _.day(line.occurred_on),
                line.commission_id,
                line.program,
                line.description,
                _.money(line.amount, line.currency),
                _rate_cell(_, line),
                _.money(line.payout_amount, document.currency),
            ):
                row.cell(sheet.show(text))


def _rate_cell(_: _Words, line: DocumentLine) -> str:
    """The rate and its ECB day; a dash for a line already in the payout currency."""
    if line.rate is None:
        return "—"
    if line.rate_day is None:
        return _.rate(line.rate)
    return f"{_.rate(line.rate)} ({_.day(line.rate_day)})"


def _currency_summary(sheet: Sheet, _: _Words, document: PayoutDocument) -> None:
    """Per program currency: how many lines, their sum, and what they came to."""
    sums: dict[str, tuple[int, Decimal, Decimal]] = {}
    for line in document.lines:
        count, original, paid = sums.get(line.currency, (0, Decimal(0), Decimal(0)))
        sums[line.currency] = (count + 1, original + line.amount, paid + line.payout_amount)
    if not sums:
        return
    sheet.use(8)
    width = 150.0
    with sheet.table(
        width=width,
        col_widths=(36, 28, 43, 43),
        align="RIGHT",
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
        borders_layout="HORIZONTAL_LINES",
        headings_style=_HEADING,
        line_height=4,
        padding=(1, 1, 1, 1),
    ) as table:
        row = table.row()
        for heading in (
            _("Program currency"),
            _("Commissions"),
            _("Amount"),
            _("Amount in %(currency)s", currency=document.currency),
        ):
            row.cell(sheet.show(heading))
        for currency in sorted(sums):
            count, original, paid = sums[currency]
            row = table.row()
            for text in (
                currency,
                _.number(count),
                _.money(round_money(original, currency), currency),
                _.money(round_money(paid, document.currency), document.currency),
            ):
                row.cell(sheet.show(text))


# --- the invoice ----------------------------------------------------------------------------


def invoice_pdf(
    document: PayoutDocument, *, locale: str = "en", fonts: DocumentFonts | None = None
) -> bytes:
    """The self-billing invoice of a payout (A4 portrait). Raises ValueError for the problems
    `invoice_problems` lists: no number, reverse charge without both VAT ids, a VAT treatment
    that does not fit the parties."""
    problems = invoice_problems(document)
    if problems:
        raise ValueError(f"payout {document.payout_id}: " + "; ".join(problems))
    assert document.invoice_number is not None  # checked above
    sheet, _ = _prepare(document, locale, fonts, "portrait")
    title = _("Invoice")
    sheet.set_title(f"{title} {document.invoice_number}")
    sheet.furnish(
        running_header=f"{title} {document.invoice_number} · {SELF_BILLING}",
        footer_left=f"{title} {document.invoice_number} · {SELF_BILLING}",
        page_label=_page_label(_),
    )
    sheet.add_page()
    # Translators: the mention Article 226(10a) of Directive 2006/112/EC requires on a
    # self-billed invoice, as your language's version of the Directive words it (de:
    # "Gutschrift", sv: "Självfakturering", es: "Facturación por el destinatario").
    local = _("Self-billing")
    mention = SELF_BILLING if local == SELF_BILLING else f"{SELF_BILLING} / {local}"
    _title(sheet, title, mention)
    _paragraph(
        sheet,
        _(
            "Issued by the recipient of the service in the name and on behalf of the "
            "supplier, under a self-billing agreement."
        ),
        size=8.5,
    )
    sheet.ln(4)
    _side_by_side(
        sheet,
        _party(_, document.supplier, _("Supplier (partner)")),
        lambda x, y, width: _block(
            sheet, x, y, width, _party(_, document.recipient, _("Recipient (issuer)"))
        ),
    )
    facts = [
        (_("Invoice number"), document.invoice_number),
        (_("Invoice date"), _.day(document.issued_on)),
        (_("Period of supply"), document.period),
        (_("Payout"), document.payout_id),
        (_("Currency"), document.currency),
    ]
    sheet.set_y(_facts(sheet, sheet.l_margin, sheet.get_y(), sheet.epw, facts) + 6)
    service = _("Partner marketing commission, period %(period)s", period=document.period)
    detail = _.ngettext(
        "%(num)s commission, itemised in payout statement %(payout)s",
        "%(num)s commissions, itemised in payout statement %(payout)s",
        len(document.lines),
        payout=document.payout_id,
    )
    sheet.use(9)
    with sheet.table(
        width=sheet.epw,
        col_widths=(130, 50),
        text_align=("LEFT", "RIGHT"),
        borders_layout="HORIZONTAL_LINES",
        headings_style=_HEADING,
        line_height=_LINE,
        padding=(1.5, 1, 1.5, 1),
    ) as table:
        row = table.row()
        row.cell(sheet.show(_("Description")))
        row.cell(sheet.show(_("Amount")))
        row = table.row()
        row.cell(sheet.show(f"{service}\n{detail}"))
        row.cell(sheet.show(_.money(document.net, document.currency)))
    sheet.ln(3)
    _totals(sheet, _vat_rows(document, _))
    sheet.ln(5)
    _paragraph(sheet, document.vat.wording, bold=True)
    explained = _(_EXPLAINED[document.vat.kind])
    if _.locale != i18n.DEFAULT:
        _paragraph(sheet, explained, size=8.5)
    sheet.ln(4)
    _paragraph(sheet, _("Payment: %(method)s", method=document.payment))
    return _output(sheet)
