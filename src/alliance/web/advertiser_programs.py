"""The advertiser's programs: list, create, edit, commission terms with their version history,
and a live example of what a partner earns, priced by the real calculator.

The form is validated by the REST API's own schemas (`ProgramCreate`, `ProgramUpdate`) and
written by the programs service (`create_program`, `update_program`, `add_terms_version`), so
a page can accept nothing the API would refuse. Changed terms become a new version; conversions
already priced keep theirs.

The example ("On an order of 100.00 SEK a partner earns 8.00 SEK") is `quote_conversion` on
the terms as they stand in the form, so the advertiser sees the effect before saving. With
htmx it refreshes on every change (`hx-post` to /advertiser/programs/preview, which answers a
fragment); without JavaScript the "Preview" button posts the whole form and gets the page
back with the example filled in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.models import Advertiser
from alliance.commissions.calculator import SaleFacts, quote_clicks, quote_conversion
from alliance.commissions.terms import TermsDocument, parse_terms, terms_to_json
from alliance.crosspromo import referrals
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError, InvalidInput
from alliance.money import MoneyError, normalize_currency, parse_amount
from alliance.programs import service
from alliance.programs.models import AttributionPriority, CommissionTerms, Program
from alliance.programs.schemas import ProgramCreate, ProgramUpdate
from alliance.web.advertiser_common import (
    form_error,
    invalid_from,
    own_program,
    own_programs,
    redirect,
    split_list,
    text,
)
from alliance.web.i18n import N_, _, options
from alliance.web.sessions import AdvertiserAction, AdvertiserPage, Viewer
from alliance.web.templating import render

router = APIRouter()

DEFAULT_EXAMPLE = "100"
EXAMPLE_CLICKS = 100
TERMS_TYPES = [
    ("cps", N_("CPS: a percentage of the order")),
    ("cpo", N_("CPO: a fixed amount per order")),
    ("cpl", N_("CPL: a fixed amount per lead")),
    ("cpc", N_("CPC: a fixed amount per valid unique click")),
]
PRIORITIES = [
    (AttributionPriority.coupon.value, N_("A coupon beats a click (default)")),
    (AttributionPriority.click.value, N_("The last click beats a coupon")),
]
STATUSES = [
    ("active", N_("Active: open to partners")),
    ("paused", N_("Paused: takes no applications")),
]
# Checkboxes: present when ticked, absent otherwise.
_FLAGS = ("store_wide", "includes_tax", "includes_shipping")
# Form fields of the terms, and where parse_terms' error paths point in the form.
_TERMS_FIELDS = {"percent": "rate", "amount": "rate", "type": "type"}


# --- the form --------------------------------------------------------------------------------


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False) if value else ""


def values_of(program: Program, terms: CommissionTerms | None) -> dict[str, Any]:
    """The edit form filled with the program and its current terms."""
    rules: dict[str, Any] = dict(terms.rules) if terms is not None else {"type": "cps"}
    return {
        "name": program.name,
        "landing_url": program.landing_url,
        "currency": program.currency,
        "cookie_window_days": program.cookie_window_days,
        "lock_period_days": program.lock_period_days,
        "allowed_countries": ", ".join(program.allowed_countries or []),
        "fallback_url": program.fallback_url or "",
        "deeplink_domains": "\n".join(program.deeplink_domains or []),
        "attribution_priority": program.attribution_priority,
        "description": program.description,
        "category": program.category,
        "status": program.status,
        "store_wide": program.store_wide,
        "type": rules.get("type", "cps"),
        "rate": rules.get("percent") or rules.get("amount") or "",
        "lead_amount": rules.get("lead_amount") or "",
        "cap_per_order": rules.get("cap_per_order") or "",
        "includes_tax": bool(rules.get("includes_tax")),
        "includes_shipping": bool(rules.get("includes_shipping")),
        "tiers": _json_text(rules.get("tiers")),
        "overrides": _json_text(rules.get("overrides")),
        "example_amount": DEFAULT_EXAMPLE,
    }


def new_values(currency: str) -> dict[str, Any]:
    return {
        "name": "",
        "landing_url": "",
        "currency": currency,
        "cookie_window_days": 30,
        "lock_period_days": 30,
        "allowed_countries": "",
        "fallback_url": "",
        "deeplink_domains": "",
        "attribution_priority": AttributionPriority.coupon.value,
        "description": "",
        "category": "",
        "status": "active",
        "store_wide": True,
        "type": "cps",
        "rate": "",
        "lead_amount": "",
        "cap_per_order": "",
        "includes_tax": False,
        "includes_shipping": False,
        "tiers": "",
        "overrides": "",
        "example_amount": DEFAULT_EXAMPLE,
    }


def posted_values(form: Mapping[str, Any]) -> dict[str, Any]:
    """What the form sent, to show it again after a refusal or a preview."""
    values: dict[str, Any] = {
        name: text(form, name) for name in new_values("") if name not in _FLAGS
    }
    values.update({flag: bool(form.get(flag)) for flag in _FLAGS})
    return values


def _json_list(raw: str, field: str) -> list[Any] | None:
    if not raw.strip():
        return None
    try:
        # Decimals, not floats: the terms refuse floats (they are not exact).
        value = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise InvalidInput(f"{field}: not valid JSON ({exc})", field=field) from None
    if not isinstance(value, list):
        raise InvalidInput(f"{field}: expected a JSON list such as [...]", field=field)
    return value


def terms_input(values: Mapping[str, Any]) -> dict[str, Any]:
    """The terms document as the REST API takes it (`commission`), from the form fields."""
    kind = str(values.get("type") or "cps")
    raw: dict[str, Any] = {"type": kind}
    rate = str(values.get("rate") or "").strip()
    if rate:
        raw["percent" if kind == "cps" else "amount"] = rate
    for name in ("lead_amount", "cap_per_order"):
        value = str(values.get(name) or "").strip()
        if value:
            raw[name] = value
    for flag in ("includes_tax", "includes_shipping"):
        if values.get(flag):
            raw[flag] = True
    for name in ("tiers", "overrides"):
        items = _json_list(str(values.get(name) or ""), name)
        if items is not None:
            raw[name] = items
    return raw


def terms_refusal(exc: InvalidInput) -> InvalidInput:
    """parse_terms names `commission.tiers.1.percent`; the form field is `tiers` (`rate` for
    the top-level percent or amount). The sentence keeps the full path."""
    if not exc.field or not exc.field.startswith("commission"):
        return exc
    path = exc.field.split(".")[1:]
    field = _TERMS_FIELDS.get(path[0], path[0]) if path else "rate"
    detail = exc.detail.removeprefix("commission.")
    return InvalidInput(detail, field=field)


def program_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The program's fields as the REST schemas take them."""
    return {
        "name": values.get("name", ""),
        "landing_url": str(values.get("landing_url", "")).strip(),
        "cookie_window_days": str(values.get("cookie_window_days", "")).strip(),
        "lock_period_days": str(values.get("lock_period_days", "")).strip(),
        "allowed_countries": split_list(str(values.get("allowed_countries", ""))),
        # Empty = no fallback: visitors from other countries go to the landing URL.
        "fallback_url": str(values.get("fallback_url", "")).strip() or None,
        "deeplink_domains": split_list(str(values.get("deeplink_domains", ""))),
        "attribution_priority": values.get("attribution_priority") or "coupon",
        "description": values.get("description", ""),
        "category": values.get("category", ""),
        "store_wide": bool(values.get("store_wide")),
    }


