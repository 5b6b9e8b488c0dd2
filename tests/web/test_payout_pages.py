"""The payout pages against a real server (issue 5, points 6 and 8): the operator previews,
runs and follows payout runs; partners see their balance, held payouts with the reason in
words, their history with its lines, and save payout and tax details.

Partners get approved money through tests/payouts/factories.py. Each test settles its own
months of 2019, long before any other test's money, so the network-wide runs started from
the page pay only this test's partners; everything is found by the ids made here.
"""

from __future__ import annotations

import html
import io
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from alliance.accounts.models import Partner
from alliance.accounts.service import create_operator
from alliance.accounts.users import Role
from alliance.commissions import service as ledger
from alliance.db.engine import reading, transaction
from alliance.ids import PREFIXES
from alliance.payouts import profiles
from alliance.payouts.details import PayoutDetails, hold_reasons
from alliance.payouts.models import (
    NetworkProfile,
    Payout,
    PayoutLine,
    PayoutRun,
    PayoutSettings,
    TaxProfile,
)
from alliance.web.payouts_common import reason_in_words
from alliance.web.templating import DASH, money
from tests.conftest import Server
from tests.conversions.factories import World, world
from tests.payouts.factories import NETWORK, approved, payee
from tests.web.conftest import Browser, signed_in

pytestmark = pytest.mark.xdist_group("payout-pages")

D = Decimal
XSS = "<img src=x onerror=alert(1)>"
PAYER = {"payer_iban": "SE4550000000058398257466", "payer_bic": "ESSESESS"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def operator_id(db_url: str) -> str:
    """The operator, and the network's details every statement, invoice and SEPA file needs."""
    with transaction() as session:
        ops, _ = create_operator(session, name="Payout desk")
        # The factories' network (other modules expect its VAT treatment), with an account.
        profiles.save_network_profile(session, **NETWORK, **PAYER)
        return ops.id


@pytest.fixture(scope="module")
def ops(server: Server, operator_id: str) -> Browser:
    return signed_in(server, operator_id)


def row_of(page: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{re.escape(row_id)}".*?</tr>', page, re.S)
    assert found, f"no row {row_id}"
    return html.unescape(found.group(0))


def field(row: str, name: str) -> str:
    found = re.search(rf'data-field="{name}">(.*?)</', row, re.S)
    assert found, f"no field {name}"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def plain(fragment: str) -> str:
    """The text of an HTML fragment, tags removed and spaces collapsed."""
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", "", fragment))


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"[ \t\r\n]+", " ", page))


def payouts_of(partner_id: str) -> list[Payout]:
    with reading() as session:
        rows = list(
            session.scalars(
                select(Payout).where(Payout.partner_id == partner_id).order_by(Payout.period)
            )
        )
        for row in rows:
            session.expunge(row)
        return rows


def run_from_page(ops: Browser, through: str) -> str:
    """Press *Run payouts* on the preview of `through`; returns the run page's path."""
    answer = ops.post("/operator/payouts/run", {"through": through}, token_from="/operator/payouts")
    assert answer.status_code == 303, answer.text[:500]
    location = answer.headers["location"]
    assert location.startswith(f"/operator/payouts/runs/{PREFIXES['payout_run']}_")
    return location


def partner_browser(server: Server, w: World) -> Browser:
    return signed_in(server, w.partner_id)


# --- who may see ------------------------------------------------------------------------------


