"""Jinja2 for the dashboards: one environment, autoescaping on, formatting filters.

Everything a page shows goes through autoescaping, so a sub-id like
`<img src=x onerror=alert(1)>` is text, never markup; `Markup` is used only for HTML we
build ourselves from escaped parts (charts, QR codes). No template has inline script or
style: the Content-Security-Policy forbids both (web/app.py).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import DateTimePattern
from babel.dates import parse_pattern as parse_date_pattern
from babel.numbers import NumberPattern, parse_pattern
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from alliance.clock import as_utc
from alliance.web import i18n, sessions, terms
from alliance.web.i18n import N_

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
DASH = "\u2013"  # shown for a missing value


@cache
def _static_version(path: str) -> str:
    try:
        return hashlib.sha256((STATIC / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def static_url(path: str) -> str:
    """/static/{path}?v={content hash}: cacheable for a year, new on every change."""
    return f"/static/{path}?v={_static_version(path)}"


def _vendor_htmx() -> bool:
    """htmx is fetched from the npm registry by the set-up (tools/fetch_assets.py)."""
    return (STATIC / "vendor" / "htmx.min.js").is_file()


# The filters below run once per table cell (a report can have thousands), so the CLDR
# patterns are parsed once per locale and reused: `pattern.apply` is the cheap part of Babel.


@cache
def _currency_pattern(locale: str) -> NumberPattern:
    return parse_pattern(i18n.format_locale(locale).currency_formats["standard"].pattern)


@cache
def _number_pattern(locale: str, digits: int) -> NumberPattern:
    return parse_pattern("#,##0." + "0" * digits if digits else "#,##0")


@cache
def _percent_pattern(locale: str, digits: int) -> NumberPattern:
    # English keeps the spaced "2.35 %" the pages always showed; the others follow CLDR
    # ("2,35 %" with a no-break space in de/sv/es, "2.35%" in zh).
    cldr = i18n.format_locale(locale).percent_formats[None].pattern
    pattern = "#,##0 %" if locale == i18n.DEFAULT else cldr
    return parse_pattern(pattern.replace("#,##0", "#,##0." + "0" * digits if digits else "#,##0"))


@cache
def _date_pattern(locale: str) -> DateTimePattern:
    return parse_date_pattern(i18n.format_locale(locale).date_formats["medium"].pattern)


@cache
def _datetime_patterns(locale: str) -> tuple[DateTimePattern, DateTimePattern, str]:
    babel_locale = i18n.format_locale(locale)
    return (
        _date_pattern(locale),
        parse_date_pattern(babel_locale.time_formats["short"].pattern),
        str(babel_locale.datetime_formats["medium"]),
    )


def money(value: Decimal | int | str | None, currency: str | None) -> str:
    if value is None or currency is None:
        return DASH
    locale = i18n.current()
    text = _currency_pattern(locale).apply(
        Decimal(value), i18n.format_locale(locale), currency=currency, currency_digits=True
    )
    # "SEK 1,250.00", never "SEK1,250.00": a no-break space after a leading code.
    return re.sub(r"^(-?)([A-Z]{3})(?=\d)", "\\1\\2\u00a0", text)


def number(value: int | Decimal | None, digits: int = 0) -> str:
    if value is None:
        return DASH
    locale = i18n.current()
    return str(_number_pattern(locale, digits).apply(Decimal(value), i18n.format_locale(locale)))


def percent(ratio: Decimal | float | None, digits: int = 2) -> str:
    """A ratio (0.0235) as a percentage ("2.35 %", "2,35 %", "2.35%")."""
    if ratio is None:
        return DASH
    locale = i18n.current()
    return str(_percent_pattern(locale, digits).apply(Decimal(ratio), i18n.format_locale(locale)))


def when(value: datetime | None) -> str:
    """A moment in UTC in the locale's medium date and short time ("Apr 1, 2024, 2:03 PM UTC")."""
    if value is None:
        return DASH
    locale = i18n.current()
    date_pattern, time_pattern, combine = _datetime_patterns(locale)
    moment = as_utc(value)
    babel_locale = i18n.format_locale(locale)
    text = combine.format(
        time_pattern.apply(moment, babel_locale), date_pattern.apply(moment, babel_locale)
    )
    return f"{text} UTC"


def day(value: date | datetime | None) -> str:
    if value is None:
        return DASH
    locale = i18n.current()
    return _date_pattern(locale).apply(value, i18n.format_locale(locale))


def csrf_input(request: Request) -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        sessions.CSRF_FIELD, sessions.csrf_token(request)
    )


