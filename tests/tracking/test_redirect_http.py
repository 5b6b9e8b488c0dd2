"""`GET /c/{code}` against a real `alliance serve`, reading the clicks back from the database."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from alliance.db.engine import reading
from alliance.tracking.models import Click
from tests.conftest import Server
from tests.tracking.factories import LinkSetup, make_link

BROWSER = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0 Safari/537.36"
}
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def alclid(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    (click_id,) = parse_qs(urlsplit(response.headers["location"]).query)["alclid"]
    return click_id


def stored(response: httpx.Response) -> Click:
    """The click row behind a 302: it must already be committed when the 302 arrives."""
    with reading() as session:
        click = session.get(Click, alclid(response))
        if click is not None:
            session.expunge(click)  # keep its loaded values after the session rolls back
    assert click is not None, "a 302 was answered for a click that is not in the database"
    return click


def cookie_parts(response: httpx.Response) -> dict[str, str]:
    (header,) = response.headers.get_list("set-cookie")
    parts = [p.strip() for p in header.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {k.lower(): v for k, _, v in (p.partition("=") for p in parts[1:])}
    return {"name": name, "value": value, **attrs}


@pytest.fixture()
def link(db_url: str) -> LinkSetup:
    return make_link(
        landing_url="https://shop.example/start?utm_source=alliance",
        deeplink_domains=["partner-shop.example"],
        cookie_window_days=7,
    )


def test_redirect_appends_alclid_sets_cookie_and_records_the_click(
    http: httpx.Client, link: LinkSetup
) -> None:
    response = http.get(f"/c/{link.code}", headers={**BROWSER, "Referer": "https://blog.example/"})

    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "shop.example", "/start")
    query = parse_qs(location.query)
    assert query["utm_source"] == ["alliance"]  # the landing URL's own query survives
    assert query["alclid"][0].startswith("clk_")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"]
    assert response.content == b""

    cookie = cookie_parts(response)
    assert cookie["name"] == f"alc_{link.program_id}"
    assert cookie["value"].startswith("vis_")
    assert cookie["max-age"] == str(7 * 86400)
    assert cookie["path"] == "/"
    assert cookie["samesite"] == "Lax"
    assert "httponly" in cookie
    assert "secure" not in cookie  # plain http on loopback

    click = stored(response)
    assert (click.link_id, click.program_id, click.partner_id) == (
        link.link_id,
        link.program_id,
        link.partner_id,
    )
    assert click.visitor_id == cookie["value"]
    assert click.landing_url == "https://shop.example/start?utm_source=alliance"
    assert click.device == "desktop"
    assert click.is_bot is False
    assert click.user_agent == BROWSER["User-Agent"]
    assert click.referrer == "https://blog.example/"
    assert click.country is None  # loopback has no country
    expected_hash = hmac.new(b"test-secret-key", b"127.0.0.1", hashlib.sha256).hexdigest()[:32]
    assert click.ip_hash == expected_hash


def test_sub_ids_are_recorded_with_link_defaults_where_absent(
    http: httpx.Client, db_url: str
) -> None:
    link = make_link(default_subs={"sub2": "newsletter", "sub5": "default-5"})
    response = http.get(f"/c/{link.code}?sub1=spring&sub3=banner%20top&sub5=mine", headers=BROWSER)
    click = stored(response)
    assert (click.sub1, click.sub2, click.sub3, click.sub4, click.sub5) == (
        "spring",
        "newsletter",
        "banner top",
        None,
        "mine",
    )


def test_control_characters_and_bad_utf8_in_subs_are_cleaned_not_refused(
    http: httpx.Client, link: LinkSetup
) -> None:
    long = "x" * 400
    response = http.get(
        f"/c/{link.code}?sub1=a%0D%0ASet-Cookie:%20evil=1&sub2=nul%00byte&sub3=%FF%FEok&sub4={long}",
        headers=BROWSER,
    )
    assert "evil" not in response.headers.get("set-cookie", "")
    click = stored(response)
    assert click.sub1 == "aSet-Cookie: evil=1"
    assert click.sub2 == "nulbyte"
    assert click.sub3 == "\ufffd\ufffdok"
    assert click.sub4 == "x" * 255


def test_oversized_query_still_redirects_and_keeps_what_fits(
    http: httpx.Client, link: LinkSetup
) -> None:
    pad = "p" * 9000
    response = http.get(f"/c/{link.code}?sub1=kept&pad={pad}&sub2=dropped", headers=BROWSER)
    click = stored(response)
    assert (click.sub1, click.sub2) == ("kept", None)


@pytest.mark.parametrize(
    ("deep_link", "lands_on"),
    [
        ("https://www.partner-shop.example/p/42?c=red", "https://www.partner-shop.example/p/42"),
        ("https://shop.example/sale", "https://shop.example/sale"),
        ("https://evil.example/", "https://shop.example/start"),
        ("javascript:alert(document.cookie)", "https://shop.example/start"),
        ("//evil.example/", "https://shop.example/start"),
        ("https://shop.example@evil.example/", "https://shop.example/start"),
        ("https://evil.example%5C@shop.example/", "https://shop.example/start"),
    ],
)
def test_deep_link_only_to_allowed_domains(
    http: httpx.Client, link: LinkSetup, deep_link: str, lands_on: str
) -> None:
    response = http.get(f"/c/{link.code}", params={"url": deep_link}, headers=BROWSER)
    location = response.headers["location"]
    assert location.split("?")[0] == lands_on
    assert stored(response).landing_url.split("?")[0] == lands_on


def test_unknown_code_is_a_friendly_404_page(http: httpx.Client, db_url: str) -> None:
    for path in ("/c/doesnotexist", "/c/", "/c/%00%0D", "/c/" + "z" * 200):
        response = http.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert "does not exist" in response.text
        assert "set-cookie" not in response.headers


def test_bot_clicks_are_stored_and_flagged(http: httpx.Client, link: LinkSetup) -> None:
    bot = stored(http.get(f"/c/{link.code}", headers={"User-Agent": GOOGLEBOT}))
    assert (bot.is_bot, bot.device) == (True, "bot")
    no_agent = stored(http.get(f"/c/{link.code}", headers={"User-Agent": ""}))
    assert no_agent.is_bot is True
    assert no_agent.user_agent is None


def test_returning_visitor_keeps_the_visitor_id(http: httpx.Client, link: LinkSetup) -> None:
    first = http.get(f"/c/{link.code}", headers=BROWSER)
    visitor_id = cookie_parts(first)["value"]
    cookie_name = f"alc_{link.program_id}"

    again = http.get(
        f"/c/{link.code}", headers={**BROWSER, "Cookie": f"other=1; {cookie_name}={visitor_id}"}
    )
    assert cookie_parts(again)["value"] == visitor_id  # the window restarts from this click
    assert stored(again).visitor_id == visitor_id
    assert stored(first).id != stored(again).id

    forged = http.get(f"/c/{link.code}", headers={**BROWSER, "Cookie": f"{cookie_name}=admin"})
    assert cookie_parts(forged)["value"] not in ("admin", visitor_id)


def test_head_redirects_without_body(http: httpx.Client, link: LinkSetup) -> None:
    response = http.head(f"/c/{link.code}", headers=BROWSER)
    assert response.status_code == 302
    assert response.content == b""
    assert "set-cookie" in response.headers
    assert stored(response).link_id == link.link_id
    assert http.head("/c/doesnotexist").status_code == 404


def test_other_methods_are_refused(http: httpx.Client, link: LinkSetup) -> None:
    response = http.post(f"/c/{link.code}")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


@pytest.fixture(scope="module")
def proxied(db_url: str) -> Iterator[httpx.Client]:
    """A server that trusts X-Forwarded-For, as it would behind a reverse proxy."""
    server = Server(db_url, env={"ALLIANCE_TRUST_FORWARDED_FOR": "true"}).start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client
    server.stop()


GB_IP = "81.2.69.142"


def test_country_urls_pick_the_landing_by_visitor_country(
    proxied: httpx.Client, db_url: str
) -> None:
    link = make_link(
        country_urls={"GB": "https://shop.example/uk", "DE": "https://shop.example/de"},
        link_landing_url="https://shop.example/intl",
    )
    from_gb = proxied.get(
        f"/c/{link.code}", headers={**BROWSER, "X-Forwarded-For": f"6.6.6.6, {GB_IP}"}
    )
    assert from_gb.headers["location"].startswith("https://shop.example/uk?alclid=")
    click = stored(from_gb)
    assert click.country == "GB"
    assert click.ip_hash == hmac.new(b"test-secret-key", GB_IP.encode(), "sha256").hexdigest()[:32]

    from_nowhere = proxied.get(f"/c/{link.code}", headers=BROWSER)  # loopback: no country
    assert from_nowhere.headers["location"].startswith("https://shop.example/intl?alclid=")

    # https at the proxy: the cookie gets Secure.
    tls = proxied.get(f"/c/{link.code}", headers={**BROWSER, "X-Forwarded-Proto": "https"})
    assert "secure" in cookie_parts(tls)


def test_forwarded_for_is_ignored_unless_trusted(http: httpx.Client, db_url: str) -> None:
    link = make_link(country_urls={"GB": "https://shop.example/uk"})
    response = http.get(f"/c/{link.code}", headers={**BROWSER, "X-Forwarded-For": GB_IP})
    assert response.headers["location"].startswith("https://shop.example/?alclid=")
    assert stored(response).country is None


DE_IP, US_IP = "85.214.132.117", "8.8.8.8"


def from_ip(ip: str) -> dict[str, str]:
    """Headers of a browser behind our trusted proxy, seen from `ip`."""
    return {**BROWSER, "X-Forwarded-For": ip}


def test_geo_targeted_program_sends_other_countries_to_the_fallback_as_invalid_clicks(
    proxied: httpx.Client, db_url: str
) -> None:
    link = make_link(
        landing_url="https://shop.example/",
        deeplink_domains=["outlet.example"],
        allowed_countries=["DE", "GB"],
        fallback_url="https://intl.example/welcome?from=alliance",
        country_urls={"GB": "https://shop.example/uk", "US": "https://shop.example/us"},
    )

    # An allowed country: its per-link landing page wins, the click is valid.
    from_gb = proxied.get(f"/c/{link.code}", headers=from_ip(GB_IP))
    assert from_gb.headers["location"].startswith("https://shop.example/uk?alclid=")
    gb = stored(from_gb)
    assert (gb.country, gb.invalid_reason, gb.is_bot) == ("GB", None, False)

    # Allowed without a per-country page: the default landing, valid.
    from_de = proxied.get(f"/c/{link.code}", headers=from_ip(DE_IP))
    assert from_de.headers["location"].startswith("https://shop.example/?alclid=")
    assert stored(from_de).invalid_reason is None

    # Another country: the fallback (even though the link has a US page, and even with a
    # deep link), the click is kept with its country and marked so it earns nothing.
    from_us = proxied.get(
        f"/c/{link.code}?url=https://outlet.example/sale&sub1=x", headers=from_ip(US_IP)
    )
    assert from_us.status_code == 302
    location = from_us.headers["location"]
    assert location.startswith("https://intl.example/welcome?from=alliance&alclid=clk_")
    us = stored(from_us)
    assert (us.country, us.invalid_reason, us.is_bot) == ("US", "country_not_allowed", False)
    assert (us.landing_url, us.sub1) == ("https://intl.example/welcome?from=alliance", "x")
    assert cookie_parts(from_us)["name"] == f"alc_{link.program_id}"

    # Unknown country (loopback; the same for IPv6, which the offline table does not cover):
    # let through, valid.
    unknown = stored(proxied.get(f"/c/{link.code}", headers=BROWSER))
    assert (unknown.country, unknown.invalid_reason) == (None, None)


def test_other_country_without_fallback_lands_on_the_landing_url(
    proxied: httpx.Client, db_url: str
) -> None:
    link = make_link(landing_url="https://shop.example/home", allowed_countries=["SE"])
    response = proxied.get(f"/c/{link.code}", headers=from_ip(GB_IP))
    assert response.headers["location"].startswith("https://shop.example/home?alclid=")
    assert stored(response).invalid_reason == "country_not_allowed"


def test_programs_without_countries_take_every_country(proxied: httpx.Client, db_url: str) -> None:
    link = make_link(fallback_url="https://intl.example/")  # a fallback alone changes nothing
    click = stored(proxied.get(f"/c/{link.code}", headers=from_ip(US_IP)))
    assert (click.country, click.invalid_reason, click.landing_url) == (
        "US",
        None,
        "https://shop.example/",
    )


def test_a_browser_known_to_another_program_keeps_its_visitor_id(
    http: httpx.Client, link: LinkSetup
) -> None:
    """One person is one visitor network-wide (audience overlap counts across programs); its
    own program's cookie still wins, and a stranger gets a new id."""
    other = make_link()
    first = http.get(f"/c/{other.code}", headers=BROWSER)
    known = cookie_parts(first)["value"]
    http.cookies.clear()
    second = http.get(
        f"/c/{link.code}",
        headers={**BROWSER, "Cookie": f"alc_{other.program_id}={known}"},
    )
    assert stored(second).visitor_id == known
    assert cookie_parts(second) == {**cookie_parts(second), "value": known}
    own = "vis_01JD3Q0000000000000000000B"
    third = http.get(
        f"/c/{link.code}",
        headers={
            **BROWSER,
            "Cookie": f"alc_{other.program_id}={known}; alc_{link.program_id}={own}",
        },
    )
    assert stored(third).visitor_id == own
    http.cookies.clear()
    assert stored(http.get(f"/c/{link.code}", headers=BROWSER)).visitor_id not in (known, own)
