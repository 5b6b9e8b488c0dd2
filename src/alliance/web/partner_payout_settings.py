"""/partner/payouts/settings: how the partner is paid and who it is for tax.

Both forms save through payouts/profiles.py, which checks everything before it stores
anything (IBAN and BIC with schwifty, VAT numbers and tax ids with python-stdnum). A refusal
names its field; the page shows it next to that field, with the form as typed, and nothing
is saved. What a payout still lacks is told in words above the forms, from the same rules a
payout run applies (payouts/details.py `hold_reasons`).
"""

from __future__ import annotations

from typing import Annotated, Any

import pycountry
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.models import Advertiser, Partner
from alliance.api.fields import amount_text
from alliance.clock import utcnow
from alliance.commissions.models import Commission
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError
from alliance.payouts import fx, profiles
from alliance.payouts import service as payouts
from alliance.payouts.details import hold_reasons, required_us_form, tax_id_checked
from alliance.payouts.models import PayoutSettings, TaxProfile, UsTaxForm
from alliance.programs.models import Program
from alliance.settings import get_settings
from alliance.web.i18n import _, options
from alliance.web.partner_common import country_name, parse_day, redirect
from alliance.web.payouts_common import (
    ENTITIES,
    METHODS,
    SCHEDULES,
    ecb_currencies,
    reasons_in_words,
)
from alliance.web.sessions import PartnerAction, PartnerPage, Viewer
from alliance.web.templating import render

router = APIRouter()

PATH = "/partner/payouts/settings"


def _earns_from_us(session: Session, partner_id: str) -> bool:
    """Whether the partner has commissions from programs of US advertisers (US-sourced
    income: a payout of them needs a US tax form on file)."""
    return (
        session.scalar(
            select(Commission.id)
            .join(Program, Program.id == Commission.program_id)
            .join(Advertiser, Advertiser.id == Program.advertiser_id)
            .where(Commission.partner_id == partner_id, Advertiser.country == "US")
            .limit(1)
        )
        is not None
    )


def _default_threshold(session: Session, currency: str) -> str:
    """The network's default threshold in the partner's currency, to start the form with."""
    default = get_settings().payout_default_threshold_eur
    try:
        return str(fx.quote(session, "EUR", currency, utcnow().date()).convert(default))
    except fx.NoRate:
        return ""


def _payout_form(session: Session, partner: Partner, row: PayoutSettings | None) -> dict[str, str]:
    return {
        "payout_currency": partner.payout_currency,
        "schedule": row.schedule if row else "monthly",
        # In the currency's minor unit: PostgreSQL hands NUMERIC back as 50.000000.
        "threshold": amount_text(row.threshold, partner.payout_currency)
        if row
        else _default_threshold(session, partner.payout_currency),
        "method": row.method if row else "bank_transfer",
        "account_holder": (row.account_holder if row else None) or "",
        "iban": (row.iban if row else None) or "",
        "bic": (row.bic if row else None) or "",
        "paypal_email": (row.paypal_email if row else None) or "",
    }


def _tax_form(partner: Partner, row: TaxProfile | None) -> dict[str, str]:
    if row is None:
        return {
            "entity": "",
            "legal_name": "",
            "address": "",
            "country": partner.country or "",
            "vat_id": "",
            "tax_id": "",
            "vat_rate": "",
            "us_tax_form": "",
            "us_tax_form_signed_on": "",
        }
    return {
        "entity": row.entity,
        "legal_name": row.legal_name,
        "address": row.address,
        "country": row.country,
        "vat_id": row.vat_id or "",
        "tax_id": row.tax_id or "",
        "vat_rate": f"{row.vat_rate.normalize():f}" if row.vat_rate is not None else "",
        "us_tax_form": row.us_tax_form or "",
        "us_tax_form_signed_on": row.us_tax_form_signed_on.isoformat()
        if row.us_tax_form_signed_on
        else "",
    }


def _countries() -> list[tuple[str, str]]:
    """Every ISO 3166 country, named in the reader's language, in its alphabetical order."""
    named = [(c.alpha_2, country_name(c.alpha_2)) for c in pycountry.countries]
    return sorted(named, key=lambda pair: pair[1].casefold())


