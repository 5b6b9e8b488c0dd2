"""Pieces the partner pages share: form refusals, redirects with a message, QR codes, and the
commission terms of a program told in words.

Nothing here decides anything about money or lifecycles: the terms are read from the stored,
validated document (commissions/terms.py) and only described; amounts go through the same
`money` filter as every page.
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

import pycountry
import segno
from fastapi.responses import RedirectResponse
from markupsafe import Markup
from pydantic import ValidationError

from alliance.commissions.terms import TermsDocument, parse_terms
from alliance.errors import InvalidInput
from alliance.programs.models import CommissionTerms
from alliance.settings import get_settings
from alliance.web import i18n, sessions
from alliance.web.i18n import N_, _
from alliance.web.templating import money, number

# --- forms -------------------------------------------------------------------------------


def invalid_from(exc: ValidationError, prefix: str = "") -> InvalidInput:
    """The first problem of a pydantic validation as the refusal the pages show: a sentence
    and the form field at fault (`default_subs.sub1` -> `sub1` when `prefix` says so)."""
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid value"}
    path = [str(p) for p in first.get("loc", ())]
    if prefix and path and path[0] == prefix:
        path = path[1:]
    field = ".".join(path) or None
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return InvalidInput(f"{field}: {message}" if field else message, field=field)


def redirect(url: str, message: str | None = None, kind: str = "ok") -> RedirectResponse:
    """POST -> 303 -> GET, with a one-time message for the next page."""
    response = RedirectResponse(url, status_code=303)
    if message:
        sessions.flash(response, message, kind=kind)
    return response


def query_url(path: str, **params: object) -> str:
    """`path?k=v...` with the empty parameters left out."""
    given = {k: str(v) for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(given)}" if given else path


def parse_day(raw: str | None, field: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput(f"{field} must be a date such as 2024-05-31", field=field) from None


def day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def day_after(day: date) -> datetime:
    return day_start(day) + timedelta(days=1)


# --- QR codes ----------------------------------------------------------------------------

QR_SCALE = 4
QR_BORDER = 2


def qr_svg(text: str) -> bytes:
    """segno's SVG of `text` (error correction M at least: segno may raise it for free).

    No XML declaration and no inline style: the page shows it as a `data:` image, which the
    Content-Security-Policy allows (img-src 'self' data:)."""
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(
        buffer,
        kind="svg",
        xmldecl=False,
        svgns=True,
        scale=QR_SCALE,
        border=QR_BORDER,
        title=_("QR code for %(url)s", url=text),
    )
    return buffer.getvalue()


def qr_data_uri(text: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(qr_svg(text)).decode("ascii")


def qr_img(text: str) -> Markup:
    tag = Markup('<img class="qr-code" src="{}" alt="QR code for {}" width="160" height="160">')
    return tag.format(qr_data_uri(text), text)


# --- this site ---------------------------------------------------------------------------


def on_this_site(url: str | None) -> bool:
    """Whether an image URL may be shown: the CSP only lets pages load images from here."""
    if not url:
        return False
    if url.startswith("/") and not url.startswith("//"):
        return True
    here = urlsplit(get_settings().public_url)
    there = urlsplit(url)
    return (there.scheme, there.netloc.lower()) == (here.scheme, here.netloc.lower())


# --- terms in words ----------------------------------------------------------------------


def country_name(code: str) -> str:
    locale = i18n.current()
    if locale != i18n.DEFAULT:
        # CLDR's names in the reader's language ("Schweden", "瑞典").
        name = i18n.format_locale(locale).territories.get(code.upper())
        if name:
            return str(name)
    found = pycountry.countries.get(alpha_2=code)
    return str(found.name) if found is not None else code


def countries_text(codes: list[str] | None) -> str:
    if not codes:
        return _("All countries")
    return ", ".join(f"{country_name(c)} ({c})" for c in codes)


def percent_text(value: Decimal) -> str:
    """A commission rate as written in the terms ("8.5 %"), in the reader's notation."""
    text = f"{value.normalize():f}"
    if i18n.current() == i18n.DEFAULT:
        return f"{text} %"
    digits = len(text.partition(".")[2])
    return number(Decimal(text), digits) + "\u00a0%"


