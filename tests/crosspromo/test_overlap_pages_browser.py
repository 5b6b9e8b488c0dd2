"""The audience pages in Chromium, at desktop and phone width: the machine-checkable basics of
accessibility (tests/browser/conftest.py `audit`), no console error or CSP violation, no page
wider than a 375 px screen; and the compare form used as a person would."""

from __future__ import annotations

import pytest

from tests.browser import conftest as browser_kit
from tests.browser.conftest import Shots, audit, sign_in, watch
from tests.conftest import Server
from tests.crosspromo import test_overlap_pages as pages
from tests.web.conftest import PASSWORD, new_user

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("overlap-pages")]
# Fixtures used here by name.
chromium = browser_kit.chromium
context = browser_kit.context
shots = browser_kit.shots
world = pages.world


def flat(text: str) -> str:
    """Text as read, whatever the CSS does to case and line breaks."""
    return " ".join(text.split()).lower()


@pytest.mark.parametrize("width", [1280, 375])
def test_the_audience_pages_pass_the_audit(
    server: Server, chromium: object, world: pages.World, shots: Shots, width: int
) -> None:
    ours, shop = world.ours.partner.id, world.advertiser_id
    visits = [
        (ours, "/partner/audience"),
        (ours, f"/partner/audience?with={world.little.partner.id}#compare"),
        (ours, f"/partner/audience?with=Dup+{world.tag}#compare"),
        (shop, "/advertiser/partners"),
        (shop, f"/advertiser/partners?partner_id={ours}#shared-audience"),
        (
            shop,
            f"/advertiser/partners?partner_id={ours}"
            f"&other_partner_id={world.twin.partner.id}#shared-audience",
        ),
    ]
    for account in (ours, shop):
        browser = chromium.new_context(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
        page = browser.new_page()
        problems = watch(page)
        sign_in(page, server.url, new_user(account), PASSWORD)
        for n, (owner, path) in enumerate(visits):
            if owner != account:
                continue
            page.goto(server.url + path)
            page.wait_for_load_state("networkidle")
            assert audit(page) == [], path
            assert problems == [], (path, problems)
            shots.take(page, f"{n}-{width}")
        browser.close()


def test_comparing_through_the_form(
    server: Server, context: object, world: pages.World, shots: Shots
) -> None:
    page = context.new_page()  # type: ignore[attr-defined]
    problems = watch(page)
    sign_in(page, server.url, new_user(world.ours.partner.id), PASSWORD)
    page.goto(f"{server.url}/partner/audience")
    page.get_by_label("Partner id or name").fill(f"Twin {world.tag}")
    page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_load_state("domcontentloaded")
    result = flat(page.locator("#compare").inner_text())
    assert f"you and twin {world.tag.lower()}" in result and "shared visitors 200" in result
    shots.take(page, "partner-compare")
    # The advertiser picks two partners from its own list.
    page.context.clear_cookies()
    sign_in(page, server.url, new_user(world.advertiser_id), PASSWORD)
    page.goto(f"{server.url}/advertiser/partners")
    page.get_by_label("Partner", exact=True).select_option(label=f"Ours {world.tag}")
    page.get_by_label("Compared with").select_option(label=f"Little {world.tag}")
    page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_load_state("domcontentloaded")
    result = flat(page.locator("#shared-audience").inner_text())
    assert (
        "shared visitors < 50" in result
        and f"audience of little {world.tag.lower()} < 50" in result
    )
    shots.take(page, "advertiser-compare")
    assert problems == []