def _settings_page(
    request: Request,
    viewer: Viewer,
    *,
    status: int = 200,
    payout_form: dict[str, str] | None = None,
    tax_form: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    with reading() as session:
        partner = session.get(Partner, viewer.account_id)
        assert partner is not None  # the viewer's own account
        settings = session.get(PayoutSettings, partner.id)
        profile = session.get(TaxProfile, partner.id)
        us_sourced = _earns_from_us(session, partner.id)
        missing = hold_reasons(payouts.details_of(session, partner.id), us_sourced=us_sourced)
        currencies = ecb_currencies(session)
        payout_values = payout_form or _payout_form(session, partner, settings)
    tax_values = tax_form or _tax_form(partner, profile)
    if partner.payout_currency not in currencies:
        currencies.append(partner.payout_currency)
    country = tax_values["country"].strip().upper()
    entity = tax_values["entity"]
    known_country = pycountry.countries.get(alpha_2=country) is not None if country else False
    context = {
        "partner": partner,
        "payout_form": payout_values,
        "tax_form": tax_values,
        "missing": reasons_in_words(missing),
        "has_settings": settings is not None,
        "has_profile": profile is not None,
        "us_sourced": us_sourced,
        "currencies": [(c, c) for c in currencies],
        "schedules": options(SCHEDULES.items()),
        "methods": options(METHODS.items()),
        "entities": options(ENTITIES.items()),
        "countries": _countries(),
        "us_forms": [(f.value, f.value) for f in UsTaxForm],
        "country_label": country_name(country) if known_country else None,
        "tax_id_checked": tax_id_checked(country) if known_country else None,
        "needed_us_form": required_us_form(country, entity).value
        if known_country and entity in ENTITIES
        else None,
        **extra,
    }
    return render(request, "partner/payout_settings.html", context, status=status)


@router.get(PATH, response_class=HTMLResponse)
def settings_page(request: Request, viewer: PartnerPage) -> Response:
    return _settings_page(request, viewer)


@router.post(f"{PATH}/payout")
def save_payout_details(
    request: Request,
    viewer: PartnerAction,
    payout_currency: Annotated[str, Form(max_length=10)] = "",
    schedule: Annotated[str, Form(max_length=20)] = "",
    threshold: Annotated[str, Form(max_length=40)] = "",
    method: Annotated[str, Form(max_length=20)] = "",
    account_holder: Annotated[str, Form(max_length=400)] = "",
    iban: Annotated[str, Form(max_length=80)] = "",
    bic: Annotated[str, Form(max_length=40)] = "",
    paypal_email: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    form = {
        "payout_currency": payout_currency,
        "schedule": schedule,
        "threshold": threshold,
        "method": method,
        "account_holder": account_holder,
        "iban": iban,
        "bic": bic,
        "paypal_email": paypal_email,
    }
    try:
        with transaction() as session:
            profiles.save_payout_settings(
                session,
                viewer.account_id,
                payout_currency=payout_currency,
                schedule=schedule,
                threshold=threshold,
                method=method,
                account_holder=account_holder,
                iban=iban,
                bic=bic,
                paypal_email=paypal_email,
            )
    except AllianceError as exc:
        return _settings_page(
            request,
            viewer,
            status=exc.status,
            payout_form=form,
            error=exc.detail,
            error_field=exc.field,
            error_form="payout",
        )
    return redirect(PATH, _("Payout details saved."))


@router.post(f"{PATH}/tax")
def save_tax_profile(
    request: Request,
    viewer: PartnerAction,
    entity: Annotated[str, Form(max_length=20)] = "",
    legal_name: Annotated[str, Form(max_length=400)] = "",
    address: Annotated[str, Form(max_length=2000)] = "",
    country: Annotated[str, Form(max_length=10)] = "",
    vat_id: Annotated[str, Form(max_length=60)] = "",
    tax_id: Annotated[str, Form(max_length=80)] = "",
    vat_rate: Annotated[str, Form(max_length=20)] = "",
    us_tax_form: Annotated[str, Form(max_length=20)] = "",
    us_tax_form_signed_on: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    form = {
        "entity": entity,
        "legal_name": legal_name,
        "address": address,
        "country": country,
        "vat_id": vat_id,
        "tax_id": tax_id,
        "vat_rate": vat_rate,
        "us_tax_form": us_tax_form,
        "us_tax_form_signed_on": us_tax_form_signed_on,
    }
    try:
        signed_on = parse_day(us_tax_form_signed_on, "us_tax_form_signed_on")
        with transaction() as session:
            profiles.save_tax_profile(
                session,
                viewer.account_id,
                entity=entity,
                legal_name=legal_name,
                address=address.replace("\r\n", "\n"),
                country=country,
                vat_id=vat_id,
                tax_id=tax_id,
                vat_rate=vat_rate,
                us_tax_form=us_tax_form or None,
                us_tax_form_signed_on=signed_on,
            )
    except AllianceError as exc:
        return _settings_page(
            request,
            viewer,
            status=exc.status,
            tax_form=form,
            error=exc.detail,
            error_field=exc.field,
            error_form="tax",
        )
    return redirect(PATH, _("Tax profile saved."))