def document_of(terms: CommissionTerms | None, currency: str) -> TermsDocument | None:
    if terms is None:
        return None
    try:
        return parse_terms(terms.rules, currency)
    except InvalidInput:  # a stored version is valid by construction; never break a page on it
        return None


def _rate(item: Any, doc: TermsDocument, currency: str) -> str:
    if doc.type == "cps":
        return percent_text(item.percent)
    return money(item.amount, currency)


_WHAT = {
    "cps": N_("of the order"),
    "cpo": N_("per order"),
    "cpl": N_("per lead"),
    "cpc": N_("per valid unique click"),
}
_TYPES = {
    "cps": N_("Percentage of sales (CPS)"),
    "cpo": N_("Fixed amount per order (CPO)"),
    "cpl": N_("Fixed amount per lead (CPL)"),
    "cpc": N_("Per valid unique click (CPC)"),
}


def when_text(conditions: dict[str, str]) -> str:
    parts = []
    for key, value in conditions.items():
        if key == "customer":
            if value == "new":
                parts.append(_("new customers"))
            elif value == "returning":
                parts.append(_("returning customers"))
            else:
                parts.append(_("%(kind)s customers", kind=value))
        elif key == "buyer_country":
            parts.append(_("buyers in %(country)s", country=country_name(value)))
        elif key == "category":
            parts.append(_("category %(category)s", category=value))
        elif key == "partner_group":
            parts.append(_("partner group %(group)s", group=value))
    text = parts[0] if parts else ""
    for part in parts[1:]:
        text = _("%(first)s and %(second)s", first=text, second=part)
    return text


def tier_threshold(tier: Any, currency: str) -> str:
    if tier.min_orders is not None:
        return _("from %(count)s orders a month", count=tier.min_orders)
    return _("from %(amount)s of sales a month", amount=money(tier.min_sales, currency))


def terms_summary(doc: TermsDocument | None, currency: str) -> str:
    """One line: "8 % of the order; 12 % for new customers; 10 % from 50 orders a month"."""
    if doc is None:
        return _("No commission terms published")
    parts = [f"{_rate(doc, doc, currency)} {_(_WHAT[doc.type])}"]
    parts += [
        _("%(rate)s for %(who)s", rate=_rate(o, doc, currency), who=when_text(o.when.conditions()))
        for o in doc.overrides
    ]
    parts += [f"{_rate(t, doc, currency)} {tier_threshold(t, currency)}" for t in doc.tiers]
    if doc.lead_amount is not None:
        parts.append(_("%(amount)s per lead", amount=money(doc.lead_amount, currency)))
    if doc.cap_per_order is not None:
        cap = money(doc.cap_per_order, currency)
        if doc.type == "cpc":
            parts.append(_("at most %(amount)s a day", amount=cap))
        else:
            parts.append(_("at most %(amount)s per order", amount=cap))
    return "; ".join(parts)


def terms_details(doc: TermsDocument, currency: str) -> dict[str, Any]:
    """The full terms, as rows a template lays out."""
    if doc.type == "cps":
        base = {
            (True, True): _("the order amount"),
            (False, True): _("the order amount excluding tax"),
            (True, False): _("the order amount excluding shipping"),
            (False, False): _("the order amount excluding tax and shipping"),
        }[(bool(doc.includes_tax), bool(doc.includes_shipping))]
    else:
        base = None
    return {
        "type": _(_TYPES[doc.type]),
        "rate": f"{_rate(doc, doc, currency)} {_(_WHAT[doc.type])}",
        "base": base,
        "lead_amount": money(doc.lead_amount, currency) if doc.lead_amount is not None else None,
        "cap": money(doc.cap_per_order, currency) if doc.cap_per_order is not None else None,
        "tiers": [(tier_threshold(t, currency), _rate(t, doc, currency)) for t in doc.tiers],
        "overrides": [
            (when_text(o.when.conditions()), _rate(o, doc, currency)) for o in doc.overrides
        ],
    }
