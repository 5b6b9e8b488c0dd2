"""Payment files: SEPA pain.001.001.03, the PayPal Payouts CSV, the generic CSV."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from importlib.resources import files as package_files
from typing import Any

import pytest
import xmlschema

from alliance.payouts import files
from alliance.payouts.files import (
    GENERIC_COLUMNS,
    FileRefused,
    Payer,
    Transfer,
    generic_csv,
    paypal_csv,
    paypal_files,
    sepa_credit_transfer,
    validate_pain001,
)

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
PAYER = Payer("Alliance Network GmbH", "DE89 3704 0044 0532 0130 00", "COBADEFFXXX")
BANK = Transfer(
    payout_id="pay_01JDA5Q0000000000000000001",
    partner_id="ptn_01JDA5Q0000000000000000001",
    payee_name="Content Partner Ltd",
    amount=Decimal("10.00"),
    currency="EUR",
    method="bank_transfer",
    iban="FR1420041010050500013M02606",
    bic=None,
    paypal_email=None,
    remittance="Alliance payout 2026-11 invoice SB-000123",
)
PAYPAL = replace(
    BANK,
    payout_id="pay_01JDA5Q00000000000000000P1",
    method="paypal",
    iban=None,
    paypal_email="partner@example.com",
)


def _sepa(transfers: list[Transfer], payer: Payer = PAYER) -> bytes:
    return sepa_credit_transfer(
        transfers,
        payer,
        message_id="ALLIANCE-2026-11-0001",
        execution_date=date(2026, 12, 1),
        created_at=datetime(2026, 11, 30, 10, 15, 30, 123456, tzinfo=timezone(timedelta(hours=1))),
    )


def _schema_errors(xml: bytes) -> list[str]:
    """Checked here against the XSD directly, not through the module's own validator."""
    xsd = package_files("sepaxml") / "schemas" / "pain.001.001.03.xsd"
    return [str(e.reason) for e in xmlschema.XMLSchema(str(xsd)).iter_errors(xml)]


def _text(root: ET.Element, path: str) -> list[str]:
    return [e.text or "" for e in root.findall(path, NS)]


