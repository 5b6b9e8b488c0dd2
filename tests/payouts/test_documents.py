# ruff: noqa: RUF001, RUF003  (partners' names in Greek and Cyrillic letters are the point)
"""Payout statements and self-billing invoices: the VAT rules by table, the PDFs read back."""

from __future__ import annotations

import io
import logging
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from alliance.payouts import pdf
from alliance.payouts.documents import (
    EU_MEMBER_STATES,
    DocumentLine,
    LegalParty,
    PayoutDocument,
    VatKind,
    invoice_pdf,
    invoice_problems,
    statement_pdf,
    vat_prefix,
    vat_treatment,
)
from alliance.payouts.pdf import DocumentFonts, FontFile
from tests.conftest import require

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEJAVU_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
LIBERATION = Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")


@pytest.fixture()
def dejavu() -> None:
    """DejaVu Sans: a failure in CI (.ci/run installs it), a skip elsewhere."""
    require(DEJAVU.is_file(), "DejaVu Sans is not installed (fonts-dejavu-core)")


# The Unicode font without any CJK fallback: what a machine without CJK fonts has.
NO_CJK = DocumentFonts(regular=FontFile(DEJAVU), bold=FontFile(DEJAVU_BOLD), fallbacks=())
CJK_FONT = next((f for f in pdf.DEFAULT_FONTS.fallbacks if f.path.is_file()), None)

OPERATOR = LegalParty(
    name="Alliance Network AB",
    address=("Kungsgatan 5", "111 43 Stockholm"),
    country="SE",
    entity="business",
    vat_id="SE556677889901",
    tax_id="556677-8899",
)
DE_BUSINESS = LegalParty(
    name="Müller Gutscheine GmbH",
    address=("Hauptstraße 12", "10115 Berlin"),
    country="DE",
    entity="business",
    vat_id="DE123456789",
    tax_id="30/123/45678",
)
SE_BUSINESS = LegalParty(
    name="Åsa Öberg Media AB",
    address=("Storgatan 1", "211 34 Malmö"),
    country="SE",
    entity="business",
    vat_id="SE559900112201",
    tax_id=None,
)
SE_INDIVIDUAL = LegalParty(
    name="Björn Ek",
    address=("Vägen 3", "753 20 Uppsala"),
    country="SE",
    entity="individual",
    vat_id=None,
    tax_id=None,
)
US_BUSINESS = LegalParty(
    name="Deal Hunters LLC",
    address=("100 Main St", "Austin, TX 78701"),
    country="US",
    entity="business",
    vat_id=None,
    tax_id="12-3456789",
)
GR_BUSINESS = LegalParty(
    name="Ελληνικές Προσφορές ΙΚΕ",
    address=("Οδός Ερμού 10", "105 63 Αθήνα"),
    country="GR",
    entity="business",
    vat_id="EL094259216",
    tax_id=None,
)
PAYMENT = "SEPA credit transfer to DE89 3704 0044 0532 0130 00 (BIC COBADEFFXXX)"


def _line(number: int, **changes: object) -> DocumentLine:
    line = DocumentLine(
        commission_id=f"com_01JD3Q8Z{number:018d}",
        occurred_on=date(2026, 11, 1 + number % 28),
        program="Nordic Shoes",
        description=f"Sale, order {10000 + number} (1 249.00 SEK)",
        amount=Decimal("124.90"),
        currency="SEK",
        rate=Decimal("0.0871234"),
        rate_day=date(2026, 11, 3),
        payout_amount=Decimal("10.88"),
    )
    return replace(line, **changes)  # type: ignore[arg-type]


def _document(
    supplier: LegalParty = DE_BUSINESS,
    lines: tuple[DocumentLine, ...] | None = None,
    *,
    currency: str = "EUR",
    invoice_number: str | None = "SB-2026-000017",
    rate: Decimal | None = None,
    recipient: LegalParty = OPERATOR,
) -> PayoutDocument:
    if lines is None:
        lines = (
            _line(1),
            _line(2, program="Tokyo Tea", amount=Decimal("1500"), currency="JPY",
                  rate=Decimal("0.006123"), payout_amount=Decimal("9.18")),
            _line(3, program="Berlin Bikes", description="Sale, order B-77", currency="EUR",
                  amount=Decimal("42.50"), rate=None, rate_day=None,
                  payout_amount=Decimal("42.50")),
            _line(4, description="Refund adjustment", amount=Decimal("-24.98"),
                  payout_amount=Decimal("-2.18")),
        )  # fmt: skip
    net = sum((x.payout_amount for x in lines), Decimal(0))
    return PayoutDocument(
        payout_id="po_01JD3QB5PAYOUT0000000000001",
        period="2026-11",
        issued_on=date(2026, 12, 1),
        currency=currency,
        lines=lines,
        supplier=supplier,
        recipient=recipient,
        invoice_number=invoice_number,
        payment=PAYMENT,
        vat=vat_treatment(supplier, recipient, net, currency, domestic_vat_rate=rate),
    )