# --- the live example ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Example:
    """What a partner would earn under the terms in the form."""

    kind: str  # sale | lead | clicks
    currency: str
    amount: Decimal | None  # the example order amount (sales)
    clicks: int | None
    earns: Decimal | None
    arithmetic: str
    lead_earns: Decimal | None = None  # cps/cpo terms with a lead amount
    error: str | None = None
    error_field: str | None = None


def quote_example(doc: TermsDocument, version: int, currency: str, amount: Decimal) -> Example:
    """The calculator's quote for one example conversion (the partner's first of the month,
    customer and country unknown, no order lines)."""
    if doc.type == "cpc":
        quote = quote_clicks(doc, version, EXAMPLE_CLICKS, currency)
        return Example("clicks", currency, None, EXAMPLE_CLICKS, quote.amount, quote.arithmetic)
    if doc.type == "cpl":
        quote = quote_conversion(
            doc, version, SaleFacts(kind="lead", currency=currency, amount=amount)
        )
        return Example("lead", currency, None, None, quote.amount, quote.arithmetic)
    quote = quote_conversion(doc, version, SaleFacts(kind="sale", currency=currency, amount=amount))
    lead = None
    if doc.lead_amount is not None:
        lead = quote_conversion(
            doc, version, SaleFacts(kind="lead", currency=currency, amount=Decimal(0))
        ).amount
    return Example("sale", currency, amount, None, quote.amount, quote.arithmetic, lead)