def test_each_role_reaches_only_its_own_payout_pages(server: Server, ops: Browser) -> None:
    w = payee()
    me = partner_browser(server, w)
    for path in ("/partner/payouts", "/partner/payouts/settings"):
        page = me.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert page.text.count("<h1") == 1 and "style=" not in page.text
        assert '<a href="/partner/payouts" aria-current="page">' in page.text
    for path in ("/operator/payouts", "/operator/payouts/network"):
        assert me.get(path).status_code == 403, path
        page = ops.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert page.text.count("<h1") == 1 and "style=" not in page.text
    assert '<a href="/operator/payouts" aria-current="page">' in ops.get("/operator/payouts").text
    refused = me.post("/operator/payouts/run", {"through": "2019-01-31"}, token_from="/account")
    assert refused.status_code == 403
    assert ops.get("/partner/payouts").status_code == 403
    # A read-only member of the partner sees the forms but cannot save them.
    reader = signed_in(server, w.partner_id, Role.read_only)
    page = reader.get("/partner/payouts/settings").text
    assert page.count("disabled") >= 2 and "read-only" in page
    for path in ("/partner/payouts/settings/payout", "/partner/payouts/settings/tax"):
        assert reader.post(path, {"method": "paypal"}, token_from="/account").status_code == 403
    stranger = Browser(server.url)
    answer = stranger.get("/partner/payouts")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_a_partner_cannot_reach_another_partners_payout(server: Server, ops: Browser) -> None:
    theirs = payee()
    approved(theirs, "700.00", at("2019-06-10T10:00"))
    run_path = run_from_page(ops, "2019-06-30")
    [payout] = payouts_of(theirs.partner_id)
    owner = partner_browser(server, theirs)
    assert owner.get(f"/partner/payouts/{payout.id}").status_code == 200
    snoop = partner_browser(server, payee())
    for path in (
        f"/partner/payouts/{payout.id}",
        f"/partner/payouts/{payout.id}/statement.pdf",
        f"/partner/payouts/{payout.id}/invoice.pdf",
        "/partner/payouts/pay_01JUNKJUNKJUNKJUNKJUNKJUNK",
        "/partner/payouts/not-an-id",
    ):
        assert snoop.get(path).status_code == 404, path
    assert payout.id not in snoop.get("/partner/payouts").text
    for path in (run_path, f"/operator/payouts/{payout.id}/invoice.pdf"):
        assert snoop.get(path).status_code == 403, path
    refused = snoop.post(
        f"/operator/payouts/{payout.id}/mark",
        {"status": "failed", "reason": "snooping"},
        token_from="/account",
    )
    assert refused.status_code == 403
    assert payouts_of(theirs.partner_id)[0].status == "created"


def test_a_read_only_operator_sees_but_cannot_run_or_mark(server: Server, operator_id: str) -> None:
    reader = signed_in(server, operator_id, Role.read_only)
    page = reader.get("/operator/payouts?through=2019-01-31")
    assert page.status_code == 200 and 'action="/operator/payouts/run"' not in page.text
    for path, data in (
        ("/operator/payouts/run", {"through": "2019-01-31"}),
        ("/operator/payouts/network", {"legal_name": "No", "address": "x", "country": "DE"}),
        ("/operator/payouts/pay_01JUNKJUNKJUNKJUNKJUNKJUNK/mark", {"status": "paid"}),
    ):
        assert reader.post(path, data, token_from="/account").status_code == 403, path


def test_a_run_without_the_csrf_token_is_refused(ops: Browser) -> None:
    w = payee()
    approved(w, "800.00", at("2019-07-03T10:00"))
    answer = ops.client.post("/operator/payouts/run", data={"through": "2019-07-31"})
    assert answer.status_code == 403
    assert payouts_of(w.partner_id) == []


# --- operator: preview, run, follow -----------------------------------------------------------


def test_the_preview_shows_each_partners_amount_threshold_and_hold_reason(ops: Browser) -> None:
    ready = payee(threshold="50.00")
    approved(ready, "800.00", at("2019-01-10T10:00"))  # 80.00
    untaxed = payee(entity=None)
    approved(untaxed, "900.00", at("2019-01-12T10:00"))  # 90.00, no tax profile
    small = payee(threshold="100.00")
    approved(small, "300.00", at("2019-01-14T10:00"))  # 30.00
    with transaction() as session:
        named = session.get(Partner, ready.partner_id)
        assert named is not None
        named.name = XSS  # a partner's name is text on the operator's page

    page = ops.get("/operator/payouts?through=2019-01-31")
    assert page.status_code == 200
    row = row_of(page.text, f"preview-{ready.partner_id}-EUR")
    assert field(row, "outcome") == "to be paid"
    assert field(row, "amount") == "€80.00" and field(row, "threshold") == "€50.00"
    assert f"Jan 1, 2019 {DASH} Jan 31, 2019" in plain(row)
    held = row_of(page.text, f"preview-{untaxed.partner_id}-EUR")
    assert field(held, "outcome") == "held" and field(held, "amount") == "€90.00"
    assert "No tax profile yet" in held
    below = row_of(page.text, f"preview-{small.partner_id}-EUR")
    assert field(below, "outcome") == "below the threshold"
    assert field(below, "threshold") == "€100.00"
    assert 'name="through" value="2019-01-31"' in page.text
    assert XSS not in page.text and html.escape(XSS, quote=False) in page.text
    # Previewing moves nothing.
    assert payouts_of(ready.partner_id) == payouts_of(untaxed.partner_id) == []


