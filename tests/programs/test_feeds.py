"""Product feeds: CSV uploads through the real server, partner search and deep links, and the
sku -> category look-up that feeds commission overrides."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from alliance.accounts.service import create_advertiser
from alliance.db.engine import reading, transaction
from alliance.demo.catalog import CATALOGS, add_catalog
from alliance.demo.network import ADVERTISERS
from alliance.errors import InvalidInput, PayloadTooLarge
from alliance.programs.feeds import MAX_FEED_ROWS, categories_for, parse_feed
from alliance.programs.models import FeedUpload, Program
from alliance.programs.schemas import ProgramCreate
from alliance.programs.service import create_program
from tests.api.factories import (
    API,
    Network,
    apply,
    auth,
    expect,
    make_advertiser,
    make_network,
    make_partner,
    make_program,
)

HEADER = "id,title,url,price,currency,category,image"
CSV = "text/csv; charset=utf-8"


def feed(*lines: str, header: str = HEADER, newline: str = "\n") -> bytes:
    return newline.join([header, *lines, ""]).encode()


def upload(
    http: httpx.Client, key: str, program_id: str, body: bytes, content_type: str = CSV
) -> httpx.Response:
    return http.post(
        f"{API}/programs/{program_id}/feed",
        content=body,
        headers={**auth(key), "Content-Type": content_type},
    )


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    data: dict[str, Any] = response.json()
    return data


def products(http: httpx.Client, key: str, **params: Any) -> list[dict[str, Any]]:
    data = expect(http.get(f"{API}/products", params=params, headers=auth(key)), 200)
    items: list[dict[str, Any]] = data["data"]
    return items


@pytest.fixture()
def net(http: httpx.Client, operator_key: str) -> Network:
    return make_network(
        http,
        operator_key,
        currency="SEK",
        landing_url="https://shop.example/",
        deeplink_domains=["cdn-shop.example"],
    )


GOOD = (
    "TENT-2P,Trail tent 2P,https://shop.example/p/tent-2p?c=1&d=2,2499.00,SEK,Tents,"
    "https://img.shop.example/tent.jpg",
    'PACK-40,"Överdrag ""Hiker"", 40 l",https://www.cdn-shop.example/pack,899.5,sek,backpacks,',
    "LAMP-1,Head lamp,https://shop.example/p/lamp,349,SEK,,",
)


def test_upload_keeps_good_rows_and_reports_bad_ones(http: httpx.Client, net: Network) -> None:
    body = b"\xef\xbb\xbf" + feed(
        *GOOD,
        "BAD-1,Cheap,https://shop.example/p/x,12.345,SEK,misc,",  # row 5
        "BAD-2,Far away,https://evil.example/p,10,SEK,misc,",  # row 6
        "BAD-3,Euro,https://shop.example/p/e,10,EUR,misc,http://img.shop.example/e.jpg",  # 7
        "TENT-2P,Again,https://shop.example/p/t,1,SEK,,",  # row 8: duplicate id
        ",No id,https://shop.example/p/n,1,SEK,,",  # row 9
        "",  # blank line: skipped, still counted as a line
        'BAD-4,Comma price,https://shop.example/p/c,"1,50",SEK,,',  # row 11
        "BAD-5,Too many,https://shop.example/p/m,1,SEK,,,extra",  # row 12
        newline="\r\n",
    )
    answer = expect(upload(http, net.advertiser_key, net.program_id, body), 201)
    assert answer["status"] == "applied" and answer["duplicate"] is False
    assert (answer["rows_read"], answer["rows_accepted"], answer["rows_rejected"]) == (10, 3, 7)
    assert answer["products_created"] == 3 and answer["products_removed"] == 0
    reported = {(e["row"], e["field"]) for e in answer["errors"]}
    assert reported == {
        (5, "price"),
        (6, "url"),
        (7, "currency"),
        (7, "image"),
        (8, "id"),
        (9, "id"),
        (11, "price"),
        (12, "row"),
    }
    reasons = {(e["row"], e["field"]): e["reason"] for e in answer["errors"]}
    assert "evil.example" in reasons[(6, "url")] and "shop.example" in reasons[(6, "url")]
    assert "SEK" in reasons[(7, "currency")]
    assert "first on row 2" in reasons[(8, "id")]
    assert "dot for decimals" in reasons[(11, "price")]
    assert answer["errors_total"] == 8

    got = {p["product_id"]: p for p in products(http, net.partner_key, program_id=net.program_id)}
    assert set(got) == {"TENT-2P", "PACK-40", "LAMP-1"}
    pack = got["PACK-40"]
    assert pack["title"] == 'Överdrag "Hiker", 40 l'
    assert (pack["price"], pack["currency"], pack["category"]) == ("899.50", "SEK", "backpacks")
    assert pack["image_url"] is None
    # The partner's own link, deep-linked to the product; the redirect follows it.
    tent = got["TENT-2P"]
    parts = urlsplit(tent["tracking_url"])
    assert parts.path == f"/c/{net.link['code']}"
    assert parse_qs(parts.query) == {"url": ["https://shop.example/p/tent-2p?c=1&d=2"]}
    redirect = http.get(f"{parts.path}?{parts.query}")
    assert redirect.status_code == 302
    assert redirect.headers["location"].startswith(
        "https://shop.example/p/tent-2p?c=1&d=2&alclid=clk_"
    )
    # The advertiser sees the same products, without a tracking URL.
    mine = products(http, net.advertiser_key, program_id=net.program_id)
    assert {p["product_id"] for p in mine} == set(got)
    assert all(p["tracking_url"] is None for p in mine)
    detail = expect(http.get(f"{API}/products/{tent['id']}", headers=auth(net.partner_key)), 200)
    assert detail == tent


def test_same_file_twice_changes_nothing(http: httpx.Client, net: Network) -> None:
    body = feed(*GOOD)
    first = expect(upload(http, net.advertiser_key, net.program_id, body), 201)
    before = products(http, net.advertiser_key, program_id=net.program_id)
    second = expect(upload(http, net.advertiser_key, net.program_id, body), 200)
    assert second["duplicate"] is True and second["id"] == first["id"]
    assert products(http, net.advertiser_key, program_id=net.program_id) == before
    history = expect(
        http.get(f"{API}/programs/{net.program_id}/feed/uploads", headers=auth(net.advertiser_key)),
        200,
    )
    assert [u["id"] for u in history["data"]] == [first["id"]]


def test_a_new_upload_replaces_the_feed(http: httpx.Client, net: Network) -> None:
    expect(upload(http, net.advertiser_key, net.program_id, feed(*GOOD)), 201)
    changed = GOOD[0].replace("2499.00", "1999.00")
    # Same rows in another order with a different price; LAMP-1 dropped; a new one.
    second = feed(
        GOOD[1], changed, "STOVE-1,Camp stove,https://shop.example/p/stove,599,SEK,cooking,"
    )
    answer = expect(upload(http, net.advertiser_key, net.program_id, second), 201)
    assert (
        answer["products_created"],
        answer["products_updated"],
        answer["products_unchanged"],
        answer["products_removed"],
    ) == (1, 1, 1, 1)

    partner_view = products(http, net.partner_key, program_id=net.program_id)
    assert {p["product_id"] for p in partner_view} == {"TENT-2P", "PACK-40", "STOVE-1"}
    tent = next(p for p in partner_view if p["product_id"] == "TENT-2P")
    assert tent["price"] == "1999.00"
    removed = products(http, net.advertiser_key, program_id=net.program_id, status="removed")
    assert [p["product_id"] for p in removed] == ["LAMP-1"]
    problem(http.get(f"{API}/products/{removed[0]['id']}", headers=auth(net.partner_key)), 404)

    summary = expect(
        http.get(f"{API}/programs/{net.program_id}/feed", headers=auth(net.advertiser_key)), 200
    )
    assert (summary["products_active"], summary["products_removed"]) == (3, 1)
    assert summary["latest_upload"]["id"] == answer["id"]
    assert {c["category"]: c["products"] for c in summary["categories"]} == {
        "Tents": 1,
        "backpacks": 1,
        "cooking": 1,
    }
    # Listing a removed product again brings it back.
    third = expect(upload(http, net.advertiser_key, net.program_id, feed(*GOOD)), 201)
    assert (third["products_updated"], third["products_removed"]) == (2, 1)
    assert {
        p["product_id"] for p in products(http, net.partner_key, program_id=net.program_id)
    } == {
        "TENT-2P",
        "PACK-40",
        "LAMP-1",
    }


def test_search(http: httpx.Client, net: Network) -> None:
    expect(upload(http, net.advertiser_key, net.program_id, feed(*GOOD)), 201)
    key, pid = net.partner_key, net.program_id

    def ids(**params: Any) -> set[str]:
        return {p["product_id"] for p in products(http, key, program_id=pid, **params)}

    assert ids(q="TENT") == {"TENT-2P"}
    assert ids(q="överdrag") == {"PACK-40"}  # case-insensitive beyond ASCII
    assert ids(q="hiker ÖVERDRAG") == {"PACK-40"}  # every word, any order
    assert ids(q="tent lamp") == set()
    assert ids(q="100%") == set()  # LIKE wildcards are literal
    assert ids(category="tents") == {"TENT-2P"}
    assert ids(category="TENTS") == {"TENT-2P"}
    assert ids(min_price="349", max_price="899.50") == {"PACK-40", "LAMP-1"}
    assert ids(min_price="349.01") == {"PACK-40", "TENT-2P"}
    assert ids(max_price="348.99") == set()
    everything = {p["product_id"] for p in products(http, key, currency="SEK", max_price="400")}
    assert everything == {"LAMP-1"}
    paged = expect(
        http.get(f"{API}/products", params={"program_id": pid, "limit": 2}, headers=auth(key)),
        200,
    )
    assert len(paged["data"]) == 2 and paged["next_cursor"]
    rest = expect(
        http.get(
            f"{API}/products",
            params={"program_id": pid, "limit": 2, "cursor": paged["next_cursor"]},
            headers=auth(key),
        ),
        200,
    )
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_price": "10"}, "min_price"),  # no program_id or currency
        ({"currency": "SEK", "min_price": "ten"}, "min_price"),
        ({"currency": "SEK", "max_price": "1.001"}, "max_price"),
        ({"currency": "SEK", "min_price": "-1"}, "min_price"),
        ({"currency": "SEK", "min_price": "5", "max_price": "4"}, "min_price"),
        ({"currency": "XYZ"}, "currency"),
        ({"program_id": "nope"}, "program_id"),
        ({"status": "gone"}, "status"),
        ({"q": "a\x00b"}, "q"),
    ],
)
def test_bad_search_parameters(
    http: httpx.Client, net: Network, params: dict[str, str], field: str
) -> None:
    response = http.get(f"{API}/products", params=params, headers=auth(net.partner_key))
    assert problem(response, 422)["field"] == field


def test_file_level_problems(http: httpx.Client, net: Network) -> None:
    key, pid = net.advertiser_key, net.program_id
    assert problem(upload(http, key, pid, feed(*GOOD), "application/json"), 415)["field"] == (
        "Content-Type"
    )
    assert problem(upload(http, key, pid, feed(*GOOD), "text/csv; charset=latin-1"), 415)
    data = problem(upload(http, key, pid, feed(*GOOD, header="id,title,url,currency")), 422)
    assert data["field"] == "header" and data["missing_columns"] == ["price"]
    assert problem(upload(http, key, pid, "id,title\nÅ,x\n".encode("latin-1")), 422)["field"] == (
        "body"
    )
    assert problem(upload(http, key, pid, b""), 422)["field"] == "body"
    assert problem(upload(http, key, pid, b"PK\x03\x04\x00\x00binary"), 422)["field"] == "body"
    dup = feed(*GOOD, header="id,title,url,price,currency,ID")
    assert problem(upload(http, key, pid, dup), 422)["field"] == "header"


def test_too_large(http: httpx.Client, net: Network) -> None:
    key, pid = net.advertiser_key, net.program_id
    rows = [
        f"P{i},Product {i},https://shop.example/p/{i},1,SEK,," for i in range(MAX_FEED_ROWS + 1)
    ]
    assert problem(upload(http, key, pid, feed(*rows)), 413)["field"] == "body"
    huge = feed(*GOOD) + b"#" * (20 * 1024 * 1024)
    assert problem(upload(http, key, pid, huge), 413)["field"] == "body"
    assert products(http, key, program_id=pid) == []


def test_an_upload_with_no_usable_row_leaves_the_feed_alone(
    http: httpx.Client, net: Network
) -> None:
    key, pid = net.advertiser_key, net.program_id
    expect(upload(http, key, pid, feed(*GOOD)), 201)
    before = products(http, key, program_id=pid)
    bad = feed("X,Bad,https://evil.example/x,1,SEK,,", "Y,Bad,https://shop.example/y,1,NOK,,")
    data = problem(upload(http, key, pid, bad), 422)
    assert data["field"] == "url" and data["errors_total"] == 2
    assert [(e["row"], e["field"]) for e in data["errors"]] == [(2, "url"), (3, "currency")]
    assert products(http, key, program_id=pid) == before
    # The refused upload is history, with its report.
    history = expect(http.get(f"{API}/programs/{pid}/feed/uploads", headers=auth(key)), 200)
    assert [u["status"] for u in history["data"]] == ["rejected", "applied"]
    detail = expect(
        http.get(f"{API}/programs/{pid}/feed/uploads/{data['upload_id']}", headers=auth(key)),
        200,
    )
    assert detail["errors"] == data["errors"]
    # A header alone is an explicit, empty feed.
    cleared = expect(upload(http, key, pid, feed()), 201)
    assert cleared["products_removed"] == 3
    assert products(http, key, program_id=pid) == []


def test_spreadsheet_exports_and_zero_decimal_currencies(
    http: httpx.Client, operator_key: str
) -> None:
    jp = make_network(http, operator_key, currency="JPY", landing_url="https://tea.example/")
    body = feed(
        "M-1;Matcha 30g;https://tea.example/p/m1;1200;JPY;Matcha;",
        "M-2;Matcha 100g;https://tea.example/p/m2;3600.5;JPY;Matcha;",
        header="ID;Title;URL;Price;Currency;Category;Image;Brand",
    )
    answer = expect(upload(http, jp.advertiser_key, jp.program_id, body), 201)
    assert answer["rows_accepted"] == 1 and answer["ignored_columns"] == ["Brand"]
    assert [(e["row"], e["field"]) for e in answer["errors"]] == [(3, "price")]
    (product,) = products(http, jp.partner_key, program_id=jp.program_id)
    assert (product["price"], product["currency"]) == ("1200", "JPY")


def test_feeds_are_scoped(http: httpx.Client, operator_key: str, net: Network) -> None:
    first = expect(upload(http, net.advertiser_key, net.program_id, feed(*GOOD)), 201)
    product = products(http, net.partner_key, program_id=net.program_id)[0]
    _, other_adv = make_advertiser(http, operator_key)
    other_program = make_program(http, other_adv)
    _, stranger = make_partner(http, operator_key)
    _, applicant = make_partner(http, operator_key)
    apply(http, net.program_id, applicant)

    pid = net.program_id
    for key in (other_adv, stranger, applicant):
        problem(http.get(f"{API}/products", params={"program_id": pid}, headers=auth(key)), 404)
        problem(http.get(f"{API}/products/{product['id']}", headers=auth(key)), 404)
        assert product["id"] not in {p["id"] for p in products(http, key)}
    for key in (other_adv,):
        problem(http.get(f"{API}/programs/{pid}/feed", headers=auth(key)), 404)
        problem(http.get(f"{API}/programs/{pid}/feed/uploads", headers=auth(key)), 404)
        problem(
            http.get(f"{API}/programs/{pid}/feed/uploads/{first['id']}", headers=auth(key)), 404
        )
        problem(upload(http, key, pid, feed(*GOOD)), 404)
    # An upload id read through another program (even one the caller owns) is 404.
    problem(
        http.get(
            f"{API}/programs/{other_program['id']}/feed/uploads/{first['id']}",
            headers=auth(other_adv),
        ),
        404,
    )
    # Partners neither upload nor read the advertiser's feed management.
    problem(upload(http, net.partner_key, pid, feed(*GOOD)), 403)
    problem(http.get(f"{API}/programs/{pid}/feed", headers=auth(net.partner_key)), 403)
    # The operator sees everything.
    assert products(http, operator_key, program_id=pid)


# --- pure parts, no server ----------------------------------------------------------------------


def _program(currency: str = "SEK") -> Program:
    return Program(
        id="prg_01JD0000000000000000000000",
        currency=currency,
        landing_url="https://shop.example/",
        deeplink_domains=[],
        cookie_window_days=30,
    )


def test_parse_feed_numbers_rows_like_a_spreadsheet() -> None:
    # A quoted line break keeps one record on one spreadsheet row: B is row 3, not line 4.
    text = (
        "id,title,url,price,currency\r\n"
        'A,"Two\r\nlines",https://shop.example/a,1,SEK\r\n'
        "B,Bad,https://shop.example/b,x,SEK\r\n"
        "C,Good,https://shop.example/c,2,SEK\r\n"
    )
    parsed = parse_feed(text, _program())
    assert [p.product_id for p in parsed.products] == ["C"]
    assert [(e.row, e.field) for e in parsed.errors] == [(2, "title"), (3, "price")]
    assert (parsed.rows_read, parsed.rows_rejected) == (3, 2)


def test_parse_feed_refuses_more_rows_than_allowed() -> None:
    rows = "".join(f"P{i},T,https://shop.example/,1,SEK\n" for i in range(MAX_FEED_ROWS + 1))
    with pytest.raises(PayloadTooLarge):
        parse_feed("id,title,url,price,currency\n" + rows, _program())
    with pytest.raises(InvalidInput):
        parse_feed("title,url\n", _program())


def test_categories_for_fills_lines_without_a_category(
    http: httpx.Client, operator_key: str
) -> None:
    hosts: dict[str, Any] = {
        "landing_url": "https://shop.example/",
        "deeplink_domains": ["cdn-shop.example"],
    }
    net = make_network(http, operator_key, **hosts)
    other = make_network(http, operator_key, **hosts)
    assert (
        expect(upload(http, net.advertiser_key, net.program_id, feed(*GOOD)), 201)["rows_rejected"]
        == 0
    )
    expect(
        upload(
            http,
            other.advertiser_key,
            other.program_id,
            feed("TENT-2P,Other shop's tent,https://shop.example/t,1,SEK,camping,"),
        ),
        201,
    )
    with reading() as session:
        found = categories_for(
            session, net.program_id, ["TENT-2P", "PACK-40", "LAMP-1", "UNKNOWN", ""]
        )
        assert found == {"TENT-2P": "Tents", "PACK-40": "backpacks"}  # LAMP-1 has none
        assert categories_for(session, other.program_id, ["TENT-2P"]) == {"TENT-2P": "camping"}
        assert categories_for(session, net.program_id, []) == {}
        many = [f"SKU-{i}" for i in range(1200)] + ["PACK-40"]  # more than one IN chunk
        assert categories_for(session, net.program_id, many) == {"PACK-40": "backpacks"}

    # A product that left the feed keeps its category for orders placed before.
    expect(upload(http, net.advertiser_key, net.program_id, feed(GOOD[2])), 201)
    with reading() as session:
        assert categories_for(session, net.program_id, ["TENT-2P"]) == {"TENT-2P": "Tents"}


def test_prices_are_exact_decimals() -> None:
    parsed = parse_feed(
        "id,title,url,price,currency\nK,Kuwaiti,https://shop.example/k,1.005,KWD\n",
        _program("KWD"),
    )
    assert parsed.products[0].price == Decimal("1.005")
    assert parsed.products[0].price_minor == 1005


def test_the_demo_catalogue_is_valid(db_url: str) -> None:
    """Every demo creative and feed row passes validation against the demo programs' hosts."""
    with transaction() as session:
        runs: dict[str, Program] = {}
        for spec in ADVERTISERS:
            advertiser, _ = create_advertiser(
                session, name=spec.name, country=spec.country, currency=spec.currency
            )
            for program_spec in spec.programs:
                runs[program_spec.key], _ = create_program(
                    session,
                    advertiser,
                    ProgramCreate(
                        name=program_spec.name,
                        landing_url=program_spec.landing_url,
                        deeplink_domains=list(program_spec.deeplink_domains),
                        commission=program_spec.commission,
                    ),
                )
        made = add_catalog(session, runs)
        uploads = session.scalars(
            select(FeedUpload).where(FeedUpload.program_id.in_([p.id for p in runs.values()]))
        ).all()
    expected = sum(len(c.creatives) + len(c.products) for c in CATALOGS.values())
    assert made == expected
    assert len(uploads) == len(CATALOGS)
    assert all(u.rows_rejected == 0 and u.status == "applied" for u in uploads)