def example_from(values: Mapping[str, Any], currency: str, version: int) -> Example:
    """The example for the form's terms, or the refusal that prevents one (as text)."""
    try:
        amount = parse_amount(
            str(values.get("example_amount") or DEFAULT_EXAMPLE).strip(),
            currency,
            "example_amount",
        )
        if amount < 0:
            raise MoneyError("example_amount must not be negative", "example_amount")
        doc = parse_terms(terms_input(values), currency, field="commission")
    except MoneyError as exc:
        return Example(
            "sale", currency, None, None, None, "", error=str(exc), error_field=exc.field
        )
    except InvalidInput as exc:
        refused = terms_refusal(exc)
        return Example(
            "sale", currency, None, None, None, "", error=refused.detail, error_field=refused.field
        )
    return quote_example(doc, version, currency, amount)


# --- pages -----------------------------------------------------------------------------------


def _history(session: Session, program_id: str) -> list[CommissionTerms]:
    return list(
        session.scalars(
            select(CommissionTerms)
            .where(CommissionTerms.program_id == program_id)
            .order_by(CommissionTerms.version.desc())
        )
    )


def _advertiser_currency(session: Session, viewer: Viewer) -> str:
    advertiser = session.get(Advertiser, viewer.account_id)
    return advertiser.currency if advertiser is not None else "EUR"