def _pages(data: bytes) -> list[str]:
    """The text of each page, with the no-break spaces of money formats made plain."""
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    return [
        (page.extract_text() or "").replace("\u00a0", " ").replace("\u202f", " ")
        for page in reader.pages
    ]


def _text(data: bytes) -> str:
    return "\n".join(_pages(data))


# --- VAT rules ------------------------------------------------------------------------------


def test_the_eu_has_27_member_states_and_greece_uses_el() -> None:
    assert len(EU_MEMBER_STATES) == 27
    assert {"DE", "SE", "GR", "HR", "CY", "MT"} <= EU_MEMBER_STATES
    assert not {"GB", "EL", "CH", "NO", "IS", "LI", "AX"} & EU_MEMBER_STATES
    assert vat_prefix("GR") == "EL"
    assert vat_prefix("DE") == "DE"


US_OPERATOR = replace(OPERATOR, country="US", vat_id=None, tax_id="98-7654321")
GB_BUSINESS = replace(US_BUSINESS, name="Vouchers Ltd", country="GB", vat_id="GB123456789")


REVERSE_CHARGE = ["Reverse charge", "Article 196 of Council Directive 2006/112/EC"]
OUTSIDE_TO_EU = ["established outside the European Union", "the recipient accounts for the VAT"]


@pytest.mark.parametrize(
    ("supplier", "recipient", "rate", "kind", "vat", "words"),
    [
        # EU business in another member state: reverse charge, whatever rate it declared.
        (DE_BUSINESS, OPERATOR, None, VatKind.REVERSE_CHARGE, "0.00", REVERSE_CHARGE),
        (DE_BUSINESS, OPERATOR, Decimal(19), VatKind.REVERSE_CHARGE, "0.00", REVERSE_CHARGE),
        (GR_BUSINESS, OPERATOR, None, VatKind.REVERSE_CHARGE, "0.00", REVERSE_CHARGE),
        # Same country: the declared rate, or no VAT for a business not registered.
        (SE_BUSINESS, OPERATOR, Decimal(25), VatKind.DOMESTIC, "250.00", ["25%"]),
        (SE_BUSINESS, OPERATOR, Decimal("12.5"), VatKind.DOMESTIC, "125.00", ["12.5%"]),
        (SE_BUSINESS, OPERATOR, None, VatKind.DOMESTIC_NO_VAT, "0.00", ["Articles 282 to 292"]),
        (SE_BUSINESS, OPERATOR, Decimal(0), VatKind.DOMESTIC_NO_VAT, "0.00", ["not registered"]),
        # Individuals: no VAT, whatever they declared.
        (SE_INDIVIDUAL, OPERATOR, Decimal(25), VatKind.NOT_TAXABLE_INDIVIDUAL, "0.00",
         ["private individual", "not a taxable person", "Article 9"]),
        # Outside the EU: no VAT on the invoice, the recipient accounts for it.
        (US_BUSINESS, OPERATOR, None, VatKind.OUTSIDE_EU, "0.00", [*OUTSIDE_TO_EU, "Article 196"]),
        (GB_BUSINESS, OPERATOR, Decimal(20), VatKind.OUTSIDE_EU, "0.00", OUTSIDE_TO_EU),
        (GB_BUSINESS, US_OPERATOR, None, VatKind.OUTSIDE_EU, "0.00",
         ["recipient accounts for any VAT or other tax due"]),
        (DE_BUSINESS, US_OPERATOR, None, VatKind.OUTSIDE_EU_RECIPIENT, "0.00", ["Article 44"]),
        # Both in the same non-EU country and no rate: no VAT, no EU articles.
        (US_BUSINESS, US_OPERATOR, None, VatKind.DOMESTIC_NO_VAT, "0.00", ["not registered"]),
    ],
)  # fmt: skip
def test_vat_treatment_follows_the_parties(
    supplier: LegalParty,
    recipient: LegalParty,
    rate: Decimal | None,
    kind: VatKind,
    vat: str,
    words: list[str],
) -> None:
    net = Decimal("1000.00")
    treatment = vat_treatment(supplier, recipient, net, "EUR", domestic_vat_rate=rate)
    assert treatment.kind == kind
    assert treatment.vat == Decimal(vat)
    assert str(treatment.vat) == vat  # quantised to the currency: 0.00, not 0
    assert treatment.rate == (rate if kind is VatKind.DOMESTIC else 0)
    for word in words:
        assert word in treatment.wording
    if supplier.country not in EU_MEMBER_STATES or recipient.country not in EU_MEMBER_STATES:
        assert "Articles 282" not in treatment.wording  # EU law only where it applies
        assert "Article 9" not in treatment.wording


