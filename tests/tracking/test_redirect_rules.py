"""The redirect's pure rules: deep links, alclid, query parsing, sub-ids, cookies, URLs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from alliance.programs.models import Program
from alliance.tracking.link_cache import CachedLink, build_entry, header_safe_url
from alliance.tracking.models import Link
from alliance.tracking.redirect import (
    MAX_QUERY_BYTES,
    choose_subs,
    parse_query,
    safe_deep_link,
    visitor_from_cookies,
    visitor_from_other_programs,
    with_click_id,
)


def entry(**program: Any) -> CachedLink:
    link = SimpleNamespace(
        id="lnk_1", partner_id="ptn_1", landing_url=None,
        country_urls={"de": "https://shop.example/de", "FR": "javascript:alert(1)"},
        default_subs={"sub1": "dflt1", "sub3": 42},
    )  # fmt: skip
    fields: dict[str, Any] = {
        "id": "prg_1", "landing_url": "https://shop.example/start",
        "deeplink_domains": ["Partner-Shop.example", ".outlet.example"], "cookie_window_days": 7,
        "allowed_countries": [], "fallback_url": None,
    }  # fmt: skip
    fields.update(program)
    return build_entry(cast(Link, link), cast(Program, SimpleNamespace(**fields)))


def test_build_entry() -> None:
    e = entry()
    assert e.landing_url == "https://shop.example/start"
    assert e.landing_host == "shop.example"
    assert e.deeplink_domains == ("partner-shop.example", "outlet.example")
    assert e.country_urls == {"DE": "https://shop.example/de"}  # javascript: dropped
    assert e.default_subs == ("dflt1", None, "42", None, None)
    assert e.cookie_max_age == 7 * 86400
    assert e.cookie_name == b"alc_prg_1"
    assert e.allowed_countries == frozenset()  # every country
    assert e.fallback_url == "https://shop.example/start"  # no fallback: the landing URL


def test_build_entry_geo_targeting() -> None:
    e = entry(allowed_countries=["se", "NO"], fallback_url="https://intl.example/ö")
    assert e.allowed_countries == {"SE", "NO"}
    assert e.fallback_url == "https://intl.example/%C3%B6"  # header-safe, any host allowed
    # A stored fallback that is not a web URL is ignored: the landing URL is used instead.
    assert entry(fallback_url="javascript:alert(1)").fallback_url == "https://shop.example/start"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://shop.example/p/42?color=red", True),  # the landing host itself
        ("http://shop.example/", True),
        ("https://SHOP.example./x", True),  # case and trailing dot
        ("https://partner-shop.example/x", True),  # listed domain
        ("https://www.partner-shop.example/x", True),  # subdomain of a listed domain
        ("https://a.b.outlet.example:8443/x", True),
        ("https://www.shop.example/", False),  # landing host is exact, not its subdomains
        ("https://evil.example/", False),
        ("https://shop.example.evil.example/", False),
        ("https://evilpartner-shop.example/", False),  # suffix, not a subdomain
        ("//evil.example/", False),  # protocol-relative
        ("/relative/path", False),
        ("javascript:alert(1)", False),
        ("JavaScript://shop.example/%0Aalert(1)", False),
        ("data:text/html,hi", False),
        ("ftp://shop.example/", False),
        ("https://shop.example@evil.example/", False),  # user info
        ("https://evil.example\\@shop.example/", False),  # browsers read \ as /
        ("https://evil.example\\.shop.example/", False),
        ("https://shop.example/\r\nSet-Cookie:x=1", False),
        ("https://sh op.example/", False),
        ("https://shop.example:99999/", False),
        ("https://shöp.example/", False),
        ("https://shop.example/" + "a" * 2100, False),
        ("", False),
        (None, False),
    ],
)
def test_safe_deep_link(url: str | None, allowed: bool) -> None:
    result = safe_deep_link(url, entry())
    assert (result is not None) is allowed
    if allowed:
        assert result == url


def test_safe_deep_link_encodes_non_ascii_path() -> None:
    assert safe_deep_link("https://shop.example/schön?q=ä", entry()) == (
        "https://shop.example/sch%C3%B6n?q=%C3%A4"
    )


@pytest.mark.parametrize(
    ("landing", "located"),
    [
        ("https://shop.example/", "https://shop.example/?alclid=clk_1"),
        ("https://shop.example", "https://shop.example?alclid=clk_1"),
        ("https://shop.example/p?a=1&b=2", "https://shop.example/p?a=1&b=2&alclid=clk_1"),
        ("https://shop.example/p?a=1#reviews", "https://shop.example/p?a=1&alclid=clk_1#reviews"),
        ("https://shop.example/p#top", "https://shop.example/p?alclid=clk_1#top"),
        ("https://shop.example/?alclid=forged&a=1", "https://shop.example/?a=1&alclid=clk_1"),
        ("https://shop.example/?", "https://shop.example/?alclid=clk_1"),
    ],
)
def test_with_click_id(landing: str, located: str) -> None:
    assert with_click_id(landing, "clk_1") == located


def test_parse_query_first_value_wins_and_bad_utf8_is_replaced() -> None:
    params = parse_query(b"sub1=a&sub1=b&sub2=%FF%FEok&sub3=caf\xc3\xa9&sub4=\xff")
    assert params == {"sub1": "a", "sub2": "\ufffd\ufffdok", "sub3": "café", "sub4": "\ufffd"}


def test_parse_query_cuts_oversized_input_at_a_parameter_boundary() -> None:
    raw = b"sub1=kept&pad=" + b"x" * MAX_QUERY_BYTES + b"&sub2=dropped"
    assert parse_query(raw) == {"sub1": "kept"}
    assert parse_query(b"sub1=" + b"y" * (MAX_QUERY_BYTES + 10)) == {}


def test_choose_subs_cleans_and_falls_back_per_sub() -> None:
    defaults = ("d1", "d2", None, None, "d5")
    params = {"sub1": "a\r\nb", "sub2": "", "sub3": "\x00", "sub4": "x" * 300}
    assert choose_subs(params, defaults) == ("ab", "d2", None, "x" * 255, "d5")


VIS = "vis_01JD3Q0000000000000000000A"


@pytest.mark.parametrize(
    ("headers", "found"),
    [
        ([f"alc_prg_1={VIS}".encode()], VIS),
        ([f"a=1; alc_prg_1={VIS}; b=2".encode()], VIS),
        ([b"a=1", f"alc_prg_1={VIS}".encode()], VIS),
        ([f'alc_prg_1="{VIS}"'.encode()], VIS),
        ([f"alc_prg_2={VIS}".encode()], None),  # another program's cookie
        ([f"xalc_prg_1={VIS}".encode()], None),
        ([b"alc_prg_1=vis_tooshort"], None),
        ([b"alc_prg_1=vis_01JD3Q0000000000000000000A\r\nx"], None),
        ([], None),
    ],
)
def test_visitor_from_cookies(headers: list[bytes], found: str | None) -> None:
    assert visitor_from_cookies(headers, b"alc_prg_1") == found


@pytest.mark.parametrize(
    ("headers", "found"),
    [
        ([f"alc_prg_2={VIS}".encode()], VIS),  # known to the network through another program
        ([f"a=1; alc_prg_9={VIS}".encode()], VIS),
        ([f"xalc_prg_2={VIS}".encode()], None),
        ([f"alc_other={VIS}".encode()], None),
        ([b"alc_prg_2=vis_tooshort"], None),
        ([b"session=abc"], None),
    ],
)
def test_visitor_from_other_programs(headers: list[bytes], found: str | None) -> None:
    assert visitor_from_other_programs(headers) == found


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://shop.example/a?b=c%20d", "https://shop.example/a?b=c%20d"),
        ("https://shop.example/a b", "https://shop.example/a%20b"),
        ("https://shop.example/\r\nx", "https://shop.example/x"),
        ("https://bücher.example/ä", "https://xn--bcher-kva.example/%C3%A4"),
    ],
)
def test_header_safe_url(url: str, safe: str) -> None:
    assert header_safe_url(url) == safe
