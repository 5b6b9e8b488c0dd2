"""The operator pages in Chromium: every page passes the audit (one h1, labelled inputs, named
buttons, no horizontal scroll) on a desktop and at 375 px, with no console error or CSP
violation, and an advertiser is created through the form."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from alliance.accounts.service import create_operator
from alliance.clock import utcnow
from alliance.db.engine import transaction
from alliance.programs.models import Enrollment
from tests.api.factories import (
    API,
    apply,
    auth,
    expect,
    insert_click,
    insert_commission,
    insert_conversion,
    make_network,
    make_partner,
)
from tests.browser.conftest import (
    ARGS,
    CHROMIUM,
    Shots,
    audit,
    require_chromium,
    shots,
    sign_in,
    watch,
)
from tests.conftest import Server
from tests.web.conftest import PASSWORD, new_user
from tests.web.test_operator_pages import dead_delivery

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("operator-pages")]
__all__ = ["shots"]  # the browser fixture, used by name


@pytest.fixture()
def context() -> Iterator[object]:
    """Chromium for this test only. The session-wide browser of tests/browser keeps
    Playwright's event loop alive in the worker, which breaks later tests that call
    asyncio.run() (the click writer's) when they land on the same xdist worker."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        ctx.set_default_timeout(15_000)
        yield ctx
        ctx.close()
        browser.close()


PAGES = (
    "/operator",
    "/operator/advertisers",
    "/operator/partners",
    "/operator/review",
    "/operator/health",
)


def test_operator_pages_in_chromium(
    server: Server, http: httpx.Client, operator_key: str, context: object, shots: Shots
) -> None:
    with transaction() as session:
        ops, _ = create_operator(session, name="Browser ops")
    email = new_user(ops.id)
    net = make_network(http, operator_key, currency="EUR")
    insert_click(net.program_id, net.partner_id, net.link["id"])
    order = insert_conversion(net.program_id, net.partner_id, currency="EUR", amount="80.00")
    pending = (("accrual", "pending", "8"),)
    insert_commission(net.program_id, net.partner_id, order, currency="EUR", entries=pending)
    applicant_id, applicant_key = make_partner(http, operator_key, name="Late <i>applicant</i>")
    application = apply(http, net.program_id, applicant_key, message="We write about trails")
    with transaction() as session:
        row = session.get(Enrollment, application["id"])
        assert row is not None
        row.created_at = utcnow() - timedelta(days=5)
    dead_delivery(net.advertiser_id, "HTTP 502 from the receiver")

    for width, height in ((1280, 900), (375, 740)):
        ctx = context.browser.new_context(viewport={"width": width, "height": height})  # type: ignore[attr-defined]
        page = ctx.new_page()
        problems = watch(page)
        sign_in(page, server.url, email, PASSWORD)
        for path in PAGES:
            page.goto(server.url + path)
            assert page.url.endswith(path), page.url
            name = path.strip("/").replace("/", "-")
            shots.take(page, f"{name}-{width}")
            assert audit(page) == [], (path, width)
        assert problems == [], width
        ctx.close()

    page = context.new_page()  # type: ignore[attr-defined]
    problems = watch(page)
    sign_in(page, server.url, email, PASSWORD)
    page.goto(server.url + "/operator/advertisers")
    name = f"Nordic <b>Trail</b> {uuid.uuid4().hex[:6]}"
    form = page.locator("#new-advertiser")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Country (ISO code, e.g. SE)").fill("SE")
    form.get_by_label("Currency of its programs (ISO code, e.g. SEK)").fill("SEK")
    form.get_by_label("Service level").select_option("managed")
    form.get_by_role("button", name="Create advertiser").click()
    key = page.get_by_label(f"API key of {name}").input_value()
    assert key.startswith("ala_")
    shots.take(page, "advertiser-created")
    assert audit(page) == []
    assert name in page.locator("table").inner_text()
    row = page.locator("tbody tr").filter(has_text=name)
    row.locator("summary").click()
    row.get_by_label(f"E-mail of the first user of {name}").fill("founder@example.com")
    row.get_by_role("button", name="Invite").click()
    assert "/invitations/" in page.get_by_label("Invitation link").input_value()
    shots.take(page, "first-user-invited")
    assert audit(page) == []

    page.goto(server.url + "/operator/review")
    row = page.locator(f"#enrollment-{application['id']}")
    assert "Late <i>applicant</i>" in row.inner_text()
    row.get_by_role("button", name="Approve").click()
    page.wait_for_load_state("domcontentloaded")
    assert "approved" in page.get_by_role("status").first.inner_text()
    assert page.locator(f"#enrollment-{application['id']}").count() == 0
    shots.take(page, "application-approved")
    assert audit(page) == []
    enrolled = expect(
        http.get(f"{API}/enrollments/{application['id']}", headers=auth(applicant_key)), 200
    )
    assert enrolled["status"] == "approved" and enrolled["partner_id"] == applicant_id
    assert problems == []