# The navigation of each role: (path, label; translated when shown). Pages live under the
# role's prefix; reports and the team are shared by all three.
NAV: dict[str, list[tuple[str, str]]] = {
    "operator": [
        ("/operator", N_("Overview")),
        ("/operator/advertisers", N_("Advertisers")),
        ("/operator/partners", N_("Partners")),
        ("/operator/review", N_("Review queue")),
        ("/operator/payouts", N_("Payouts")),
        ("/operator/mail", N_("E-mail")),
        ("/operator/health", N_("System health")),
        ("/reports", N_("Reports")),
        ("/team", N_("Team")),
    ],
    "advertiser": [
        ("/advertiser", N_("Overview")),
        ("/advertiser/programs", N_("Programs")),
        ("/advertiser/applications", N_("Applications")),
        ("/advertiser/partners", N_("Partners")),
        ("/advertiser/recommendations", N_("Recommendations")),
        ("/advertiser/orders", N_("Orders")),
        ("/advertiser/rejected", N_("Rejected events")),
        ("/advertiser/creatives", N_("Creatives & feeds")),
        ("/advertiser/bundles", N_("Bundles")),
        ("/advertiser/webhooks", N_("Webhooks")),
        ("/advertiser/integration", N_("Integration")),
        ("/advertiser/contests", N_("Contests")),
        ("/reports", N_("Reports")),
        ("/team", N_("Team")),
    ],
    "partner": [
        ("/partner", N_("Overview")),
        ("/partner/marketplace", N_("Marketplace")),
        ("/partner/recommendations", N_("Recommendations")),
        ("/partner/links", N_("Links & coupons")),
        ("/partner/creatives", N_("Creatives")),
        ("/partner/earnings", N_("Earnings")),
        ("/partner/statement", N_("Statement")),
        ("/partner/payouts", N_("Payouts")),
        ("/partner/referrals", N_("Referrals")),
        ("/partner/contests", N_("Contests")),
        ("/partner/campaigns", N_("Campaigns")),
        ("/partner/audience", N_("Audience")),
        ("/partner/postbacks", N_("Postbacks")),
        ("/reports", N_("Reports")),
        ("/team", N_("Team")),
    ],
}


def nav_for(viewer: Any, path: str) -> list[tuple[str, str, bool]]:
    """(href, label, current) for the viewer's role; the longest matching prefix is current."""
    if viewer is None:
        return []
    items = NAV.get(viewer.kind.value, [])
    best = max(
        (href for href, _ in items if path == href or path.startswith(href + "/")),
        key=len,
        default=None,
    )
    return [(href, i18n.gettext(label), href == best) for href, label in items]


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # `{% trans %}` collapses its whitespace, so a msgid does not depend on indentation
    # (babel.cfg extracts with the same policy).
    env.policies["ext.i18n.trimmed"] = True
    # "newstyle": `_("Hello %(name)s", name=x)` escapes `x`, and a missing translation can
    # never break the page's markup. The locale is the request's (i18n.current()).
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: i18n.translations(i18n.current()).gettext(message),
        lambda singular, plural, n: i18n.translations(i18n.current()).ngettext(singular, plural, n),
        newstyle=True,
        pgettext=lambda context, message: i18n.translations(i18n.current()).pgettext(
            context, message
        ),
    )
    env.filters.update(money=money, number=number, percent=percent, when=when, day=day)
    env.globals.update(
        static_url=static_url,
        nav_for=nav_for,
        vendor_htmx=_vendor_htmx(),
        status_label=terms.status_label,
        role_label=terms.role_label,
        kind_label=terms.kind_label,
    )
    return env


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page. The viewer (if any), the CSRF field and a pending flash come along."""
    viewer = getattr(request.state, "viewer", None)
    values: dict[str, Any] = {
        "request": request,
        "viewer": viewer,
        "csrf_input": lambda: csrf_input(request),
        "csrf_token": lambda: sessions.csrf_token(request),
        "flash": sessions.take_flash(request),
        "path": request.url.path,
        "locale": i18n.current(),
        # BCP 47 for <html lang>: "zh-Hans", "de"
        "html_lang": i18n.current().replace("_", "-"),
    }
    values.update(context or {})
    body = environment().get_template(template).render(values)
    response = HTMLResponse(body, status_code=status, headers=headers)
    sessions.set_pending_cookies(request, response)
    if getattr(request.state, "clear_flash", False):
        response.delete_cookie(sessions.FLASH_COOKIE, path="/")
    return response
