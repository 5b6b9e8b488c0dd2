"""Payouts in Chromium (issue 5, point 8): a partner with approved money but no payout
details adds them and sees them saved; the operator sets the network's details, previews a
run, runs it from the page and marks it sent; the partner finds the payout in its history.
Every page passes the audit (tests/browser/conftest.py), on a phone-sized screen too.

The money is from September 2019, long before any other test's, so the network-wide run
started here pays only this partner (other modules' partners are created later or paid).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select

from alliance.accounts.service import create_operator
from alliance.accounts.users import Role
from alliance.db.engine import reading, transaction
from alliance.ids import PREFIXES
from alliance.payouts import profiles
from alliance.payouts.models import Payout, PayoutSettings
from tests.browser.conftest import Shots, audit, sign_in, watch
from tests.conftest import Server
from tests.conversions.factories import world
from tests.payouts.factories import NETWORK, approved
from tests.web.conftest import PASSWORD, new_user


def test_partner_adds_payout_details_and_the_operator_runs_payouts(
    server: Server, context: object, shots: Shots
) -> None:
    base = server.url
    w = world(currency="EUR", terms={"type": "cps", "percent": "10"}, lock_days=0)
    with transaction() as session:
        profiles.save_tax_profile(
            session,
            w.partner_id,
            entity="individual",
            legal_name="Erika Mustermann",
            address="Musterstraße 1\n10115 Berlin",
            country="DE",
        )
        ops, _ = create_operator(session, name="Payout desk")
    approved(w, "900.00", datetime(2019, 9, 10, 10, tzinfo=UTC))  # €90.00 approved
    partner_email = new_user(w.partner_id, Role.owner)
    operator_email = new_user(ops.id, Role.owner)

    # 1. The partner is told what is missing and adds its bank details.
    partner = context.new_page()  # type: ignore[attr-defined]
    partner_problems = watch(partner)
    sign_in(partner, base, partner_email, PASSWORD)
    partner.get_by_role("navigation", name="Main").get_by_role("link", name="Payouts").click()
    partner.wait_for_load_state("domcontentloaded")
    assert "€90.00" in partner.locator("#kpi-approved-EUR").inner_text()
    assert partner.locator("#details-missing").is_visible()
    shots.take(partner, "partner-payouts")
    assert audit(partner) == []
    partner.get_by_role("link", name="Payout and tax details").click()
    partner.wait_for_load_state("domcontentloaded")
    assert "No payout method yet" in partner.locator("#missing").inner_text()
    # Only the chosen method's fields show (static/js/app.js).
    partner.get_by_label("Method").select_option("paypal")
    assert partner.locator("#paypal-fields").is_visible()
    assert not partner.locator("#bank-fields").is_visible()
    partner.get_by_label("Method").select_option("bank_transfer")
    assert partner.locator("#bank-fields").is_visible()
    partner.get_by_label("Payout currency").select_option("EUR")
    partner.get_by_label("Schedule").select_option("monthly")
    partner.get_by_label("Threshold").fill("50")
    partner.get_by_label("Account holder").fill("Erika Mustermann")
    partner.get_by_label("IBAN").fill("DE89 3704 0044 0532 0130 00")
    partner.get_by_label("BIC", exact=True).fill("COBADEFFXXX")
    shots.take(partner, "payout-details-filled")
    partner.get_by_role("button", name="Save payout details").click()
    partner.wait_for_load_state("domcontentloaded")
    assert "Payout details saved." in partner.inner_text("main")
    assert partner.get_by_label("IBAN").input_value() == "DE89370400440532013000"
    assert partner.get_by_label("Threshold").input_value() == "50.00"
    assert "payouts can be made" in partner.locator("#missing").inner_text()
    shots.take(partner, "payout-details-saved")
    assert audit(partner) == []
    with reading() as session:
        saved = session.get(PayoutSettings, w.partner_id)
        assert saved is not None and saved.iban == "DE89370400440532013000"

    # 2. The operator sets the network's details, previews September and runs it.
    desk = context.browser.new_context().new_page()  # type: ignore[attr-defined]
    desk_problems = watch(desk)
    sign_in(desk, base, operator_email, PASSWORD)
    desk.get_by_role("navigation", name="Main").get_by_role("link", name="Payouts").click()
    desk.wait_for_load_state("domcontentloaded")
    shots.take(desk, "operator-payouts")
    assert audit(desk) == []
    desk.get_by_role("link", name="The network's legal details and payer account").click()
    # The factories' network (other modules expect its VAT treatment), with its account.
    desk.get_by_label("Legal name").fill(NETWORK["legal_name"])
    desk.get_by_label("Address").fill(NETWORK["address"])
    desk.get_by_label("Country (ISO code, e.g. DE)").fill(NETWORK["country"])
    desk.get_by_label("VAT number").fill(NETWORK["vat_id"])
    desk.get_by_label("Payer IBAN").fill("SE45 5000 0000 0583 9825 7466")
    desk.get_by_label("Payer BIC").fill("ESSESESS")
    desk.get_by_role("button", name="Save the network's details").click()
    desk.wait_for_load_state("domcontentloaded")
    assert "The network's details are saved." in desk.inner_text("main")
    assert audit(desk) == []

    desk.goto(f"{base}/operator/payouts")
    desk.get_by_label("Through").fill("2019-09-30")
    desk.get_by_role("button", name="Preview", exact=True).click()
    desk.wait_for_load_state("domcontentloaded")
    row = desk.locator(f"#preview-{w.partner_id}-EUR")
    assert "to be paid" in row.inner_text() and "€90.00" in row.inner_text()
    shots.take(desk, "preview")
    assert audit(desk) == []
    desk.get_by_role("button", name=re.compile(r"^Run payouts through Sep 30, 2019")).click()
    desk.wait_for_url(re.compile(rf"/operator/payouts/runs/{PREFIXES['payout_run']}_"))
    with reading() as session:
        payout = session.scalars(select(Payout).where(Payout.partner_id == w.partner_id)).one()
        payout_id, invoice = payout.id, payout.invoice_number
    made = desk.locator(f"#payout-{payout_id}")
    assert "€90.00" in made.inner_text() and "created" in made.inner_text()
    assert invoice is not None and invoice in made.inner_text()
    assert desk.locator("#files a").count() >= 1, desk.inner_text("main")
    shots.take(desk, "run")
    assert audit(desk) == []
    desk.get_by_role("button", name="Mark all sent").click()
    desk.wait_for_load_state("domcontentloaded")
    assert "sent" in desk.locator(f"#payout-{payout_id}").inner_text()

    # On a phone the run page and the partner's settings still fit the screen.
    phone = context.browser.new_context(viewport={"width": 375, "height": 812})  # type: ignore[attr-defined]
    small = phone.new_page()
    small_problems = watch(small)
    sign_in(small, base, operator_email, PASSWORD)
    small.goto(desk.url)
    assert audit(small) == []
    shots.take(small, "run-phone")
    phone.close()

    # 3. The partner sees the payout in its history, with its documents.
    partner.goto(f"{base}/partner/payouts")
    history = partner.locator(f"#payout-{payout_id}")
    assert "€90.00" in history.inner_text() and "sent" in history.inner_text()
    assert history.get_by_role("link", name="Invoice (PDF)").is_visible()
    assert "€0.00" in partner.locator("#kpi-approved-EUR").inner_text()
    shots.take(partner, "partner-history")
    assert audit(partner) == []
    history.get_by_role("link", name=re.compile("Sep 1, 2019")).click()
    partner.wait_for_load_state("domcontentloaded")
    assert "€90.00" in partner.locator(".payout-lines").inner_text()
    shots.take(partner, "partner-payout")
    assert audit(partner) == []

    assert partner_problems == [] and desk_problems == [] and small_problems == []