def _form_page(
    request: Request,
    viewer: Viewer,
    values: dict[str, Any],
    *,
    program_id: str | None,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    with reading() as session:
        if program_id is None:
            program = None
            history: list[CommissionTerms] = []
            currency = _currency_or_default(values, _advertiser_currency(session, viewer))
        else:
            program = own_program(session, viewer, program_id)
            history = _history(session, program.id)
            currency = program.currency
    version = (history[0].version + 1) if history else 1
    referral_terms = network_terms = None
    if program is not None:
        with reading() as session:
            referral_terms = referrals.terms_of(session, program.id)
            network_terms = referrals.terms_of(session, referrals.NETWORK)
    context = {
        "referral_terms": referral_terms,
        "network_referral_terms": network_terms,
        "program": program,
        "values": values,
        "history": [(t, _terms_text(t.rules, currency)) for t in history],
        "example": example_from(values, currency, version),
        "terms_types": options(TERMS_TYPES),
        "priorities": options(PRIORITIES),
        "statuses": options(STATUSES),
        **extra,
    }
    return render(request, "advertiser/program_form.html", context, status=status)


def _currency_or_default(values: Mapping[str, Any], default: str) -> str:
    try:
        return normalize_currency(values.get("currency") or default)
    except MoneyError:
        return default


def _terms_text(rules: Mapping[str, Any], currency: str) -> str:
    """A short line for lists: "CPS 8 %", "CPO 25.00 SEK"."""
    kind = str(rules.get("type", "")).upper()
    if rules.get("percent") is not None:
        rate = f"{rules['percent']} %"
    else:
        rate = f"{rules.get('amount', '')} {currency}"
    extras = [name for name in ("tiers", "overrides") if rules.get(name)]
    return f"{kind} {rate}" + (f" (with {' and '.join(extras)})" if extras else "")


@router.get("/advertiser/programs", response_class=HTMLResponse)
def programs_page(request: Request, viewer: AdvertiserPage) -> Response:
    with reading() as session:
        programs = own_programs(session, viewer)
        terms = service.current_terms(session, [p.id for p in programs])
    rows = [
        (
            p,
            terms.get(p.id),
            _terms_text(terms[p.id].rules, p.currency) if p.id in terms else _("no terms"),
        )
        for p in programs
    ]
    return render(request, "advertiser/programs.html", {"rows": rows})


@router.get("/advertiser/programs/new", response_class=HTMLResponse)
def new_program_page(request: Request, viewer: AdvertiserPage) -> Response:
    with reading() as session:
        currency = _advertiser_currency(session, viewer)
    return _form_page(request, viewer, new_values(currency), program_id=None)


@router.post("/advertiser/programs/new")
async def create_program(request: Request, viewer: AdvertiserAction) -> Response:
    form = await request.form()
    values = posted_values(form)
    try:
        data = {
            **program_fields(values),
            "currency": values.get("currency") or None,
            "commission": terms_input(values),
        }
        try:
            body = ProgramCreate.model_validate(data)
        except ValidationError as exc:
            raise invalid_from(exc, {"commission": "rate"}) from None
        with transaction() as session:
            advertiser = session.get_one(Advertiser, viewer.account_id)
            try:
                program, _terms = service.create_program(session, advertiser, body)
            except InvalidInput as exc:
                raise terms_refusal(exc) from None
            program_id = program.id
    except AllianceError as exc:
        return _form_page(
            request, viewer, values, program_id=None, status=exc.status, **form_error(exc)
        )
    return redirect(
        f"/advertiser/programs/{program_id}", _("Program created with terms version 1.")
    )


@router.post("/advertiser/programs/preview", response_class=HTMLResponse)
async def preview(request: Request, viewer: AdvertiserAction) -> Response:
    """The example for the terms in the form: a fragment for htmx, else the whole form page."""
    form = await request.form()
    values = posted_values(form)
    program_id = text(form, "program_id") or None
    if not request.headers.get("hx-request"):
        return _form_page(request, viewer, values, program_id=program_id)
    with reading() as session:
        if program_id is None:
            currency = _currency_or_default(values, _advertiser_currency(session, viewer))
            version = 1
        else:
            program = own_program(session, viewer, program_id)
            currency = program.currency
            history = _history(session, program.id)
            version = (history[0].version + 1) if history else 1
    example = example_from(values, currency, version)
    # 200 even when the terms are refused: htmx swaps only successful answers, and the
    # fragment says what is wrong.
    return render(request, "advertiser/_example.html", {"example": example})


@router.get("/advertiser/programs/{program_id}", response_class=HTMLResponse)
def program_page(request: Request, viewer: AdvertiserPage, program_id: str) -> Response:
    with reading() as session:
        program = own_program(session, viewer, program_id)
        terms = service.current_terms(session, [program.id]).get(program.id)
        values = values_of(program, terms)
    return _form_page(request, viewer, values, program_id=program.id)


@router.post("/advertiser/programs/{program_id}")
async def update_program(request: Request, viewer: AdvertiserAction, program_id: str) -> Response:
    form = await request.form()
    values = posted_values(form)
    try:
        data = {**program_fields(values), "status": values.get("status") or "active"}
        try:
            body = ProgramUpdate.model_validate(data)
        except ValidationError as exc:
            raise invalid_from(exc) from None
        raw_terms = terms_input(values)
        with transaction() as session:
            program = own_program(session, viewer, program_id, for_update=True)
            try:
                document = parse_terms(raw_terms, program.currency, field="commission")
            except InvalidInput as exc:
                raise terms_refusal(exc) from None
            service.update_program(session, program, body)
            current = service.current_terms(session, [program.id]).get(program.id)
            new_version = None
            if current is None or terms_to_json(document) != dict(current.rules):
                new_version = service.add_terms_version(session, program, raw_terms).version
    except AllianceError as exc:
        return _form_page(
            request, viewer, values, program_id=program_id, status=exc.status, **form_error(exc)
        )
    message = _("Program saved.")
    if new_version is not None:
        message += " " + _(
            "The commission terms are now version %(version)s; orders already tracked keep"
            " the version that priced them.",
            version=new_version,
        )
    return redirect(f"/advertiser/programs/{program_id}", message)


@router.post("/advertiser/programs/{program_id}/referral-terms")
async def set_referral_terms(
    request: Request, viewer: AdvertiserAction, program_id: str
) -> Response:
    """The program's own referral overrides (docs/referrals.md): percents per level, months,
    who pays; or back to the network's terms (`use_network`)."""
    form = await request.form()
    try:
        with transaction() as session:
            program = own_program(session, viewer, program_id, for_update=True)
            if text(form, "use_network"):
                row = referrals.terms_of(session, program.id)
                if row is not None:
                    session.delete(row)
                message = _("The program follows the network's referral terms.")
            else:
                months = text(form, "months")
                terms = referrals.parse_terms(
                    {
                        "percents": [p.strip() for p in text(form, "percents").split(",")],
                        # Not a whole number: refused by parse_terms, naming the field.
                        "months": int(months) if months.isdigit() else months,
                        "funded_by": text(form, "funded_by") or "advertiser",
                        "active": not text(form, "switch_off"),
                    }
                )
                referrals.set_terms(session, program.id, terms)
                message = _("Referral terms saved.")
    except AllianceError as exc:
        return redirect(
            f"/advertiser/programs/{program_id}#referrals",
            _("Referral terms not saved: %(error)s", error=exc.detail),
            kind="error",
        )
    return redirect(f"/advertiser/programs/{program_id}#referrals", message)