def test_the_preview_refuses_a_day_that_has_not_ended(ops: Browser) -> None:
    page = ops.get("/operator/payouts?through=2999-01-31")
    assert page.status_code == 422
    assert 'id="f-through-error"' in page.text and "past day" in page.text
    refused = ops.post(
        "/operator/payouts/run", {"through": "2999-01-31"}, token_from="/operator/payouts"
    )
    assert refused.status_code == 422 and 'id="f-through-error"' in refused.text


def test_running_twice_from_the_page_pays_each_partner_once(ops: Browser, server: Server) -> None:
    w = payee()
    approved(w, "600.00", at("2019-02-05T10:00"))  # 60.00
    first = run_from_page(ops, "2019-02-28")
    second = run_from_page(ops, "2019-02-28")  # the impatient second click
    assert first != second
    [payout] = payouts_of(w.partner_id)
    assert (payout.period, payout.status, payout.amount) == ("2019-02", "created", D("60.00"))
    assert f"/operator/payouts/runs/{payout.run_id}" == first
    with reading() as session:
        run = session.get(PayoutRun, payout.run_id)
        assert run is not None and run.started_by.endswith("@example.com")
        again = session.get(PayoutRun, second.rsplit("/", 1)[1])
        assert again is not None and again.outcome.get("create", 0) == 0

    page = ops.get(first)
    assert page.status_code == 200
    row = row_of(page.text, f"payout-{payout.id}")
    assert field(row, "amount") == "€60.00" and "created" in field(row, "status")
    assert payout.invoice_number is not None and payout.invoice_number in row
    assert "Mark sent" in row and "Mark failed" in row
    # The run's payment files: the SEPA file (EUR bank transfers) and the list of all.
    names = re.findall(r'href="/operator/payouts/runs/[^/"]+/files/([^"]+)"', page.text)
    assert f"sepa-{payout.run_id}.xml" in names and f"payouts-{payout.run_id}.csv" in names
    sepa = ops.get(f"{first}/files/sepa-{payout.run_id}.xml")
    assert sepa.status_code == 200 and sepa.headers["content-type"].startswith("application/xml")
    assert "attachment" in sepa.headers["content-disposition"]
    assert "DE89370400440532013000" in sepa.text and PAYER["payer_iban"] in sepa.text
    assert '<InstdAmt Ccy="EUR">60.00<' in sepa.text
    assert ops.get(f"{first}/files/other.csv").status_code == 404
    listing = ops.get("/operator/payouts?through=2019-02-28").text
    assert f'id="run-{payout.run_id}"' in listing
    assert field(row_of(listing, f"preview-{w.partner_id}-EUR"), "outcome") == "already made"
    # The partner's money moved once: nothing approved is left, 60.00 is paid.
    with reading() as session:
        assert ledger.payout_balances(session, w.partner_id) == {
            "approved": {"EUR": D("0.00")},
            "paid": {"EUR": D("60.00")},
        }


