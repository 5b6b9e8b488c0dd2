"""The payouts API through the real server: details, preview, runs, files, statuses, and who
may see what (issue 5, points 2, 3 and 8)."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from pypdf import PdfReader

from alliance.accounts.models import AccountKind
from alliance.accounts.service import issue_api_key
from alliance.clock import utcnow
from alliance.db.engine import transaction
from tests.api.factories import API, auth, expect
from tests.payouts.factories import NETWORK, approved, payee

D = Decimal
PAIN = "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.03}"


def _partner_key(partner_id: str) -> dict[str, str]:
    with transaction() as session:
        return auth(issue_api_key(session, AccountKind.partner, partner_id))


def test_a_partner_keeps_its_details_and_refusals_name_the_field(http: httpx.Client) -> None:
    w = payee()
    key = _partner_key(w.partner_id)
    body = {
        "payout_currency": "sek",
        "schedule": "twice_monthly",
        "threshold": "300",
        "method": "bank_transfer",
        "account_holder": "Anna Svensson",
        "iban": "SE45 5000 0000 0583 9825 7466",
        "bic": "ESSESESS",
    }
    saved = expect(http.put(f"{API}/partners/me/payout-settings", json=body, headers=key), 200)
    assert saved["payout_currency"] == "SEK"
    assert saved["iban"] == "SE4550000000058398257466"
    assert saved["bic"] == "ESSESESSXXX" or saved["bic"] == "ESSESESS"
    assert expect(http.get(f"{API}/partners/me/payout-settings", headers=key), 200) == saved

    bad = http.put(
        f"{API}/partners/me/payout-settings",
        json={**body, "iban": "SE45 5000 0000 0583 9825 7467"},
        headers=key,
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["field"] == "iban"
    assert expect(http.get(f"{API}/partners/me/payout-settings", headers=key), 200) == saved

    profile = {
        "entity": "business",
        "legal_name": "Svensson Media AB",
        "address": "Storgatan 1\n111 22 Stockholm",
        "country": "SE",
        "vat_id": "SE556036079301",
    }
    refused = http.put(
        f"{API}/partners/me/tax-profile", json={**profile, "vat_id": "SE556036079401"}, headers=key
    )
    assert refused.status_code == 422 and refused.json()["field"] == "vat_id"
    kept = expect(http.put(f"{API}/partners/me/tax-profile", json=profile, headers=key), 200)
    assert kept["vat_id"] == "SE556036079301"


def test_operators_preview_run_and_follow_payouts_with_files(
    http: httpx.Client, operator_key: str
) -> None:
    ops = auth(operator_key)
    yesterday = (utcnow() - timedelta(days=1)).date()
    banked = payee(threshold="10.00")
    paypal = payee(threshold="10.00", method="paypal")
    held = payee(threshold="10.00", entity=None)
    earned = datetime.combine(yesterday - timedelta(days=40), datetime.min.time(), tzinfo=UTC)
    for w in (banked, paypal, held):
        approved(w, "250.00", earned)  # 25.00 EUR each
    ids = [banked.partner_id, paypal.partner_id, held.partner_id]

    preview = expect(
        http.get(f"{API}/payout-runs/preview", params={"partner_id": held.partner_id}, headers=ops),
        200,
    )
    [decision] = preview["data"]
    assert decision["outcome"] == "hold" and decision["amount"] == "25.00"
    assert "tax profile" in decision["reasons"][0]

    too_late = http.post(
        f"{API}/payout-runs", json={"through": utcnow().date().isoformat()}, headers=ops
    )
    assert too_late.status_code == 422 and too_late.json()["field"] == "through"
    run = expect(http.post(f"{API}/payout-runs", json={"partner_ids": ids}, headers=ops), 201)
    assert run["outcome"]["create"] == 2 and run["outcome"]["hold"] == 1
    again = expect(http.post(f"{API}/payout-runs", json={"partner_ids": ids}, headers=ops), 201)
    assert again["outcome"]["already_made"] == 2

    made = expect(http.get(f"{API}/payouts", params={"run_id": run["id"]}, headers=ops), 200)
    assert sorted(p["status"] for p in made["data"]) == ["created", "created"]
    bank_payout = next(p for p in made["data"] if p["partner_id"] == banked.partner_id)
    detail = expect(http.get(f"{API}/payouts/{bank_payout['id']}", headers=ops), 200)
    assert [line["payout_amount"] for line in detail["lines"]] == ["25.00"]

    # Files: no SEPA file until the network has a paying account.
    expect(http.put(f"{API}/network/profile", json=NETWORK, headers=ops), 200)
    listed = expect(http.get(f"{API}/payout-runs/{run['id']}/files", headers=ops), 200)
    assert any("paying account" in note for note in listed["notes"])
    expect(
        http.put(
            f"{API}/network/profile",
            json={
                **NETWORK,
                "payer_iban": "SE4550000000058398257466",
                "payer_bic": "ESSESESS",
            },
            headers=ops,
        ),
        200,
    )
    listed = expect(http.get(f"{API}/payout-runs/{run['id']}/files", headers=ops), 200)
    names = listed["files"]
    sepa_name = next(n for n in names if n.startswith("sepa-"))
    sepa = http.get(f"{API}/payout-runs/{run['id']}/files/{sepa_name}", headers=ops)
    root = ET.fromstring(sepa.content)
    assert root.findtext(f".//{PAIN}GrpHdr/{PAIN}NbOfTxs") == "1"
    assert root.findtext(f".//{PAIN}GrpHdr/{PAIN}CtrlSum") == "25.00"
    assert root.findtext(f".//{PAIN}CdtrAcct//{PAIN}IBAN") == "DE89370400440532013000"
    paypal_name = next(n for n in names if n.startswith("paypal-EUR-"))
    paypal_rows = list(
        csv.reader(
            io.StringIO(
                http.get(f"{API}/payout-runs/{run['id']}/files/{paypal_name}", headers=ops).text
            )
        )
    )
    assert [row[:3] for row in paypal_rows] == [["erika@example.com", "25.00", "EUR"]]
    generic_name = next(n for n in names if n.startswith("payouts-"))
    generic = http.get(f"{API}/payout-runs/{run['id']}/files/{generic_name}", headers=ops).text
    assert generic.count("\n") == 3  # the header and two payouts

    # The statement and the self-billing invoice, for the operator and the partner.
    invoice = http.get(f"{API}/payouts/{bank_payout['id']}/invoice.pdf", headers=ops)
    assert invoice.status_code == 200 and invoice.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(invoice.content)).pages)
    assert bank_payout["invoice_number"] in text and "Self-billing" in text
    assert "Alliance Test Network AB" in text and "25.00" in text
    own = _partner_key(banked.partner_id)
    statement = http.get(f"{API}/payouts/{bank_payout['id']}/statement.pdf", headers=own)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(statement.content)).pages)
    assert detail["lines"][0]["commission_id"] in text
    held_payout = expect(
        http.get(f"{API}/payouts", params={"partner_id": held.partner_id}, headers=ops), 200
    )["data"][0]
    assert held_payout["status"] == "held" and held_payout["invoice_number"] is None
    no_invoice = http.get(f"{API}/payouts/{held_payout['id']}/invoice.pdf", headers=ops)
    assert no_invoice.status_code == 404

    # Follow: sent for the whole run, then paid and failed.
    assert expect(http.post(f"{API}/payout-runs/{run['id']}/sent", headers=ops), 200) == {"sent": 2}
    paid = http.post(
        f"{API}/payouts/{bank_payout['id']}/status", json={"status": "paid"}, headers=ops
    )
    assert expect(paid, 200)["status"] == "paid"
    illegal = http.post(
        f"{API}/payouts/{bank_payout['id']}/status",
        json={"status": "failed", "reason": "too late"},
        headers=ops,
    )
    assert illegal.status_code == 409
    other = next(p for p in made["data"] if p["partner_id"] == paypal.partner_id)
    no_reason = http.post(
        f"{API}/payouts/{other['id']}/status", json={"status": "failed"}, headers=ops
    )
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    failed = http.post(
        f"{API}/payouts/{other['id']}/status",
        json={"status": "failed", "reason": "PayPal account unconfirmed"},
        headers=ops,
    )
    assert expect(failed, 200)["failure_reason"] == "PayPal account unconfirmed"


def test_partners_see_only_their_own_payouts(http: httpx.Client, operator_key: str) -> None:
    mine, theirs = payee(threshold="1.00"), payee(threshold="1.00")
    earned = datetime.combine(
        (utcnow() - timedelta(days=45)).date(), datetime.min.time(), tzinfo=UTC
    )
    for w in (mine, theirs):
        approved(w, "100.00", earned)
    expect(
        http.post(
            f"{API}/payout-runs",
            json={"partner_ids": [mine.partner_id, theirs.partner_id]},
            headers=auth(operator_key),
        ),
        201,
    )
    key = _partner_key(mine.partner_id)
    listed = expect(http.get(f"{API}/payouts", headers=key), 200)["data"]
    assert [p["partner_id"] for p in listed] == [mine.partner_id]
    other = expect(
        http.get(
            f"{API}/payouts", params={"partner_id": theirs.partner_id}, headers=auth(operator_key)
        ),
        200,
    )["data"][0]
    assert http.get(f"{API}/payouts/{other['id']}", headers=key).status_code == 404
    assert http.post(f"{API}/payout-runs", json={}, headers=key).status_code == 403
    assert http.get(f"{API}/payout-runs/preview", headers=key).status_code == 403
    assert (
        http.post(
            f"{API}/payouts/{listed[0]['id']}/status", json={"status": "sent"}, headers=key
        ).status_code
        == 403
    )