def test_feed_categories_price_a_commission_end_to_end(
    http: httpx.Client, operator_key: str
) -> None:
    """An order line with only a sku is priced by its feed product's category override."""
    net = make_network(
        http,
        operator_key,
        currency="SEK",
        commission={
            "type": "cps",
            "percent": "10",
            "overrides": [{"when": {"category": "electronics"}, "percent": "2"}],
        },
    )
    body = feed(
        "CAM-1,Trail camera,https://shop.example/p/cam,1000.00,SEK,electronics,",
        "SOCK-1,Wool socks,https://shop.example/p/socks,100.00,SEK,clothing,",
    )
    assert upload(http, net.advertiser_key, net.program_id, body).status_code == 201
    answer = http.post(
        "/postback",
        json={
            "program": net.program_id,
            "token": net.program["postback_token"],
            "order_id": "FEED-1",
            "amount": "1100.00",
            "coupon": net.coupon["code"],
            # No categories on the lines: the feed supplies them.
            "items": [
                {"sku": "CAM-1", "amount": "1000.00"},
                {"sku": "SOCK-1", "amount": "100.00"},
            ],
        },
    )
    assert answer.json()["status"] == "accepted", answer.text
    conversion = expect(
        http.get(
            f"{API}/conversions/{answer.json()['conversion_id']}", headers=auth(net.advertiser_key)
        ),
        200,
    )
    assert [i["category"] for i in conversion["items"]] == ["electronics", "clothing"]
    commissions = expect(
        http.get(
            f"{API}/commissions",
            params={"conversion_id": conversion["id"]},
            headers=auth(net.advertiser_key),
        ),
        200,
    )["data"]
    # 2% of 1000 (electronics) + 10% of 100 (clothing) = 30.00
    assert [c["amount"] for c in commissions] == ["30.00"]