def test_mark_sent_paid_and_failed_from_the_run_page(ops: Browser, server: Server) -> None:
    good, bounced = payee(), payee()
    approved(good, "500.00", at("2019-03-04T10:00"))  # 50.00
    approved(bounced, "750.00", at("2019-03-06T10:00"))  # 75.00
    run_path = run_from_page(ops, "2019-03-31")
    [paid] = payouts_of(good.partner_id)
    [failed] = payouts_of(bounced.partner_id)

    # Paid needs sent first: the page offers only what the payout's state allows.
    page = ops.get(run_path).text
    assert "Mark paid" not in row_of(page, f"payout-{paid.id}")
    answer = ops.post(f"{run_path}/sent", {}, token_from=run_path)
    assert answer.status_code == 303
    page = ops.get(answer.headers["location"]).text
    assert "2 payouts marked sent." in text_of(page)
    assert "Mark paid" in row_of(page, f"payout-{paid.id}")

    mark = f"/operator/payouts/{paid.id}/mark"
    assert ops.post(mark, {"status": "paid", "back": run_path}, token_from=run_path).headers[
        "location"
    ] == (run_path)
    # Failing needs a reason: without one nothing changes.
    fail = f"/operator/payouts/{failed.id}/mark"
    refused = ops.post(fail, {"status": "failed", "back": run_path}, token_from=run_path)
    assert refused.status_code == 303
    assert "say why" in text_of(ops.get(refused.headers["location"]).text)
    assert payouts_of(bounced.partner_id)[0].status == "sent"
    ops.post(
        fail,
        {"status": "failed", "reason": "account closed", "back": run_path},
        token_from=run_path,
    )

    page = ops.get(run_path).text
    assert "paid" in field(row_of(page, f"payout-{paid.id}"), "status")
    failed_row = row_of(page, f"payout-{failed.id}")
    assert "failed" in field(failed_row, "status") and "account closed" in failed_row
    assert "Mark" not in failed_row
    # The failed payout's money is the partner's again, on its own page too.
    with reading() as session:
        assert ledger.payout_balances(session, bounced.partner_id)["approved"] == {
            "EUR": D("75.00")
        }
    partner_page = partner_browser(server, bounced).get("/partner/payouts").text
    assert "€75.00" in row_of_kpi(partner_page, "approved-EUR")
    history = row_of(partner_page, f"payout-{failed.id}")
    assert "failed" in field(history, "status") and "back in your balance" in history
    # Marking a finished payout again is refused in words, and changes nothing.
    again = ops.post(
        mark, {"status": "failed", "reason": "x", "back": run_path}, token_from=run_path
    )
    assert "cannot become failed" in text_of(ops.get(again.headers["location"]).text)
    assert payouts_of(good.partner_id)[0].status == "paid"


def row_of_kpi(page: str, name: str) -> str:
    found = re.search(rf'id="kpi-{name}">.*?class="kpi-value">([^<]*)<', page, re.S)
    assert found, f"no KPI {name}"
    return html.unescape(found.group(1))


def row_of_kpi_hint(page: str, name: str) -> str:
    found = re.search(rf'id="kpi-{name}">.*?class="kpi-hint">([^<]*)<', page, re.S)
    assert found, f"no KPI {name}"
    return html.unescape(found.group(1))


def test_the_network_details_are_saved_with_refusals_next_to_the_field(ops: Browser) -> None:
    form: dict[str, Any] = {
        **NETWORK,
        "address": NETWORK["address"].replace("\n", "\r\n"),  # as a browser sends it
        "payer_iban": "SE45 5000 0000 0583 9825 7467",  # a wrong check digit
        "payer_bic": "ESSESESS",
    }
    refused = ops.post("/operator/payouts/network", form, token_from="/operator/payouts/network")
    assert refused.status_code == 422
    assert re.search(r'id="f-payer_iban-error">[^<]*IBAN', refused.text)
    assert f'value="{NETWORK["legal_name"]}"' in refused.text, "the form is kept as typed"
    with reading() as session:
        kept = session.get(NetworkProfile, "network")
        assert kept is not None and kept.payer_iban == PAYER["payer_iban"], "nothing saved"
    form["payer_iban"] = "SE45 5000 0000 0583 9825 7466"
    saved = ops.post("/operator/payouts/network", form, token_from="/operator/payouts/network")
    assert saved.status_code == 303
    with reading() as session:
        row = session.get(NetworkProfile, "network")
        assert row is not None
        assert (row.legal_name, row.address, row.vat_id, row.payer_iban) == (
            NETWORK["legal_name"],
            NETWORK["address"],
            NETWORK["vat_id"],
            PAYER["payer_iban"],
        )
    page = ops.get("/operator/payouts/network").text
    assert f'value="{PAYER["payer_iban"]}"' in page and "The network's details are saved." in (
        text_of(page)
    )


# --- partners ---------------------------------------------------------------------------------