def test_domestic_vat_is_rounded_half_even_to_the_minor_unit() -> None:
    def vat(net: str, currency: str, rate: str) -> Decimal:
        party = replace(SE_BUSINESS, country="JP") if currency == "JPY" else SE_BUSINESS
        operator = replace(OPERATOR, country=party.country)
        treatment = vat_treatment(
            party, operator, Decimal(net), currency, domestic_vat_rate=Decimal(rate)
        )
        return treatment.vat

    assert vat("0.25", "EUR", "10") == Decimal("0.02")  # 0.025: half-even, not 0.03
    assert vat("0.35", "EUR", "10") == Decimal("0.04")  # 0.035 → 0.04
    assert vat("1005", "JPY", "10") == Decimal("100")  # 100.5 → 100, no decimals in JPY
    assert vat("1015", "JPY", "10") == Decimal("102")  # 101.5 → 102


@pytest.mark.parametrize(
    ("recipient", "rate", "message"),
    [
        (SE_INDIVIDUAL, None, "a business"),
        (OPERATOR, Decimal("100"), "percentage"),
        (OPERATOR, Decimal("-1"), "percentage"),
    ],
)
def test_vat_treatment_refuses_what_cannot_be(
    recipient: LegalParty, rate: Decimal | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        vat_treatment(SE_BUSINESS, recipient, Decimal("10.00"), "EUR", domestic_vat_rate=rate)


def test_a_party_and_a_document_refuse_bad_data() -> None:
    with pytest.raises(ValueError, match="entity"):
        replace(SE_BUSINESS, entity="company")
    with pytest.raises(ValueError, match="country"):
        replace(SE_BUSINESS, country="se")
    with pytest.raises(ValueError, match="country"):
        replace(SE_BUSINESS, country="EL")  # a VAT prefix, not a country
    with pytest.raises(ValueError, match="decimals"):
        _document(lines=(_line(1, payout_amount=Decimal("10.885")),))
    with pytest.raises(ValueError, match="rate"):
        _document(lines=(_line(1, rate=None),))  # SEK paid in EUR without a rate


def test_net_is_the_sum_of_the_lines_and_total_adds_the_vat() -> None:
    document = _document(SE_BUSINESS, rate=Decimal("25"))
    assert document.net == Decimal("10.88") + Decimal("9.18") + Decimal("42.50") - Decimal("2.18")
    assert document.net == Decimal("60.38")
    assert document.vat.vat == Decimal("15.10")  # 15.095 → 15.10 (half-even: 9 is odd)
    assert document.total == Decimal("75.48")


# --- the statement --------------------------------------------------------------------------


def test_the_statement_lists_every_line_and_the_totals() -> None:
    document = _document(SE_BUSINESS, rate=Decimal("25"))
    text = _text(statement_pdf(document))
    assert "Payout statement" in text
    assert document.payout_id in text
    assert "2026-11" in text
    assert "Dec 1, 2026" in text  # issued on
    assert "SB-2026-000017" in text
    assert "Åsa Öberg Media AB" in text and "Malmö" in text
    for line in document.lines:
        assert line.commission_id in text
        assert line.description in text
        assert line.program in text
    # original amounts in their currency, the rate and its day, amounts in the payout currency
    assert "SEK 124.90" in text and "¥1,500" in text and "€42.50" in text
    assert "-SEK 24.98" in text and "-€2.18" in text  # the refund adjustment, negative
    assert "0.0871234 (Nov 3, 2026)" in text and "0.006123 (Nov 3, 2026)" in text
    assert "€10.88" in text and "€9.18" in text
    # totals: net, VAT 25 %, total paid
    assert re.search(r"Net amount\s*€60\.38", text)
    assert re.search(r"VAT 25%\s*€15\.10", text)
    assert re.search(r"Total amount\s*€75\.48", text)
    # per program currency: lines, their sum, what they came to (SEK: 124.90 - 24.98)
    assert re.search(r"EUR\s+1\s+€42\.50\s+€42\.50", text)
    assert re.search(r"JPY\s+1\s+¥1,500\s+€9\.18", text)
    assert re.search(r"SEK\s+2\s+SEK 99\.92\s+€8\.70", text)
    assert PAYMENT in text
    assert "Page 1 of 1" in text


def test_a_300_line_statement_spans_pages_with_page_x_of_y() -> None:
    lines = tuple(_line(n) for n in range(300))
    document = _document(lines=lines)
    pages = _pages(statement_pdf(document))
    assert len(pages) > 3
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
        if "com_01JD3Q8Z" in page:
            assert "Commission" in page and "Amount in EUR" in page  # the heading, repeated
    text = "\n".join(pages)
    ids = re.findall(r"com_01JD3Q8Z\d{18}", text)
    assert sorted(ids) == sorted(line.commission_id for line in lines)  # each exactly once
    assert re.search(r"Total amount\s*€3,264\.00", text)  # 300 × 10.88
    assert "Total amount" in pages[-1] and "Total amount" not in pages[0]


def test_the_statement_speaks_the_partners_language() -> None:
    text = _text(statement_pdf(_document(SE_BUSINESS, rate=Decimal("25")), locale="de"))
    assert "Auszahlungsabrechnung" in text
    assert "Seite 1 von 1" in text
    assert "01.12.2026" in text
    assert "60,38 €" in text and "124,90 SEK" in text and "1.500 ¥" in text
    assert "0,0871234 (03.11.2026)" in text
    assert "USt. 25 %" in text
    assert "Schweden" in text or "Åsa Öberg Media AB" in text
    text = _text(statement_pdf(_document(SE_BUSINESS), locale="sv"))
    assert "Utbetalningsspecifikation" in text and "Sida 1 av 1" in text
    assert "60,38 €" in text and "124,90 kr" in text


def test_a_statement_only_payout_and_an_empty_one_render() -> None:
    text = _text(statement_pdf(_document(invoice_number=None)))
    assert "Self-billing invoice" not in text
    assert "com_01JD3Q8Z000000000000000001" in text
    text = _text(statement_pdf(_document(lines=(), invoice_number=None)))
    assert "No commissions in this payout." in text
    assert re.search(r"Total amount\s*€0\.00", text)


# --- the invoice ----------------------------------------------------------------------------


def test_a_reverse_charge_invoice_for_a_german_business_and_a_swedish_operator() -> None:
    document = _document(DE_BUSINESS)
    assert document.vat.kind is VatKind.REVERSE_CHARGE
    assert invoice_problems(document) == []
    text = _text(invoice_pdf(document))
    assert "Invoice" in text and "Self-billing" in text
    assert "SB-2026-000017" in text
    assert "Dec 1, 2026" in text
    assert "Müller Gutscheine GmbH" in text and "Hauptstraße 12" in text and "Germany" in text
    assert "Alliance Network AB" in text and "Kungsgatan 5" in text and "Sweden" in text
    assert "VAT ID: DE123456789" in text and "VAT ID: SE556677889901" in text
    assert "Partner marketing commission, period 2026-11" in text
    flat = " ".join(text.split())
    assert "4 commissions, itemised in payout statement po_01JD3QB5PAYOUT0000000000001" in flat
    assert re.search(r"Net amount\s*€60\.38", text)
    assert re.search(r"VAT \(reverse charge\)\s*€0\.00", text)
    assert re.search(r"Total amount\s*€60\.38", text)
    assert "Article 196 of Council Directive 2006/112/EC" in flat
    assert "Reverse charge: the recipient of the service is liable for the VAT" in flat
    assert PAYMENT in text


def test_a_greek_business_invoices_with_its_el_vat_id() -> None:
    text = _text(invoice_pdf(_document(GR_BUSINESS)))
    assert "VAT ID: EL094259216" in text
    assert "Greece" in text


def test_an_individual_gets_no_vat_line() -> None:
    document = _document(SE_INDIVIDUAL, rate=Decimal("25"))
    text = _text(invoice_pdf(document))
    assert "Private individual" in text
    assert not re.search(r"^VAT(?! ID)", text, re.MULTILINE)  # no "VAT 25%", no "VAT (reverse…)"
    assert "€15.10" not in text
    assert re.search(r"Net amount\s*€60\.38", text)
    assert re.search(r"Total amount\s*€60\.38", text)
    assert "not a taxable person" in " ".join(text.split())


def test_a_same_country_business_pays_its_declared_vat() -> None:
    same = {"currency": "SEK", "rate": None, "rate_day": None}
    lines = (
        _line(1, amount=Decimal("1000.00"), payout_amount=Decimal("1000.00"), **same),
        _line(2, amount=Decimal("249.50"), payout_amount=Decimal("249.50"), **same),
    )
    document = _document(SE_BUSINESS, lines, currency="SEK", rate=Decimal(25))
    text = _text(invoice_pdf(document))
    assert re.search(r"Net amount\s*SEK 1,249\.50", text)
    assert re.search(r"VAT 25%\s*SEK 312\.38", text)  # 312.375 → 312.38 (half-even: 7 odd)
    assert re.search(r"Total amount\s*SEK 1,561\.88", text)
    assert "VAT charged at 25%" in text
    text = _text(invoice_pdf(document, locale="sv"))
    assert re.search(r"Moms 25 %\s*312,38 kr", text)
    assert re.search(r"Totalbelopp\s*1 561,88 kr", text)


def test_a_same_country_business_without_a_rate_charges_no_vat() -> None:
    text = _text(invoice_pdf(_document(SE_BUSINESS, rate=None)))
    assert not re.search(r"^VAT(?! ID)", text, re.MULTILINE)
    assert "small enterprise" in " ".join(text.split())


def test_a_us_business_gets_the_outside_eu_wording() -> None:
    document = _document(US_BUSINESS)
    assert document.vat.kind is VatKind.OUTSIDE_EU
    text = _text(invoice_pdf(document))
    flat = " ".join(text.split())
    assert "the supplier is established outside the European Union" in flat
    assert "the recipient accounts for the VAT due in its member state" in flat
    assert not re.search(r"^VAT(?! ID)", text, re.MULTILINE)
    assert "Tax ID: 12-3456789" in text and "United States" in text
    assert re.search(r"Total amount\s*€60\.38", text)


def test_the_invoice_in_german_keeps_the_legal_wording_and_explains_it() -> None:
    text = _text(invoice_pdf(_document(DE_BUSINESS), locale="de"))
    flat = " ".join(text.split())
    assert "Rechnung" in text and "Self-billing / Gutschrift" in text
    assert "Rechnungsnummer" in text and "01.12.2026" in text
    assert "Article 196 of Council Directive 2006/112/EC" in flat  # the legal sentence, English
    assert "Steuerschuldnerschaft des Leistungsempfängers" in flat  # explained in German
    assert "USt-IdNr.: DE123456789" in text
    assert re.search(r"Gesamtbetrag\s*60,38 €", text)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_document(invoice_number=None), "no invoice number"),
        (_document(invoice_number="  "), "no invoice number"),
        (_document(replace(DE_BUSINESS, vat_id=None)), "supplier's VAT id"),
        (_document(recipient=replace(OPERATOR, vat_id=None)), "recipient's VAT id"),
        (_document(replace(GR_BUSINESS, vat_id="GR094259216")), "does not start with EL"),
        (_document(lines=(_line(1, payout_amount=Decimal("-5.00")),)), "negative"),
    ],
)
def test_an_invoice_that_cannot_be_issued_is_refused(
    document: PayoutDocument, message: str
) -> None:
    assert any(message in problem for problem in invoice_problems(document))
    with pytest.raises(ValueError, match=message):
        invoice_pdf(document)


