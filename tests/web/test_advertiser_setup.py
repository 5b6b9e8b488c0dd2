"""The advertiser's creatives and feeds, webhooks and integration pages against a real server:
the forms call the REST API's own functions, secrets are shown once (and never to read-only
members), another advertiser's rows are 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from alliance.accounts.users import Role
from alliance.clock import utcnow
from alliance.conversions.models import WebhookIntegration
from alliance.db.engine import reading, transaction
from alliance.ids import new_id
from alliance.notifications.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from alliance.programs.models import Creative, FeedProduct
from tests.api.factories import make_advertiser, make_program, unique
from tests.conftest import Server
from tests.web.conftest import Browser, signed_in

XSS = "<img src=x onerror=alert(1)>"


@dataclass
class Account:
    advertiser_id: str
    program_id: str
    program_name: str
    token: str


def _account(http: httpx.Client, operator_key: str) -> Account:
    advertiser_id, key = make_advertiser(http, operator_key, currency="SEK")
    program = make_program(
        http,
        key,
        name=unique("Setup program"),
        deeplink_domains=["blog.shop.example"],
        commission={"type": "cps", "percent": "8"},
    )
    return Account(advertiser_id, program["id"], program["name"], program["postback_token"])


@pytest.fixture(scope="module")
def accounts(server: Server, operator_key: str) -> tuple[Account, Account]:
    with httpx.Client(base_url=server.url, timeout=15) as http:
        return _account(http, operator_key), _account(http, operator_key)


@pytest.fixture(scope="module")
def owner(server: Server, accounts: tuple[Account, Account]) -> Browser:
    return signed_in(server, accounts[0].advertiser_id, Role.member)


@pytest.fixture(scope="module")
def reader(server: Server, accounts: tuple[Account, Account]) -> Browser:
    return signed_in(server, accounts[0].advertiser_id, Role.read_only)


# --- integration -----------------------------------------------------------------------------


def test_integration_snippets_for_the_program(
    owner: Browser, reader: Browser, accounts: tuple[Account, Account]
) -> None:
    mine, other = accounts
    html = owner.get("/advertiser/integration").text
    assert "/tag.js&#34; async&gt;&lt;/script&gt;" in html or "/tag.js&#34; async" in html
    assert f"/px?program={mine.program_id}&amp;order_id=ORDER_ID" in html
    assert f"/postback?program={mine.program_id}&amp;token={mine.token}" in html
    assert f"/webhooks/shopify/{mine.program_id}" in html
    assert f"/webhooks/woocommerce/{mine.program_id}" in html
    assert f"/webhooks/stripe/{mine.program_id}" in html
    assert "hmac.new" in html and "orders/create" in html and "charge.refunded" in html
    assert 'data-copy="tag"' in html and 'id="tag"' in html
    # The postback token is a secret: a read-only member sees a placeholder.
    hidden = reader.get("/advertiser/integration").text
    assert mine.token not in hidden and "YOUR_POSTBACK_TOKEN" in hidden
    assert f"/postback?program={mine.program_id}" in hidden
    # Another advertiser's program is not there, and cannot be asked for.
    assert other.token not in html and other.program_id not in html
    assert owner.get(f"/advertiser/integration?program_id={other.program_id}").status_code == 404


# --- creatives and feeds ---------------------------------------------------------------------


def test_creative_created_listed_and_deactivated(
    owner: Browser, accounts: tuple[Account, Account]
) -> None:
    mine, other = accounts
    form = {
        "program_id": mine.program_id,
        "kind": "text_link",
        "name": XSS,
        "anchor_text": "Shop the spring sale",
        "landing_url": "https://blog.shop.example/spring",
    }
    answer = owner.post("/advertiser/creatives", form, token_from="/advertiser/creatives")
    assert answer.status_code == 303, answer.text
    with reading() as session:
        creative = session.scalars(
            select(Creative).where(Creative.program_id == mine.program_id)
        ).one()
    page = owner.get(f"/advertiser/creatives?program_id={mine.program_id}").text
    assert "Shop the spring sale" in page and XSS not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    answer = owner.post(
        f"/advertiser/creatives/{creative.id}/deactivate", token_from="/advertiser/creatives"
    )
    assert answer.status_code == 303
    with reading() as session:
        found = session.get(Creative, creative.id)
        assert found is not None and not found.active
    # Fields of another kind, or a landing page off the program's domains, are refused by name.
    wrong = owner.post(
        "/advertiser/creatives",
        {**form, "image_url": "https://cdn.example/x.png"},
        token_from="/advertiser/creatives",
    )
    assert wrong.status_code == 422 and "(field: image_url)" in wrong.text
    off = owner.post(
        "/advertiser/creatives",
        {**form, "landing_url": "https://evil.example/"},
        token_from="/advertiser/creatives",
    )
    assert off.status_code == 422 and "(field: landing_url)" in off.text
    foreign = owner.post(
        "/advertiser/creatives",
        {**form, "program_id": other.program_id},
        token_from="/advertiser/creatives",
    )
    assert foreign.status_code == 404


def _upload(owner: Browser, program_id: str, body: bytes) -> httpx.Response:
    token = owner.token("/advertiser/creatives")
    return owner.client.post(
        "/advertiser/feed",
        data={"csrf_token": token, "program_id": program_id},
        files={"file": ("feed.csv", body, "text/csv")},
    )


def test_feed_upload_and_product_search(owner: Browser, accounts: tuple[Account, Account]) -> None:
    mine, other = accounts
    feed = (
        b"id,title,url,price,currency,category\n"
        b"TENT-2P,Trail tent 2P,https://shop.example/p/tent,2499.00,SEK,tents\n"
        b"BAG-1,Sleeping bag,https://shop.example/p/bag,899.00,SEK,bags\n"
        b"BAD,No price,https://shop.example/p/bad,,SEK,bags\n"
    )
    answer = _upload(owner, mine.program_id, feed)
    assert answer.status_code == 303, answer.text
    with reading() as session:
        products = session.scalars(
            select(FeedProduct.product_id).where(FeedProduct.program_id == mine.program_id)
        ).all()
    assert sorted(products) == ["BAG-1", "TENT-2P"]
    page = owner.get(f"/advertiser/creatives?program_id={mine.program_id}&q=tent").text
    assert "Trail tent 2P" in page and "Sleeping bag" not in page
    refused = _upload(owner, mine.program_id, b"id,title\nX,Y\n")
    assert refused.status_code == 422
    assert _upload(owner, other.program_id, feed).status_code == 404


# --- webhooks --------------------------------------------------------------------------------


def _secret_of(html: str) -> str:
    found = re.search(r'id="new-secret" type="text" readonly value="(whsec_[^"]+)"', html)
    assert found, "no secret on the page"
    return found.group(1)


def test_endpoint_secret_is_shown_once_then_rotated(
    owner: Browser, accounts: tuple[Account, Account]
) -> None:
    mine, _ = accounts
    answer = owner.post(
        "/advertiser/webhooks/endpoints",
        {
            "url": "https://1.1.1.1/alliance-hook",
            "description": "ERP",
            "event_types": ["conversion.created", "conversion.completed"],
        },
        token_from="/advertiser/webhooks",
    )
    assert answer.status_code == 200, answer.text
    secret = _secret_of(answer.text)
    with reading() as session:
        endpoint = session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.owner_id == mine.advertiser_id)
        ).one()
    assert endpoint.secret == secret
    assert endpoint.event_types == ["conversion.created", "conversion.completed"]
    later = owner.get("/advertiser/webhooks").text
    assert secret not in later and "https://1.1.1.1/alliance-hook" in later
    rotated = owner.post(
        f"/advertiser/webhooks/endpoints/{endpoint.id}/rotate",
        {"keep_previous_hours": "24"},
        token_from="/advertiser/webhooks",
    )
    assert rotated.status_code == 200
    assert _secret_of(rotated.text) not in (secret, "")
    disabled = owner.post(
        f"/advertiser/webhooks/endpoints/{endpoint.id}/active",
        {"active": "false"},
        token_from="/advertiser/webhooks",
    )
    assert disabled.status_code == 303
    with reading() as session:
        found = session.get(WebhookEndpoint, endpoint.id)
        assert found is not None and not found.active and found.previous_secret == secret


def test_bad_endpoint_names_the_field(owner: Browser) -> None:
    for data, field in (
        ({"url": "not a url"}, "url"),
        ({"url": "https://127.0.0.1/hook"}, "url"),
        ({"url": "https://1.1.1.1/x", "event_types": ["payout.paid"]}, "event_types"),
    ):
        answer = owner.post(
            "/advertiser/webhooks/endpoints", data, token_from="/advertiser/webhooks"
        )
        assert answer.status_code == 422, (data, answer.status_code)
        assert f"(field: {field})" in answer.text


def test_dead_delivery_is_retried(
    server: Server, owner: Browser, accounts: tuple[Account, Account]
) -> None:
    mine, other = accounts
    now = utcnow()
    with transaction() as session:
        endpoint = WebhookEndpoint(
            id=new_id("wep"),
            owner_kind="advertiser",
            owner_id=mine.advertiser_id,
            url="https://1.1.1.1/dead",
            description="",
            event_types=[],
            active=True,
            secret="whsec_" + "A" * 32,
            created_at=now,
            updated_at=now,
        )
        event = WebhookEvent(
            id=new_id("msg"), type="conversion.created", program_id=mine.program_id, data={}
        )
        session.add_all([endpoint, event])
        session.flush()
        delivery = WebhookDelivery(
            id=new_id("wdl"),
            event_id=event.id,
            endpoint_id=endpoint.id,
            owner_kind="advertiser",
            owner_id=mine.advertiser_id,
            event_type="conversion.created",
            state="dead",
            attempts=8,
            last_status_code=500,
            last_error=XSS,
            created_at=now,
        )
        session.add(delivery)
        delivery_id = delivery.id
    page = owner.get("/advertiser/webhooks?state=dead").text
    assert delivery_id in page or "HTTP 500" in page
    assert XSS not in page and "&lt;img src=x" in page
    answer = owner.post(
        f"/advertiser/webhooks/deliveries/{delivery_id}/retry", token_from="/advertiser/webhooks"
    )
    assert answer.status_code == 303
    with reading() as session:
        found = session.get(WebhookDelivery, delivery_id)
        assert found is not None and found.state == "pending"
    # Another advertiser cannot retry (or see) it.
    stranger = signed_in(server, other.advertiser_id)
    assert "https://1.1.1.1/dead" not in stranger.get("/advertiser/webhooks").text
    refused = stranger.post(
        f"/advertiser/webhooks/deliveries/{delivery_id}/retry", token_from="/advertiser/webhooks"
    )
    assert refused.status_code == 404


def test_store_connection_saved_and_removed(
    owner: Browser, accounts: tuple[Account, Account]
) -> None:
    mine, other = accounts
    answer = owner.post(
        "/advertiser/webhooks/stores",
        {
            "program_id": mine.program_id,
            "platform": "stripe",
            "secret": "whsec_test_0123456789abcd",
        },
        token_from="/advertiser/webhooks",
    )
    assert answer.status_code == 303, answer.text
    with reading() as session:
        row = session.scalars(
            select(WebhookIntegration).where(WebhookIntegration.program_id == mine.program_id)
        ).one()
    assert row.platform == "stripe" and row.secret == "whsec_test_0123456789abcd"
    page = owner.get("/advertiser/webhooks").text
    assert f"/webhooks/stripe/{mine.program_id}" in page and "whsec_test_0123456789abcd" not in page
    short = owner.post(
        "/advertiser/webhooks/stores",
        {"program_id": mine.program_id, "platform": "shopify", "secret": "short"},
        token_from="/advertiser/webhooks",
    )
    assert short.status_code == 422 and "(field: secret)" in short.text
    foreign = owner.post(
        "/advertiser/webhooks/stores",
        {"program_id": other.program_id, "platform": "stripe", "secret": "whsec_0123456789abcdef"},
        token_from="/advertiser/webhooks",
    )
    assert foreign.status_code == 404
    removed = owner.post(
        f"/advertiser/webhooks/stores/{mine.program_id}/stripe/delete",
        token_from="/advertiser/webhooks",
    )
    assert removed.status_code == 303
    with reading() as session:
        assert (
            session.scalars(
                select(WebhookIntegration).where(WebhookIntegration.program_id == mine.program_id)
            ).first()
            is None
        )