def test_a_partner_sees_why_a_payout_is_held_then_its_history(ops: Browser, server: Server) -> None:
    w = payee(entity=None)
    approved(w, "880.00", at("2019-04-08T10:00"))  # 88.00
    run_from_page(ops, "2019-04-30")
    [held] = payouts_of(w.partner_id)
    assert held.status == "held"
    me = partner_browser(server, w)
    page = me.get("/partner/payouts").text
    row = row_of(page, f"held-{held.id}")
    assert "€88.00" in row and "No tax profile yet" in row
    assert 'href="/partner/payouts/settings#tax-profile"' in row
    assert "changed your details since" not in row
    assert me.get(f"/partner/payouts/{held.id}/invoice.pdf").status_code == 404, "not made"
    assert "€88.00" in row_of_kpi(page, "approved-EUR"), "held money is still the balance"
    assert 'id="details-missing"' in page

    # The partner adds its tax profile; the page says the next run checks again.
    saved = me.post(
        "/partner/payouts/settings/tax",
        {
            "entity": "individual",
            "legal_name": "Erika Mustermann",
            "address": "Musterstraße 1\n10115 Berlin",
            "country": "DE",
        },
        token_from="/partner/payouts/settings",
    )
    assert saved.status_code == 303
    assert "changed your details since" in row_of(
        me.get("/partner/payouts").text, f"held-{held.id}"
    )
    run_from_page(ops, "2019-04-30")  # a run releases a held payout of its period
    [made] = payouts_of(w.partner_id)
    assert made.id == held.id and made.status == "created"

    page = me.get("/partner/payouts").text
    assert f'id="held-{made.id}"' not in page and 'id="details-missing"' not in page
    row = row_of(page, f"payout-{made.id}")
    assert field(row, "amount") == "€88.00" and "created" in field(row, "status")
    assert f"Apr 1, 2019 {DASH} Apr 30, 2019" in plain(row)
    assert made.invoice_number is not None and made.invoice_number in row
    assert f'href="/partner/payouts/{made.id}/statement.pdf"' in row
    assert f'href="/partner/payouts/{made.id}/invoice.pdf"' in row
    assert "€0.00" in row_of_kpi(page, "approved-EUR")
    assert "€88.00" in row_of_kpi(page, "paid-EUR")

    # The statement and the invoice, as PDFs in the partner's language.
    for kind in ("statement", "invoice"):
        answer = me.get(f"/partner/payouts/{made.id}/{kind}.pdf")
        assert answer.status_code == 200, (kind, answer.text[:300])
        assert answer.headers["content-type"] == "application/pdf"
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(answer.content)).pages)
        assert made.invoice_number in text and "88.00" in text, kind
    assert ops.get(f"/operator/payouts/{made.id}/invoice.pdf").status_code == 200


def test_a_payout_in_another_currency_shows_the_original_amounts_and_rates(
    ops: Browser, server: Server
) -> None:
    w = payee(currency="SEK")
    commission = approved(w, "10000.00", at("2019-08-07T10:00"))  # SEK 1,000.00
    assert commission.payout_currency == "EUR" and commission.payout_rate is not None
    run_from_page(ops, "2019-08-31")
    [payout] = payouts_of(w.partner_id)
    with reading() as session:
        line = session.scalars(select(PayoutLine).where(PayoutLine.payout_id == payout.id)).one()
    assert (line.currency, line.amount) == ("SEK", D("1000.00"))
    euros = money(line.payout_amount, "EUR")
    me = partner_browser(server, w)

    page = me.get(f"/partner/payouts/{payout.id}").text
    row = row_of(page, f"line-{commission.id}")
    assert field(row, "original") == "SEK\u00a01,000.00"
    assert field(row, "converted") == euros
    rate = f"{commission.payout_rate.normalize():f}"
    assert f"1 SEK = {rate} EUR" in row and "ECB, Aug 7, 2019" in row
    assert "from SEK\u00a01,000.00" in text_of(page)
    history = row_of(me.get("/partner/payouts").text, f"payout-{payout.id}")
    assert field(history, "amount") == euros and "from SEK\u00a01,000.00" in history

    # The earnings page shows the payout-currency value next to the original.
    earnings = me.get("/partner/earnings").text
    assert f"{euros} in your payout currency" in row_of_kpi_hint(earnings, "paid-SEK")
    table = earnings[earnings.index('class="earnings-by-status"') :]
    paid_row = re.search(r'<tr data-status="paid">(.*?)</tr>', table, re.S)
    assert paid_row and "SEK\u00a01,000.00" in paid_row.group(1)
    assert field(paid_row.group(1), "in-payout-currency") == euros