def test_a_vat_treatment_that_does_not_fit_the_document_is_refused() -> None:
    document = _document(SE_BUSINESS, rate=Decimal("25"))
    other_net = vat_treatment(
        SE_BUSINESS, OPERATOR, Decimal("999.00"), "EUR", domestic_vat_rate=Decimal("25")
    )
    with pytest.raises(ValueError, match="does not match"):
        invoice_pdf(replace(document, vat=other_net))
    other_party = vat_treatment(DE_BUSINESS, OPERATOR, document.net, "EUR", domestic_vat_rate=None)
    with pytest.raises(ValueError, match="does not match"):
        invoice_pdf(replace(document, vat=other_party))


def test_the_same_payout_gives_the_same_bytes() -> None:
    document = _document()
    assert statement_pdf(document) == statement_pdf(document)
    assert invoice_pdf(document, locale="es") == invoice_pdf(document, locale="es")


# --- fonts and scripts ----------------------------------------------------------------------

CHINESE = replace(
    US_BUSINESS,
    name="北京优选科技有限公司",
    address=("朝阳区建国路 88 号", "北京 100022"),
    country="CN",
)


@pytest.mark.usefixtures("dejavu")
def test_names_in_other_scripts_print_and_chinese_without_a_font_does_not_crash(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pdf, "_warned", set())
    text = _text(invoice_pdf(_document(GR_BUSINESS), fonts=NO_CJK))
    assert "Ελληνικές Προσφορές ΙΚΕ" in text and "Αθήνα" in text
    russian = replace(US_BUSINESS, name="ООО «Скидки»", country="RU")
    assert "ООО «Скидки»" in _text(statement_pdf(_document(russian), fonts=NO_CJK))
    with caplog.at_level(logging.WARNING, logger="alliance.payouts.pdf"):
        text = _text(invoice_pdf(_document(CHINESE), fonts=NO_CJK))
        _text(statement_pdf(_document(CHINESE), locale="zh_Hans", fonts=NO_CJK))
    assert "\ufffd" * 10 in text  # ten characters of the name, shown as missing, not dropped
    assert "China" in text and "100022" in text
    assert "U+5317" in caplog.text  # 北: the log names what could not be shown


