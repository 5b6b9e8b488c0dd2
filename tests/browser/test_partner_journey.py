"""The network's main journey, in Chromium, across three roles on one real server.

A partner joins a program in the marketplace, the advertiser approves the application, the
partner creates and copies a tracking link, a shopper clicks it, the shop posts the order,
the advertiser approves the order, and the partner sees the commission approved. Every page
on the way passes the audit (tests/browser/conftest.py) and is screenshotted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from alliance.accounts.service import create_advertiser, create_operator, create_partner
from alliance.accounts.users import Role
from alliance.db.engine import transaction
from alliance.jobs.runner import run_due
from alliance.programs.schemas import ProgramCreate
from alliance.programs.service import create_program
from tests.browser.conftest import Shots, audit, sign_in, watch
from tests.conftest import Server
from tests.web.conftest import PASSWORD, new_user


@pytest.fixture(scope="module")
def site(db_url: str) -> Iterator[Server]:
    """A server whose public URL is itself, so copied links and invitations work as given."""
    srv = Server(db_url)
    srv.env["ALLIANCE_PUBLIC_URL"] = srv.url
    srv.start()
    yield srv
    srv.stop()


def test_partner_joins_clicks_sells_and_sees_the_commission_approved(
    site: Server, context: object, shots: Shots
) -> None:
    base = site.url
    with transaction() as session:
        create_operator(session, name="Journey ops")
        shop, _ = create_advertiser(
            session, name="Fjord Kayaks AB", country="SE", currency="SEK", website=base
        )
        program, _ = create_program(
            session,
            shop,
            ProgramCreate(
                name="Fjord Kayaks — paddles and dry bags",
                # The shopper lands on a page of this test server (no internet here).
                landing_url=f"{base}/healthz",
                cookie_window_days=30,
                lock_period_days=0,
                allowed_countries=[],
                deeplink_domains=[],
                description="Kayaks for the Nordic coast.",
                category="outdoor",
                commission={"type": "cps", "percent": "8"},
            ),
        )
        partner, _ = create_partner(
            session,
            name="Paddle Blog <script>alert(1)</script>",
            type="content",
            country="NO",
            payout_currency="NOK",
            categories=["outdoor"],
            audience="Norwegian sea kayakers",
        )
        program_id, token = program.id, program.postback_token
    shop_email = new_user(shop.id, Role.owner)
    partner_email = new_user(partner.id, Role.owner)

    blogger = context.new_page()  # type: ignore[attr-defined]
    blogger_problems = watch(blogger)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)  # type: ignore[attr-defined]
    sign_in(blogger, base, partner_email, PASSWORD)
    shots.take(blogger, "partner-overview")
    assert audit(blogger) == []

    # 1. The partner finds the program in the marketplace and joins it.
    blogger.goto(f"{base}/partner/marketplace")
    card = blogger.get_by_role("button", name=re.compile(r"Join .*Fjord Kayaks"))
    shots.take(blogger, "marketplace")
    assert audit(blogger) == []
    card.click()
    blogger.wait_for_load_state("domcontentloaded")
    assert "pending" in blogger.content().lower()
    shots.take(blogger, "applied")

    # 2. The advertiser approves the application, seeing the partner's profile.
    shop_page = context.browser.new_context().new_page()  # type: ignore[attr-defined]
    shop_problems = watch(shop_page)
    sign_in(shop_page, base, shop_email, PASSWORD)
    shop_page.goto(f"{base}/advertiser/applications")
    assert shop_page.get_by_text("Norwegian sea kayakers").is_visible()
    # The partner's name is shown as text: no script ran (watch() fails on any dialog).
    assert "Paddle Blog <script>alert(1)</script>" in shop_page.inner_text("main")
    shots.take(shop_page, "applications")
    assert audit(shop_page) == []
    shop_page.get_by_role("button", name=re.compile(r"^Approve Paddle Blog")).click()
    shop_page.wait_for_load_state("domcontentloaded")

    # 3. The partner creates a link and copies it.
    blogger.goto(f"{base}/partner/links")
    blogger.get_by_label("Label (optional)").fill("Spring review")
    blogger.get_by_role("button", name="Create link").click()
    blogger.wait_for_load_state("domcontentloaded")
    shots.take(blogger, "link-created")
    assert audit(blogger) == []
    copy_button = blogger.get_by_role("button", name=re.compile(r"^Copy")).first
    copy_button.click()
    link = blogger.evaluate("navigator.clipboard.readText()")
    assert re.fullmatch(rf"{re.escape(base)}/c/[0-9A-Za-z_-]+", link), link
    assert blogger.locator(".qr img, .qr svg").count() >= 1  # the QR code beside it

    # 4. A shopper on a phone clicks the link and lands on the shop with a click id.
    shopper = context.browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 390, "height": 844},
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    )
    landing = shopper.new_page()
    landing.goto(f"{link}?sub1=spring")
    assert landing.url.startswith(f"{base}/healthz")
    click_id = parse_qs(urlsplit(landing.url).query)["alclid"][0]
    shopper.close()

    # 5. The shop's server reports the order (server-to-server postback).
    answer = httpx.get(
        f"{base}/postback",
        params={
            "program": program_id,
            "token": token,
            "click_id": click_id,
            "order_id": "FK-1001",
            "event": "sale",
            "amount": "1250.00",
            "currency": "SEK",
            "status": "pending",
        },
    )
    assert answer.status_code == 200 and answer.json()["status"] == "accepted", answer.text

    # 6. The advertiser approves (completes) the order on the orders page.
    shop_page.goto(f"{base}/advertiser/orders")
    shots.take(shop_page, "orders")
    row = shop_page.get_by_role("row").filter(has_text="FK-1001")
    assert "1,250.00" in row.inner_text()
    assert audit(shop_page) == []
    row.get_by_role("button", name=re.compile(r"^Complete")).click()
    shop_page.wait_for_load_state("domcontentloaded")
    shots.take(shop_page, "order-completed")

    # The lock period is 0 days: the next jobs run approves the commission.
    run_due(only=["approve_due_commissions"], force=True)

    # 7. The partner sees the commission approved: 8 % of 1,250.00 SEK = 100.00 SEK.
    blogger.goto(f"{base}/partner/statement")
    statement_row = blogger.get_by_role("row").filter(has_text="FK-1001")
    text = statement_row.inner_text()
    assert "approved" in text.lower()
    assert "100.00" in text
    shots.take(blogger, "statement-approved")
    assert audit(blogger) == []
    blogger.goto(f"{base}/partner/earnings")
    assert "100.00" in blogger.inner_text("main")
    shots.take(blogger, "earnings")
    assert audit(blogger) == []

    assert blogger_problems == [] and shop_problems == []
    assert Decimal("1250.00") * Decimal("0.08") == Decimal("100.0000")