def test_saving_payout_details_refuses_a_bad_iban_next_to_the_field(server: Server) -> None:
    w = world(lock_days=0)  # no payout details yet
    me = partner_browser(server, w)
    page = me.get("/partner/payouts/settings").text
    assert "No payout method yet" in text_of(page)
    assert '<option value="SEK"' in page and '<option value="USD"' in page
    form = {
        "payout_currency": "SEK",
        "schedule": "twice_monthly",
        "threshold": "500",
        "method": "bank_transfer",
        "account_holder": "Erika Mustermann",
        "iban": "DE89 3704 0044 0532 0130 01",
        "bic": "COBADEFFXXX",
    }
    refused = me.post("/partner/payouts/settings/payout", form, token_from="/account")
    assert refused.status_code == 422
    assert re.search(r'<p class="error" id="f-iban-error">not a valid IBAN', refused.text)
    assert 'aria-invalid="true" aria-describedby="f-iban-error"' in refused.text
    assert 'value="DE89 3704 0044 0532 0130 01"' in refused.text, "the form is kept as typed"
    with reading() as session:
        assert session.get(PayoutSettings, w.partner_id) is None
        partner = session.get(Partner, w.partner_id)
        assert partner is not None and partner.payout_currency == "EUR", "nothing saved"

    form["iban"] = "DE89 3704 0044 0532 0130 00"
    saved = me.post("/partner/payouts/settings/payout", form, token_from="/account")
    assert saved.status_code == 303
    with reading() as session:
        row = session.get(PayoutSettings, w.partner_id)
        assert row is not None
        assert (row.schedule, row.threshold, row.iban) == (
            "twice_monthly",
            D("500.00"),
            "DE89370400440532013000",
        )
        partner = session.get(Partner, w.partner_id)
        assert partner is not None and partner.payout_currency == "SEK"
    page = me.get("/partner/payouts/settings").text
    assert "Payout details saved." in page
    assert '<option value="SEK" selected>' in page
    assert 'value="DE89370400440532013000"' in page
    overview = text_of(me.get("/partner/payouts").text)
    assert "SEK\u00a0500.00" in overview and "Twice a month" in overview

    # PayPal needs its address; a bad one is refused next to its field.
    paypal = {**form, "method": "paypal", "paypal_email": "not an address"}
    refused = me.post("/partner/payouts/settings/payout", paypal, token_from="/account")
    assert refused.status_code == 422 and 'id="f-paypal_email-error"' in refused.text
    with reading() as session:
        row = session.get(PayoutSettings, w.partner_id)
        assert row is not None and row.method == "bank_transfer"


def test_saving_the_tax_profile(server: Server) -> None:
    w = world(lock_days=0)
    me = partner_browser(server, w)
    business = {
        "entity": "business",
        "legal_name": "Blog GmbH",
        "address": "Musterstraße 1\n10115 Berlin",
        "country": "DE",
        "vat_id": "DE136695975",  # a wrong check digit
        "tax_id": "",
        "vat_rate": "19",
        "us_tax_form": "W-8BEN-E",
        "us_tax_form_signed_on": "2026-01-15",
    }
    refused = me.post("/partner/payouts/settings/tax", business, token_from="/account")
    assert refused.status_code == 422
    assert re.search(r'id="f-vat_id-error">not a valid VAT number', refused.text)
    with reading() as session:
        assert session.get(TaxProfile, w.partner_id) is None

    # The wrong US form for a business outside the US is refused, naming that field.
    wrong_form = {**business, "vat_id": "DE136695976", "us_tax_form": "W-9"}
    refused = me.post("/partner/payouts/settings/tax", wrong_form, token_from="/account")
    assert refused.status_code == 422 and 'id="f-us_tax_form-error"' in refused.text

    saved = me.post(
        "/partner/payouts/settings/tax",
        {**business, "vat_id": "DE136695976"},
        token_from="/account",
    )
    assert saved.status_code == 303
    with reading() as session:
        row = session.get(TaxProfile, w.partner_id)
        assert row is not None
        assert (row.entity, row.vat_id, row.vat_rate, row.us_tax_form) == (
            "business",
            "DE136695976",
            D("19"),
            "W-8BEN-E",
        )
        assert row.us_tax_form_signed_on is not None
        assert row.address == "Musterstraße 1\n10115 Berlin"
    page = me.get("/partner/payouts/settings").text
    assert "Tax profile saved." in page
    assert '<option value="business" selected>' in page and 'value="DE136695976"' in page
    assert "Tax numbers of Germany are checked" in text_of(page)
    assert "For your profile: W-8BEN-E." in text_of(page)