@pytest.mark.usefixtures("dejavu")
def test_bold_text_takes_what_the_bold_face_lacks_from_the_regular_one() -> None:
    # Influencers write names in "mathematical" letters; DejaVu Sans Bold lacks them, and the
    # party's name is printed bold.
    fancy = replace(US_BUSINESS, name="\U0001d5b2\U0001d5c1\U0001d5c8\U0001d5c9 Deals")
    text = _text(invoice_pdf(_document(fancy), fonts=NO_CJK))
    assert "\U0001d5b2\U0001d5c1\U0001d5c8\U0001d5c9 Deals" in text


@pytest.mark.usefixtures("dejavu")
def test_chinese_labels_fall_back_to_english_without_a_cjk_font(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="alliance.payouts.documents"):
        text = _text(statement_pdf(_document(), locale="zh_Hans", fonts=NO_CJK))
    assert "Payout statement" in text and "Page 1 of 1" in text
    assert "\ufffd" not in text
    assert "the PDF is in English" in caplog.text


def test_with_a_cjk_font_chinese_prints() -> None:
    require(CJK_FONT is not None, "no CJK font is installed (fonts-noto-cjk)")
    # pypdf reads a NUL before each glyph of Noto's collection font (its ToUnicode map);
    # the glyphs themselves are the right ones.
    text = _text(statement_pdf(_document(CHINESE), locale="zh_Hans")).replace("\x00", "")
    assert "付款对账单" in text and "北京优选科技有限公司" in text