def test_a_sepa_file_validates_and_its_sums_are_exact() -> None:
    # 0.1 + 0.2 + 100.07 in binary floats is 100.36999999999999: the sums must be Decimal.
    transfers = [
        replace(BANK, payout_id="pay_01JDA5Q0000000000000000001", amount=Decimal("0.10")),
        replace(
            BANK,
            payout_id="pay_01JDA5Q0000000000000000002",
            amount=Decimal("0.20"),
            iban="nl91 abna 0417 1643 00",
            bic="ABNANL2A",
        ),
        replace(BANK, payout_id="pay_01JDA5Q0000000000000000003", amount=Decimal("100.07")),
    ]
    xml = _sepa(transfers)
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert _schema_errors(xml) == []
    root = ET.fromstring(xml)
    assert _text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs") == ["3"]
    assert _text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum") == ["100.37"]
    assert _text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId") == ["ALLIANCE-2026-11-0001"]
    assert _text(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:CreDtTm") == ["2026-11-30T09:15:30+00:00"]
    info = root.find("p:CstmrCdtTrfInitn/p:PmtInf", NS)
    assert info is not None
    assert _text(info, "p:NbOfTxs") == ["3"]
    assert _text(info, "p:CtrlSum") == ["100.37"]
    assert _text(info, "p:BtchBookg") == ["true"]
    assert _text(info, "p:PmtTpInf/p:SvcLvl/p:Cd") == ["SEPA"]
    assert _text(info, "p:ReqdExctnDt") == ["2026-12-01"]
    assert _text(info, "p:DbtrAcct/p:Id/p:IBAN") == ["DE89370400440532013000"]
    assert _text(info, "p:DbtrAgt/p:FinInstnId/p:BIC") == ["COBADEFFXXX"]
    amounts = info.findall("p:CdtTrfTxInf/p:Amt/p:InstdAmt", NS)
    assert [(a.text, a.get("Ccy")) for a in amounts] == [
        ("0.10", "EUR"),
        ("0.20", "EUR"),
        ("100.07", "EUR"),
    ]
    assert sum(Decimal(a.text or "") for a in amounts) == Decimal("100.37")
    assert _text(info, "p:CdtTrfTxInf/p:PmtId/p:EndToEndId") == [
        "pay-01JDA5Q0000000000000000001",
        "pay-01JDA5Q0000000000000000002",
        "pay-01JDA5Q0000000000000000003",
    ]
    assert _text(info, "p:CdtTrfTxInf/p:CdtrAcct/p:Id/p:IBAN")[1] == "NL91ABNA0417164300"
    # Only the transfer with a BIC names the creditor's bank (IBAN-only otherwise).
    assert _text(info, "p:CdtTrfTxInf/p:CdtrAgt/p:FinInstnId/p:BIC") == ["ABNANL2A"]
    assert _text(info, "p:CdtTrfTxInf/p:RmtInf/p:Ustrd") == [BANK.remittance] * 3
    assert _sepa(transfers) == xml  # nothing random or clock-dependent in the output


def test_without_a_payer_bic_the_debtor_agent_is_not_provided() -> None:
    xml = _sepa([BANK], replace(PAYER, bic=None))
    assert _schema_errors(xml) == []
    root = ET.fromstring(xml)
    agent = "p:CstmrCdtTrfInitn/p:PmtInf/p:DbtrAgt/p:FinInstnId/p:Othr/p:Id"
    assert _text(root, agent) == ["NOTPROVIDED"]


def test_names_are_transliterated_to_the_sepa_character_set() -> None:
    transfers = [
        replace(BANK, payout_id="pay_1", payee_name="Jürgen Ørsted & Søn"),
        replace(BANK, payout_id="pay_2", payee_name="王小明"),
        replace(BANK, payout_id="pay_3", payee_name="Ελένη_Παπαδοπούλου; <b>"),
        replace(BANK, payout_id="pay_4", payee_name="Łukasz " + "x" * 100),
        replace(BANK, payout_id="pay_5", remittance="Rechnung für Mai: " + "é" * 200),
    ]
    xml = _sepa(transfers, replace(PAYER, name="Réseau Alliance SàRL"))
    assert _schema_errors(xml) == []
    root = ET.fromstring(xml)
    names = _text(root, "p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf/p:Cdtr/p:Nm")
    assert names[:3] == ["Jurgen Orsted + Son", "Wang Xiao Ming", "Elene Papadopoulou b"]
    assert names[3] == ("Lukasz " + "x" * 100)[:70]
    assert _text(root, "p:CstmrCdtTrfInitn/p:PmtInf/p:Dbtr/p:Nm") == ["Reseau Alliance SaRL"]
    remittance = _text(root, "p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf/p:RmtInf/p:Ustrd")[4]
    assert remittance == ("Rechnung fur Mai: " + "e" * 200)[:140]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"currency": "USD"}, "is in USD: SEPA credit transfers are EUR only"),
        ({"method": "paypal"}, "is a paypal payout, not a bank transfer"),
        ({"iban": "DE89370400440532013001"}, "IBAN 'DE89370400440532013001' is not valid"),
        ({"iban": "BR1800360305000010009795493C1"}, "is outside the SEPA zone"),
        ({"iban": None}, "payee has no IBAN"),
        ({"bic": "COBADE"}, "BIC 'COBADE' is not valid"),
        ({"amount": Decimal("10.005")}, "has more decimals than EUR allows"),
        ({"amount": Decimal("0.00")}, "amount must be positive"),
        ({"amount": Decimal("1000000000.00")}, "above the SEPA maximum"),
        ({"payee_name": "🙂"}, "has no SEPA characters"),
        ({"payout_id": "pay_" + "0" * 40}, "cannot be a SEPA EndToEndId"),
    ],
)
def test_a_transfer_sepa_cannot_carry_is_refused_by_name(
    change: dict[str, Any], reason: str
) -> None:
    wrong = replace(BANK, **{"payout_id": "pay_wrong", **change})
    with pytest.raises(FileRefused, match=reason) as refused:
        _sepa([BANK, wrong])
    assert refused.value.payout_id == wrong.payout_id
    assert str(refused.value).startswith(f"payout {wrong.payout_id}: ")


