"""Every advertiser page in Chromium, at desktop and phone width: the machine-checkable basics
of accessibility (tests/browser/conftest.py `audit`), no console error or CSP violation, no
page wider than a 375 px screen; and the live commission example refreshing through htmx.
"""

from __future__ import annotations

import httpx
import pytest

from alliance.accounts.users import Role
from tests.api.factories import (
    API,
    apply,
    auth,
    expect,
    make_advertiser,
    make_coupon,
    make_partner,
    make_program,
)
from tests.browser import conftest as browser_kit
from tests.browser.conftest import Shots, audit, sign_in, watch
from tests.conftest import Server
from tests.web.conftest import new_user

pytestmark = pytest.mark.browser
# The browser fixtures of tests/browser, used here by name.
chromium = browser_kit.chromium
context = browser_kit.context
shots = browser_kit.shots

PAGES = (
    "/advertiser",
    "/advertiser/programs",
    "/advertiser/programs/new",
    "/advertiser/programs/{program}",
    "/advertiser/applications",
    "/advertiser/partners",
    "/advertiser/orders",
    "/advertiser/orders/{order}",
    "/advertiser/rejected",
    "/advertiser/creatives",
    "/advertiser/webhooks",
    "/advertiser/integration",
)


@pytest.fixture(scope="module")
def shop(server: Server, operator_key: str) -> dict[str, str]:
    with httpx.Client(base_url=server.url, timeout=15) as http:
        advertiser_id, key = make_advertiser(http, operator_key, currency="SEK")
        program = make_program(http, key, commission={"type": "cps", "percent": "8"})
        partner_id, partner_key = make_partner(
            http, operator_key, name="<img src=x onerror=alert(1)>"
        )
        enrollment = apply(http, program["id"], partner_key)
        expect(http.post(f"{API}/enrollments/{enrollment['id']}/approve", headers=auth(key)), 200)
        coupon = make_coupon(http, key, program["id"], partner_id)["code"]
        _, applicant_key = make_partner(http, operator_key, audience="Cyclists")
        apply(http, program["id"], applicant_key, message="Hello")
        answer = expect(
            http.get(
                "/postback",
                params={
                    "program": program["id"],
                    "token": program["postback_token"],
                    "order_id": "<script>alert(2)</script>",
                    "amount": "100.00",
                    "currency": "SEK",
                    "coupon": coupon,
                },
            ),
            200,
        )
    email = new_user(advertiser_id, Role.owner)
    return {"email": email, "program": program["id"], "order": answer["conversion_id"]}


@pytest.mark.parametrize("width", [1280, 375])
def test_every_page_passes_the_audit(
    server: Server, chromium: object, shop: dict[str, str], shots: Shots, width: int
) -> None:
    viewport = {"width": width, "height": 900}
    phone_or_desk = chromium.new_context(viewport=viewport)  # type: ignore[attr-defined]
    page = phone_or_desk.new_page()
    problems = watch(page)
    sign_in(page, server.url, shop["email"], "correct horse battery staple")
    for path in PAGES:
        url = server.url + path.format(**shop)
        page.goto(url)
        page.wait_for_load_state("networkidle")
        found = audit(page)
        assert found == [], (path, found)
        assert problems == [], (path, problems)
        shots.take(page, path.strip("/").replace("/", "-").replace("{", "").replace("}", ""))
    phone_or_desk.close()


def test_the_example_follows_the_form(
    server: Server, context: object, shop: dict[str, str], shots: Shots
) -> None:
    page = context.new_page()  # type: ignore[attr-defined]
    problems = watch(page)
    sign_in(page, server.url, shop["email"], "correct horse battery staple")
    page.goto(f"{server.url}/advertiser/programs/{shop['program']}")
    example = page.locator("#example")
    assert "SEK\xa08.00" in example.inner_text()
    page.get_by_label("Example order amount").fill("250")
    page.get_by_label("Example order amount").dispatch_event("change")
    page.wait_for_function(
        "() => document.querySelector('#example').innerText.includes('SEK\u00a020.00')"
    )
    page.get_by_label("Rate", exact=True).fill("10")
    page.get_by_label("Rate", exact=True).dispatch_event("change")
    page.wait_for_function(
        "() => document.querySelector('#example').innerText.includes('SEK\u00a025.00')"
    )
    shots.take(page, "example")
    assert problems == []