def test_fallback_fonts_fill_in_the_scripts_the_main_font_lacks() -> None:
    require(
        DEJAVU.is_file() and LIBERATION.is_file(),
        "DejaVu or Liberation is not installed (fonts-dejavu-core, fonts-liberation)",
    )
    armenian = replace(US_BUSINESS, name="Երևան Մեդիա", country="AM")
    liberation = DocumentFonts(regular=FontFile(LIBERATION))
    assert "Երևան" not in _text(invoice_pdf(_document(armenian), fonts=liberation))
    with_fallback = replace(liberation, fallbacks=(FontFile(Path("/nope.ttf")), FontFile(DEJAVU)))
    assert "Երևան Մեդիա" in _text(invoice_pdf(_document(armenian), fonts=with_fallback))


@pytest.mark.parametrize("broken", ["missing", "garbage"])
def test_without_a_unicode_font_the_core_font_stands_in(
    broken: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pdf, "_warned", set())
    font = tmp_path / "font.ttf"
    if broken == "garbage":
        font.write_bytes(b"not a font at all" * 100)
    fonts = DocumentFonts(regular=FontFile(font), bold=FontFile(font))
    with caplog.at_level(logging.WARNING, logger="alliance.payouts.pdf"):
        statement = _text(statement_pdf(_document(CHINESE), fonts=fonts))
        invoice = _text(invoice_pdf(_document(SE_BUSINESS), locale="sv", fonts=fonts))
    assert "Helvetica" in caplog.text
    assert "??????????" in statement  # the Chinese name: Latin-1 cannot show it
    assert "€60.38" in statement and "com_01JD3Q8Z000000000000000004" in statement
    assert "Åsa Öberg Media AB" in invoice and "Malmö" in invoice  # Windows-1252 has these
    assert "Totalbelopp" in invoice and "60,38 €" in invoice