def test_a_file_level_problem_is_refused_without_a_payout() -> None:
    with pytest.raises(FileRefused, match="payer IBAN") as bad_payer:
        _sepa([BANK], replace(PAYER, iban="DE00370400440532013000"))
    assert bad_payer.value.payout_id is None
    with pytest.raises(FileRefused, match="appears twice") as twice:
        _sepa([BANK, BANK])
    assert twice.value.payout_id == BANK.payout_id
    with pytest.raises(FileRefused, match="at least one"):
        _sepa([])
    with pytest.raises(FileRefused, match="message id"):
        sepa_credit_transfer(
            [BANK],
            PAYER,
            message_id="run_2026/11",  # '_' is not in the SEPA set
            execution_date=date(2026, 12, 1),
            created_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


def test_the_schema_check_refuses_a_broken_document_naming_the_transaction() -> None:
    second = replace(BANK, payout_id="pay_second", amount=Decimal("20.00"))
    xml = _sepa([BANK, second])
    validate_pain001(xml)  # the real file passes
    broken = xml.replace(b'Ccy="EUR">20.00<', b'Ccy="EUR">20.001234<')
    with pytest.raises(FileRefused, match="InstdAmt") as refused:
        validate_pain001(broken, [BANK.payout_id, second.payout_id])
    assert refused.value.payout_id == "pay_second"
    header = xml.replace(b"<NbOfTxs>2</NbOfTxs>", b"<NbOfTxs>two</NbOfTxs>", 1)
    with pytest.raises(FileRefused, match="GrpHdr/NbOfTxs") as in_header:
        validate_pain001(header, [BANK.payout_id, second.payout_id])
    assert in_header.value.payout_id is None


def test_what_a_check_misses_the_schema_still_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the transliteration and truncation the 200-character name reaches the document;
    # the XSD check before returning refuses it (Max70Text) and names the payout.
    monkeypatch.setattr(files, "sepa_text", lambda text, limit: text)
    long_name = replace(BANK, payout_id="pay_long", payee_name="A" * 200)
    with pytest.raises(FileRefused, match="Cdtr/Nm") as refused:
        _sepa([BANK, long_name])
    assert refused.value.payout_id == "pay_long"


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_the_paypal_file_has_one_row_per_payout_and_no_header() -> None:
    transfers = [
        replace(PAYPAL, payout_id="pay_A", amount=Decimal("12.50")),
        replace(
            PAYPAL,
            payout_id="pay_B",
            amount=Decimal("0.05"),
            paypal_email="Ola.Nordmann@Example.NO",
            remittance='Payout 2026-11, "thanks"',
        ),
    ]
    data = paypal_csv(transfers)
    assert data == (
        b"partner@example.com,12.50,EUR,pay_A,Alliance payout 2026-11 invoice SB-000123,PAYPAL\r\n"
        b'Ola.Nordmann@example.no,0.05,EUR,pay_B,"Payout 2026-11, ""thanks""",PAYPAL\r\n'
    )
    assert [row[1] for row in _rows(data)] == ["12.50", "0.05"]


@pytest.mark.parametrize(
    ("amount", "currency", "written"),
    [
        (Decimal("100"), "EUR", "100.00"),
        (Decimal("1500"), "JPY", "1500"),
        (Decimal("2500.00"), "HUF", "2500"),  # PayPal: HUF and TWD in whole units only
        (Decimal("7.125"), "KWD", "7.125"),
    ],
)
def test_paypal_amounts_have_the_currency_minor_units(
    amount: Decimal, currency: str, written: str
) -> None:
    row = _rows(paypal_csv([replace(PAYPAL, amount=amount, currency=currency)]))[0]
    assert row[1:3] == [written, currency]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"method": "bank_transfer"}, "is a bank_transfer payout, not a PayPal one"),
        ({"amount": Decimal("1500.5"), "currency": "JPY"}, "more decimals than JPY allows"),
        ({"amount": Decimal("2500.50"), "currency": "HUF"}, "HUF in whole units only"),
        ({"paypal_email": None}, "has no PayPal e-mail address"),
        ({"paypal_email": "not-an-address"}, "PayPal e-mail 'not-an-address'"),
        ({"paypal_email": "=cmd@example.com"}, "starts with a formula character"),
    ],
)
def test_a_payout_paypal_cannot_take_is_refused_by_name(
    change: dict[str, Any], reason: str
) -> None:
    wrong = replace(PAYPAL, payout_id="pay_wrong", **change)
    fine = replace(PAYPAL, currency=wrong.currency, amount=Decimal("1"))
    with pytest.raises(FileRefused, match=reason) as refused:
        paypal_csv([fine, wrong])
    assert refused.value.payout_id == "pay_wrong"