def test_every_hold_reason_the_service_gives_is_told_in_words() -> None:
    complete = PayoutDetails(
        schedule="monthly",
        threshold=D(50),
        method="bank_transfer",
        account_holder="Erika",
        iban="DE89370400440532013000",
        bic="COBADEFFXXX",
        paypal_email=None,
        entity="business",
        legal_name="Blog GmbH",
        address="Berlin",
        tax_country="DE",
        vat_id="DE136695976",
        tax_id=None,
        us_tax_form=None,
    )
    cases = [
        {"method": None},
        {"iban": None},
        {"bic": "BNPAFRPPXXX"},
        {"method": "paypal"},
        {"entity": None},
        {"vat_id": None},
        {"vat_id": "DE136695975"},
        {"vat_id": "ATU13585627"},
        {"tax_country": "US", "vat_id": None, "us_tax_form": "W-9"},
        {"us_tax_form": "W-9"},
    ]
    seen = set()
    for change in cases:
        details = replace(complete, **change)
        for stored in hold_reasons(details, us_sourced=True):
            words = reason_in_words(stored)
            assert words.text != stored and words.fix is not None, stored
            seen.add(stored.split(":")[0][:20])
    assert len(seen) >= 8
    for stored in (
        "cancelled: the balance (12.00 EUR) is below the threshold (50.00) and stays in the "
        "balance",
        "replaced by the payout of period 2026-11",
        "the network's legal details are missing (the operator sets them)",
        "the network's VAT number is missing: a reverse-charge invoice shows both",
    ):
        assert reason_in_words(stored).text != stored


def test_payouts_have_their_own_id_space(server: Server) -> None:
    """The settings page is not taken for a payout id, and junk ids are 404 before any query."""
    w = payee()
    me = partner_browser(server, w)
    assert me.get("/partner/payouts/settings").status_code == 200
    assert me.get("/partner/payouts/" + "x" * 300).status_code in (404, 422)
    assert me.get(f"/partner/payouts/pay_{uuid.uuid4().hex}").status_code == 404


# Each language has the payout pages (a key phrase from each catalog), and every page renders.
PAYOUTS_IN = {
    "de": ("Auszahlungsverlauf", "Auszahlungsdaten", "Provisionen in dieser", "Vorschau eines"),
    "sv": (
        "Utbetalningshistorik",
        "Utbetalningsuppgifter",
        "Provisioner i denna",
        "Förhandsgranska",
    ),
    "es": ("Historial de pagos", "Datos de pago", "Comisiones de este pago", "Vista previa de"),
    "zh_Hans": ("付款记录", "付款信息", "本次付款包含的佣金", "预览一次运行"),
}


@pytest.mark.parametrize("locale", sorted(PAYOUTS_IN))
def test_the_payout_pages_in_every_language(server: Server, ops: Browser, locale: str) -> None:
    w = payee(entity=None)
    approved(w, "650.00", at("2019-10-09T10:00"))
    run_from_page(ops, "2019-10-31")  # held: no tax profile
    [held] = payouts_of(w.partner_id)
    me = partner_browser(server, w)
    header = {"accept-language": locale.replace("_", "-")}
    history, details, lines, preview = PAYOUTS_IN[locale]
    pages = {
        "/partner/payouts": history,
        "/partner/payouts/settings": details,
        f"/partner/payouts/{held.id}": lines,
    }
    for path, phrase in pages.items():
        answer = me.get(path, headers=header)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert phrase in answer.text, (locale, path)
    # The hold reason is told in the partner's language too.
    reason = row_of(me.get("/partner/payouts", headers=header).text, f"held-{held.id}")
    assert "No tax profile yet" not in reason and "tax-profile" in reason
    for path in ("/operator/payouts?through=2019-10-31", "/operator/payouts/network"):
        answer = ops.get(path, headers=header)
        assert answer.status_code == 200, (path, answer.text[:300])
    assert preview in ops.get("/operator/payouts", headers=header).text
    answer = ops.get(f"/operator/payouts/runs/{held.run_id}", headers=header)
    assert answer.status_code == 200
