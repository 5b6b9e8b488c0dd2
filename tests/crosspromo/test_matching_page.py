"""/partner/recommendations through the real server, signed in: the partner's own lists with
their components, nothing already joined, and the navigation entry."""

from __future__ import annotations

import html

import httpx
import pytest

from alliance.crosspromo import matching
from tests.conftest import Server
from tests.crosspromo.matching_factories import Tags, enrolled, orders, partner, shop
from tests.web.conftest import signed_in


@pytest.mark.parametrize("locale", ["en", "de"])
def test_the_partner_sees_its_recommendations_with_reasons(server: Server, locale: str) -> None:
    t = Tags.new()
    trail, gels = t("trail"), t("gels")
    me = partner(name="Trail Talk", categories=[trail])
    mate = partner(name=f"Gel <Guide> {t.tag}", categories=[gels])
    _, home = shop(trail, name=f"Home {t.tag}")
    _, gel = shop(gels, name=f"Gels {t.tag}")
    _, shoe = shop(trail, name=f"Shoes {t.tag}")
    enrolled(home, me.id)
    enrolled(gel, mate.id)
    orders(home, me.id, [trail, gels], count=20)
    matching.refresh_co_purchases()

    browser = signed_in(server, me.id)
    try:
        headers = {"accept-language": locale}
        page = browser.get("/partner/recommendations", params={"category": trail}, headers=headers)
        assert page.status_code == 200, page.text
        text = page.text
        assert '<a href="/partner/recommendations" aria-current="page">' in text  # the menu
        assert "style=" not in text and "<style" not in text and "<script>" not in text
        assert f'href="/partner/marketplace/{shoe}"' in text
        assert f"Home {t.tag}" not in text  # joined
        assert f"Gels {t.tag}" not in text  # another category than the filter
        label = "Stated categories and audience" if locale == "en" else "Angegebene Kategorien"
        assert label in text
        assert "stated category of the program: " + trail in text  # the API's explanation
        # Partners to promote with: the filter's category is stated by none but me.
        assert html.escape(f"Gel <Guide> {t.tag}") not in text

        page = browser.get("/partner/recommendations", params={"category": gels}, headers=headers)
        assert page.status_code == 200
        assert f"Gels {t.tag}" in page.text
        assert html.escape(f"Gel <Guide> {t.tag}") in page.text  # escaped, never raw
        assert f"Gel <Guide> {t.tag}" not in page.text
    finally:
        browser.close()


def test_other_accounts_are_sent_away(server: Server) -> None:
    anonymous = httpx.get(server.url + "/partner/recommendations", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    advertiser, _ = shop("anything")
    browser = signed_in(server, advertiser.id)
    try:
        page = browser.get("/partner/recommendations")
        assert page.status_code == 403
    finally:
        browser.close()


def test_the_advertiser_sees_partners_to_invite(server: Server) -> None:
    t = Tags.new()
    trail, gels = t("trail"), t("gels")
    seller = partner(name=f"Seller {t.tag}", categories=[trail])
    member = partner(name=f"Member {t.tag}", categories=[trail])
    applicant = partner(name=f"Applicant {t.tag}", categories=[trail])
    shop_account, mine = shop(trail, name=f"A {t.tag}")
    _, other = shop(gels, name=f"Other {t.tag}")
    enrolled(mine, member.id)
    enrolled(mine, applicant.id, status="applied")
    enrolled(other, seller.id)
    orders(other, seller.id, [gels, trail], count=20)
    matching.refresh_co_purchases()

    browser = signed_in(server, shop_account.id)
    try:
        page = browser.get("/advertiser/recommendations", params={"category": trail})
        assert page.status_code == 200, page.text
        text = page.text
        assert '<a href="/advertiser/recommendations" aria-current="page">' in text
        assert f"A {t.tag}" in text  # its only program is chosen
        assert f"Seller {t.tag}" in text
        assert f"Member {t.tag}" not in text and f"Applicant {t.tag}" not in text
        assert "Category complementarity" in text
        assert "style=" not in text and "<script>" not in text
        # Another advertiser's program is not there, whatever the id.
        refused = browser.get("/advertiser/recommendations", params={"program_id": other})
        assert refused.status_code == 404
    finally:
        browser.close()