def test_a_paypal_file_holds_one_currency() -> None:
    usd = replace(PAYPAL, payout_id="pay_usd", currency="USD")
    with pytest.raises(FileRefused, match="is in USD, the file in EUR") as refused:
        paypal_csv([PAYPAL, usd])
    assert refused.value.payout_id == "pay_usd"
    with pytest.raises(FileRefused, match="at least one"):
        paypal_csv([])


def test_paypal_files_are_split_by_currency() -> None:
    usd = replace(PAYPAL, payout_id="pay_usd", currency="USD")
    jpy = replace(PAYPAL, payout_id="pay_jpy", currency="JPY", amount=Decimal("900"))
    by_currency = paypal_files([PAYPAL, usd, jpy])
    assert list(by_currency) == ["EUR", "USD", "JPY"]
    assert [row[3] for row in _rows(by_currency["JPY"])] == ["pay_jpy"]
    assert _rows(by_currency["JPY"])[0][1] == "900"


def test_the_generic_file_lists_every_transfer_quoted_and_defused() -> None:
    transfers = [
        replace(BANK, payee_name='Müller, "Söhne" & Co', bic="COBADEFFXXX"),
        replace(
            PAYPAL,
            payee_name='=HYPERLINK("http://evil.example","click")',
            remittance="-1+1",
            amount=Decimal("1500"),
            currency="JPY",
        ),
        replace(
            BANK, payout_id="pay_3", payee_name="@SUM(A1)", amount=Decimal("7.125"), currency="KWD"
        ),
    ]
    data = generic_csv(transfers)
    assert data.startswith(b"payout_id,partner_id,payee_name,method,iban,bic,paypal_email,")
    assert b'"M\xc3\xbcller, ""S\xc3\xb6hne"" & Co"' in data  # UTF-8 and RFC 4180 quoting
    rows = _rows(data)
    assert tuple(rows[0]) == GENERIC_COLUMNS
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert records[0]["payee_name"] == 'Müller, "Söhne" & Co'
    assert (records[0]["amount"], records[0]["currency"], records[0]["iban"]) == (
        "10.00",
        "EUR",
        BANK.iban,
    )
    assert records[0]["paypal_email"] == ""
    assert records[1]["payee_name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert records[1]["remittance"] == "'-1+1"
    assert (records[1]["amount"], records[1]["method"]) == ("1500", "paypal")
    assert records[2]["payee_name"] == "'@SUM(A1)"
    assert records[2]["amount"] == "7.125"


def test_the_generic_file_refuses_an_amount_its_currency_cannot_have() -> None:
    assert _rows(generic_csv([])) == [list(GENERIC_COLUMNS)]
    with pytest.raises(FileRefused, match="more decimals than JPY allows") as refused:
        generic_csv([replace(BANK, payout_id="pay_yen", currency="JPY", amount=Decimal("1.5"))])
    assert refused.value.payout_id == "pay_yen"
