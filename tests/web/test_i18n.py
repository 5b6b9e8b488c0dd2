"""Localization: which language a page is in, that each language is really there, that money,
numbers and dates follow it, that the catalogs are complete and current, and that exports and
the API do not change with it. Pages are fetched from a real server on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import io
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from alliance.accounts.models import AccountKind
from alliance.commissions.models import CommissionStatus
from alliance.conversions.models import (
    ConversionStatus,
    InboundStatus,
    ValidationResult,
    ValidationStatus,
)
from alliance.notifications.models import DeliveryState
from alliance.payouts.models import PayoutStatus
from alliance.programs.models import EnrollmentStatus, FeedUploadStatus, ProductStatus
from alliance.web import i18n, terms
from alliance.web.templating import day, money, number, percent, when
from tests.api.factories import (
    API,
    auth,
    enroll_and_approve,
    expect,
    insert_click,
    make_advertiser,
    make_link,
    make_partner,
    make_program,
)
from tests.conftest import Server
from tests.web.conftest import Browser, new_user

pytestmark = pytest.mark.xdist_group("i18n")

ROOT = Path(__file__).resolve().parents[2]

# A string of each key page in each language (from the catalogs, checked here by eye once).
SIGN_IN = {
    "en": "Sign in to Alliance",
    "de": "Bei Alliance anmelden",
    "sv": "Logga in på Alliance",
    "es": "Inicia sesión en Alliance",
    "zh_Hans": "登录 Alliance",
}
PARTNER_OVERVIEW = {
    "en": ("Programs joined", "Quick links", "Marketplace"),
    "de": ("Beigetretene Programme", "Schnellzugriff", "Marktplatz"),
    "sv": ("Program du gått med i", "Snabblänkar", "Marknadsplats"),
    "es": ("Programas a los que te has unido", "Accesos rápidos", "Marketplace"),
    "zh_Hans": ("已加入的计划", "快捷链接", "市场"),
}
ACCOUNT = {
    "en": ("Your settings", "Change password", "Save language"),
    "de": ("Ihre Einstellungen", "Passwort ändern", "Sprache speichern"),
    "sv": ("Dina inställningar", "Byt lösenord", "Spara språk"),
    "es": ("Tu configuración", "Cambiar la contraseña", "Guardar idioma"),
    "zh_Hans": ("您的设置", "修改密码", "保存语言"),
}
REPORTS = {
    "en": ("Clicks per day", "Report filters"),
    "de": ("Klicks pro Tag", "Berichtsfilter"),
    "sv": ("Klick per dag", "Rapportfilter"),
    "es": ("Clics por día", "Filtros del informe"),
    "zh_Hans": ("每日点击", "报表筛选"),
}
HTML_LANG = {"en": "en", "de": "de", "sv": "sv", "es": "es", "zh_Hans": "zh-Hans"}


# --- negotiation (pure) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("sv", "sv"),
        ("es-MX,es;q=0.9", "es"),
        ("zh-CN,zh;q=0.9", "zh_Hans"),
        ("zh-Hans", "zh_Hans"),
        ("fr-FR,fr;q=0.9", "en"),  # no French catalog: English
        ("fr-FR, sv;q=0.5", "sv"),  # the first language we have
        ("en;q=0.3, de;q=0.8", "de"),  # weights, not order
        ("zh-TW", "en"),  # traditional Chinese is not simplified Chinese
        ("de;q=0", "en"),  # refused outright
        ("*", "en"),
    ],
)
def test_browser_language_is_negotiated(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected


def test_a_users_setting_beats_the_browser() -> None:
    box = i18n.activate(i18n.negotiate("de"))
    i18n.use_user_setting("sv")
    assert (box.locale, box.from_user) == ("sv", True)
    i18n.use_user_setting(None)  # no setting: the browser's choice stays
    assert i18n.current() == "sv"
    i18n.activate(i18n.negotiate("de"))
    i18n.use_user_setting("tlh")  # not a language we have: ignored
    assert i18n.current() == "de"


# --- formatting (pure) ------------------------------------------------------------------------

MOMENT = datetime(2024, 4, 1, 14, 3, tzinfo=UTC)
NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("locale", "eur", "sek", "jpy", "count", "ratio", "a_day"),
    [
        ("en", "€1,234.56", "SEK\u00a01,250.00", "¥1,235", "12,345", "2.35 %", "Apr 1, 2024"),
        ("de", f"1.234,56{NBSP}€", f"1.250,00{NBSP}SEK", f"1.235{NBSP}¥", "12.345",
         f"2,35{NBSP}%", "01.04.2024"),
        ("sv", f"1{NBSP}234,56{NBSP}€", f"1{NBSP}250,00{NBSP}kr", f"1{NBSP}235{NBSP}JPY",
         f"12{NBSP}345", f"2,35{NBSP}%", "1 apr. 2024"),
        ("es", f"1.234,56{NBSP}€", f"1.250,00{NBSP}SEK", f"1.235{NBSP}JPY", "12.345",
         f"2,35{NBSP}%", "1 abr 2024"),
        ("zh_Hans", "€1,234.56", f"SEK{NBSP}1,250.00", "JP¥1,235", "12,345", "2.35%",
         "2024年4月1日"),
    ],
)  # fmt: skip
def test_money_numbers_and_dates_follow_the_locale(
    locale: str, eur: str, sek: str, jpy: str, count: str, ratio: str, a_day: str
) -> None:
    i18n.activate(locale)
    assert money(Decimal("1234.56"), "EUR") == eur
    assert money(Decimal("1250"), "SEK") == sek
    assert money(Decimal("1234.6"), "JPY") == jpy  # JPY has no minor unit
    assert number(12345) == count
    assert percent(Decimal("0.0235")) == ratio
    assert day(date(2024, 4, 1)) == a_day
    assert when(MOMENT).endswith(" UTC") and "2024" in when(MOMENT)
    i18n.activate("en")


def test_a_formatted_table_cell_stays_cheap() -> None:
    """Thousands of cells a page: the CLDR patterns are parsed once per locale."""
    import time

    i18n.activate("de")
    money(Decimal("1"), "EUR")
    start = time.perf_counter()
    for i in range(5000):
        money(Decimal(i) / 7, "EUR")
        number(i)
    elapsed = time.perf_counter() - start
    i18n.activate("en")
    assert elapsed < 2.0, f"10,000 cells took {elapsed:.2f} s"


# --- the catalogs ------------------------------------------------------------------------------


def _catalog_tool() -> Any:
    spec = importlib.util.spec_from_file_location("i18n_tool", ROOT / "tools" / "i18n.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_catalogs_are_complete_and_current() -> None:
    """Fails when a marked string is missing from a catalog or untranslated in one of the four
    languages, or when a catalog holds a string the sources no longer have (stale). Fix with
    `python tools/i18n.py extract`, then translate what it added (docs/localization.md)."""
    problems = _catalog_tool().problems()
    assert problems == [], "\n".join(problems[:40])


def test_every_stored_status_has_a_label() -> None:
    enums = (
        CommissionStatus,
        ConversionStatus,
        InboundStatus,
        ValidationResult,
        ValidationStatus,
        DeliveryState,
        EnrollmentStatus,
        FeedUploadStatus,
        ProductStatus,
        PayoutStatus,
    )
    missing = {v.value for e in enums for v in e} - set(terms.STATUS_LABELS)
    assert not missing, f"add these to web/terms.py: {sorted(missing)}"
    assert {k.value for k in AccountKind} <= set(terms.KIND_LABELS)


def test_every_language_compiles_and_translates() -> None:
    for locale in ("de", "sv", "es", "zh_Hans"):
        catalog = i18n.translations(locale)
        assert catalog.gettext("Sign in to Alliance") == SIGN_IN[locale]
        assert "%(count)s" in catalog.ngettext("%(count)s row", "%(count)s rows", 2)


# --- pages on a real server -------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(server: Server, operator_key: str) -> Iterator[dict[str, Any]]:
    """A EUR advertiser with a CPO program worth 1234.56 a order, and a partner in it."""
    tag = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=server.url, timeout=15) as http:
        _, adv_key = make_advertiser(http, operator_key, currency="EUR", country="DE")
        program = make_program(
            http,
            adv_key,
            name=f"Kaffee {tag}",
            currency="EUR",
            commission={"type": "cpo", "amount": "1234.56"},
        )
        partner_id, partner_key = make_partner(http, operator_key, name=f"Blog {tag}")
        enroll_and_approve(http, program["id"], partner_key, adv_key)
        link = make_link(http, partner_key, program["id"])
    insert_click(program["id"], partner_id, link["id"])
    yield {
        "tag": tag,
        "program": program,
        "partner_id": partner_id,
        "partner_key": partner_key,
        "adv_key": adv_key,
    }


def _partner(server: Server, world: dict[str, Any], accept: str | None = None) -> Browser:
    b = Browser(server.url)
    if accept:
        b.client.headers["accept-language"] = accept
    answer = b.login(new_user(world["partner_id"]))
    assert answer.status_code == 303, answer.text
    return b


def _set_language(b: Browser, locale: str) -> None:
    answer = b.post("/account/language", {"locale": locale})
    assert answer.status_code == 303, answer.text


@pytest.mark.parametrize("locale", list(SIGN_IN))
def test_the_sign_in_page_follows_the_browser(server: Server, locale: str) -> None:
    accept = HTML_LANG[locale] + ",en;q=0.5"
    page = httpx.get(f"{server.url}/login", headers={"accept-language": accept}, timeout=15)
    assert page.status_code == 200
    assert f'<html lang="{HTML_LANG[locale]}">' in page.text
    assert SIGN_IN[locale] in page.text


def test_an_unknown_language_gets_english(server: Server) -> None:
    page = httpx.get(f"{server.url}/login", headers={"accept-language": "fr-FR,fr"}, timeout=15)
    assert '<html lang="en">' in page.text and SIGN_IN["en"] in page.text
    missing = httpx.get(f"{server.url}/no-such-page", headers={"accept-language": "de"})
    assert missing.status_code == 404 and "Seite nicht gefunden" in missing.text


def test_setting_beats_browser_and_browser_beats_default(
    server: Server, world: dict[str, Any]
) -> None:
    b = _partner(server, world, accept="de-DE,de;q=0.9")
    try:
        # No setting yet: the browser's German.
        page = b.get("/partner")
        assert '<html lang="de">' in page.text and "Schnellzugriff" in page.text
        # The setting (Swedish) beats the browser, and the confirmation is in Swedish.
        _set_language(b, "sv")
        page = b.get("/account")
        assert '<html lang="sv">' in page.text and "Språket har sparats." in page.text
        assert '<option value="sv" lang="sv" selected>' in page.text
        assert "Snabblänkar" in b.get("/partner").text
        # Back to automatic: the browser again.
        _set_language(b, "")
        assert "Schnellzugriff" in b.get("/partner").text
        # An unsupported choice is refused, and nothing changes.
        assert b.post("/account/language", {"locale": "tlh"}).status_code == 422
        assert "Schnellzugriff" in b.get("/partner").text
    finally:
        b.close()


@pytest.mark.parametrize("locale", list(SIGN_IN))
def test_key_pages_are_translated(server: Server, world: dict[str, Any], locale: str) -> None:
    b = _partner(server, world)
    try:
        _set_language(b, locale)
        overview = b.get("/partner").text
        assert f'<html lang="{HTML_LANG[locale]}">' in overview
        for text in PARTNER_OVERVIEW[locale]:
            assert text in overview, (locale, text)
        account = b.get("/account").text
        for text in ACCOUNT[locale]:
            assert text in account, (locale, text)
        reports = b.get("/reports").text
        for text in REPORTS[locale]:
            assert text in reports, (locale, text)
    finally:
        b.close()


def test_money_on_a_page_follows_the_users_locale(server: Server, world: dict[str, Any]) -> None:
    b = _partner(server, world)
    path = f"/partner/marketplace/{world['program']['id']}"
    try:
        _set_language(b, "de")
        assert "1.234,56\u00a0€" in b.get(path).text
        _set_language(b, "en")
        assert "€1,234.56" in b.get(path).text
    finally:
        b.close()


def test_exports_and_the_api_do_not_depend_on_the_language(
    server: Server, world: dict[str, Any]
) -> None:
    """CSV/XLSX exports and the JSON API are for machines: the same bytes in every language."""
    key = world["partner_key"]
    period = {
        "from": (date.today() - timedelta(days=30)).isoformat(),
        "to": date.today().isoformat(),
    }
    exports: dict[str, list[bytes]] = {}
    api: list[Any] = []
    for locale in ("en", "de", "zh_Hans"):
        b = _partner(server, world, accept="de" if locale == "en" else None)
        try:
            if locale != "en":
                _set_language(b, locale)
            for name in ("traffic.csv", "orders.csv", "traffic.xlsx"):
                answer = b.get(f"/reports/{name}", params=period)
                assert answer.status_code == 200, answer.text
                exports.setdefault(name, []).append(answer.content)
        finally:
            b.close()
        answer = httpx.get(
            f"{server.url}{API}/reports/traffic",
            params=period,
            headers={**auth(key), "accept-language": "de" if locale != "en" else "en"},
            timeout=15,
        )
        api.append(expect(answer, 200))
    assert exports["traffic.csv"][0].startswith(b"group,"), exports["traffic.csv"][0][:80]
    for name in ("traffic.csv", "orders.csv"):
        assert len(set(exports[name])) == 1, f"{name} changes with the language"
    # An XLSX carries its creation time; its sheet names and cells keep the English.
    for book in exports["traffic.xlsx"]:
        with zipfile.ZipFile(io.BytesIO(book)) as xlsx:
            assert b'name="Traffic"' in xlsx.read("xl/workbook.xml")
    assert api[0] == api[1] == api[2]
