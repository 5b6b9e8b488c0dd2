"""The advertiser's Bundles page on a real server with signed-in users: the seller proposes
from the page (a refusal names the field), the other brand accepts from its page, both see
the split of an order, and the seller deactivates."""

from __future__ import annotations

import html
import json
import re

import httpx

from tests.api.factories import (
    API,
    auth,
    expect,
    make_advertiser,
    make_network,
    make_program,
    unique,
)
from tests.conftest import Server
from tests.web.conftest import signed_in

PAGE = "/advertiser/bundles"


def text_of(markup: str) -> str:
    text = html.unescape(re.sub(r"<[^>]+>", " ", markup))
    return " ".join(text.split())


def test_a_bundle_is_proposed_accepted_and_shown_split_on_the_page(
    http: httpx.Client, operator_key: str, server: Server
) -> None:
    seller = make_network(http, operator_key, currency="EUR")
    other_id, other_key = make_advertiser(http, operator_key, currency="EUR")
    other_program = make_program(http, other_key)
    me = signed_in(server, seller.advertiser_id)
    them = signed_in(server, other_id)
    try:
        page = me.get(PAGE)
        assert page.status_code == 200 and 'href="/advertiser/bundles"' in page.text
        sku = unique("KIT").replace(" ", "-")
        form = {
            "program_id": seller.program_id,
            "name": "Camera kit",
            "sku": sku,
            "price": "899.00",
            "currency": "",
            "parties": f"{seller.program_id} 3\n{other_program['id']} 0",
        }
        refused = me.post(PAGE, form, token_from=PAGE)
        assert refused.status_code == 422
        assert 'id="f-parties-error"' in refused.text or "field: parties" in text_of(refused.text)
        form["parties"] = f"{seller.program_id} 3\n\n{other_program['id']}, 1\n"
        proposed = me.post(PAGE, form, token_from=PAGE)
        assert proposed.status_code == 303, proposed.text
        listed = expect(http.get(f"{API}/bundles", headers=auth(seller.advertiser_key)), 200)[
            "data"
        ]
        bundle = next(b for b in listed if b["sku"] == sku)
        assert bundle["status"] == "proposed"
        assert [p["weight"] for p in bundle["parties"]] == ["3", "1"]

        # The other brand sees the invitation on its page and accepts it there.
        theirs = text_of(them.get(PAGE).text)
        assert "Camera kit" in theirs and "invited" in theirs and "75.00" in theirs
        party = bundle["parties"][1]["id"]
        accepted = them.post(f"{PAGE}/{bundle['id']}/parties/{party}/accept", {}, token_from=PAGE)
        assert accepted.status_code == 303

        query = {
            "program": seller.program_id,
            "token": seller.program["postback_token"],
            "currency": "EUR",
            "coupon": seller.coupon["code"],
            "order_id": unique("P").replace(" ", "-"),
            "amount": "899.00",
            "status": "completed",
            "items": json.dumps([{"sku": sku, "amount": "899.00"}]),
        }
        expect(http.get("/postback", params=query), 200)
        mine = text_of(me.get(PAGE).text)
        assert "674.25" in mine and "224.75" in mine  # 899.00 split 3 : 1
        theirs = text_of(them.get(PAGE).text)
        assert "224.75" in theirs and "674.25" not in theirs  # only its own party's figures

        # Only the seller deactivates.
        refused = them.post(f"{PAGE}/{bundle['id']}/deactivate", {}, token_from=PAGE)
        assert refused.status_code == 403
        done = me.post(f"{PAGE}/{bundle['id']}/deactivate", {}, token_from=PAGE)
        assert done.status_code == 303
        got = expect(http.get(f"{API}/bundles/{bundle['id']}", headers=auth(other_key)), 200)
        assert got["status"] == "inactive"
    finally:
        me.close()
        them.close()
