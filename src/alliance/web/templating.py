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

from babel.numbers import format_currency, format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from alliance.clock import as_utc
from alliance.web import sessions

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
LOCALE = "en_US"
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


def money(value: Decimal | int | str | None, currency: str | None) -> str:
    if value is None or currency is None:
        return DASH
    # "SEK 1,250.00", "¥1,250" never "SEK1,250.00": a no-break space after a code.
    text = str(format_currency(Decimal(value), currency, locale=LOCALE))
    return re.sub(r"^(-?)([A-Z]{3})(?=\d)", "\\1\\2\u00a0", text)


def number(value: int | Decimal | None, digits: int = 0) -> str:
    if value is None:
        return DASH
    if digits:
        return str(format_decimal(Decimal(value), format=f"#,##0.{'0' * digits}", locale=LOCALE))
    return str(format_decimal(value, format="#,##0", locale=LOCALE))


def percent(ratio: Decimal | float | None, digits: int = 2) -> str:
    """A ratio (0.0235) as a percentage ("2.35 %")."""
    if ratio is None:
        return DASH
    return f"{Decimal(ratio) * 100:.{digits}f} %"


def when(value: datetime | None) -> str:
    if value is None:
        return DASH
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def day(value: date | datetime | None) -> str:
    if value is None:
        return DASH
    return value.strftime("%Y-%m-%d")


def csrf_input(request: Request) -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        sessions.CSRF_FIELD, sessions.csrf_token(request)
    )


# The navigation of each role: (path, label). Pages live under the role's prefix; reports
# and the team are shared by all three.
NAV: dict[str, list[tuple[str, str]]] = {
    "operator": [
        ("/operator", "Overview"),
        ("/operator/advertisers", "Advertisers"),
        ("/operator/partners", "Partners"),
        ("/operator/review", "Review queue"),
        ("/operator/health", "System health"),
        ("/reports", "Reports"),
        ("/team", "Team"),
    ],
    "advertiser": [
        ("/advertiser", "Overview"),
        ("/advertiser/programs", "Programs"),
        ("/advertiser/applications", "Applications"),
        ("/advertiser/partners", "Partners"),
        ("/advertiser/orders", "Orders"),
        ("/advertiser/rejected", "Rejected events"),
        ("/advertiser/creatives", "Creatives & feeds"),
        ("/advertiser/webhooks", "Webhooks"),
        ("/advertiser/integration", "Integration"),
        ("/reports", "Reports"),
        ("/team", "Team"),
    ],
    "partner": [
        ("/partner", "Overview"),
        ("/partner/marketplace", "Marketplace"),
        ("/partner/links", "Links & coupons"),
        ("/partner/creatives", "Creatives"),
        ("/partner/earnings", "Earnings"),
        ("/partner/statement", "Statement"),
        ("/partner/postbacks", "Postbacks"),
        ("/reports", "Reports"),
        ("/team", "Team"),
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
    return [(href, label, href == best) for href, label in items]


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money, number=number, percent=percent, when=when, day=day)
    env.globals.update(static_url=static_url, nav_for=nav_for, vendor_htmx=_vendor_htmx())
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
    }
    values.update(context or {})
    body = environment().get_template(template).render(values)
    response = HTMLResponse(body, status_code=status, headers=headers)
    sessions.set_pending_cookies(request, response)
    if getattr(request.state, "clear_flash", False):
        response.delete_cookie(sessions.FLASH_COOKIE, path="/")
    return response
