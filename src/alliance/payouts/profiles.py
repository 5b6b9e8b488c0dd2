"""Saving a partner's payout settings and tax profile, and the network's own details.

Everything is checked before it is stored (alliance.payouts.details); a refusal is an
InvalidInput naming the field, which the API answers as 422 problem+json and the pages show
next to the field. Payout runs check again and hold a payout while something is missing.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import pycountry
from sqlalchemy.orm import Session

from alliance.accounts.models import Partner
from alliance.clock import utcnow
from alliance.errors import InvalidInput, NotFound
from alliance.money import MoneyError, normalize_currency, parse_amount
from alliance.payouts import fx
from alliance.payouts.details import (
    EU_COUNTRIES,
    normalize_bic,
    normalize_email,
    normalize_iban,
    normalize_tax_id,
    normalize_vat_id,
    required_us_form,
)
from alliance.payouts.models import (
    EntityType,
    NetworkProfile,
    PayoutMethod,
    PayoutSchedule,
    PayoutSettings,
    TaxProfile,
    UsTaxForm,
)


def _text(value: str | None, field: str, limit: int, *, required: bool = False) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInput(f"{field.replace('_', ' ')} is required", field=field)
        return None
    if len(text) > limit:
        raise InvalidInput(f"at most {limit} characters", field=field)
    return text


def _country(value: str | None, field: str = "country") -> str:
    code = (value or "").strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise InvalidInput("an ISO 3166 country code such as DE", field=field)
    return code


_Choice = type[PayoutSchedule] | type[PayoutMethod] | type[EntityType]


def _choice(value: str | None, allowed: _Choice, field: str) -> str:
    try:
        return str(allowed(value).value)  # type: ignore[arg-type]
    except ValueError:
        options = ", ".join(member.value for member in allowed)
        raise InvalidInput(f"one of: {options}", field=field) from None


def save_payout_settings(
    session: Session,
    partner_id: str,
    *,
    payout_currency: str,
    schedule: str,
    threshold: str | Decimal,
    method: str,
    account_holder: str | None = None,
    iban: str | None = None,
    bic: str | None = None,
    paypal_email: str | None = None,
    now: datetime | None = None,
) -> PayoutSettings:
    """Store how the partner is paid. A new payout currency applies to commissions approved
    from now on; those approved before keep theirs and are paid in it."""
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(f"no partner {partner_id}", field="partner_id")
    try:
        currency = normalize_currency(payout_currency, "payout_currency")
        amount = parse_amount(threshold, currency, "threshold")
    except MoneyError as exc:
        raise InvalidInput(str(exc), field=exc.field) from None
    if amount < 0:
        raise InvalidInput("the threshold cannot be negative", field="threshold")
    # Only currencies the ECB quotes can be paid: approvals convert into it.
    fx.quote(session, "EUR", currency, (now or utcnow()).date(), field="payout_currency")
    chosen_method = _choice(method, PayoutMethod, "method")
    row = session.get(PayoutSettings, partner_id) or PayoutSettings(partner_id=partner_id)
    row.schedule = _choice(schedule, PayoutSchedule, "schedule")
    row.threshold = amount
    row.method = chosen_method
    if chosen_method == PayoutMethod.bank_transfer:
        row.account_holder = _text(account_holder, "account_holder", 200, required=True)
        row.iban = normalize_iban(_text(iban, "iban", 60, required=True) or "")
        row.bic = normalize_bic(_text(bic, "bic", 20, required=True) or "", row.iban)
    else:
        row.paypal_email = normalize_email(
            _text(paypal_email, "paypal_email", 320, required=True) or ""
        )
    row.updated_at = now or utcnow()
    partner.payout_currency = currency
    session.add(row)
    return row


def save_tax_profile(
    session: Session,
    partner_id: str,
    *,
    entity: str,
    legal_name: str,
    address: str,
    country: str,
    vat_id: str | None = None,
    tax_id: str | None = None,
    vat_rate: str | Decimal | None = None,
    us_tax_form: str | None = None,
    us_tax_form_signed_on: date | None = None,
    now: datetime | None = None,
) -> TaxProfile:
    """Store who the partner is for tax. An EU business must give its VAT number (the
    reverse-charge invoice shows it); a US tax form must be the one its status calls for."""
    if session.get(Partner, partner_id) is None:
        raise NotFound(f"no partner {partner_id}", field="partner_id")
    kind = _choice(entity, EntityType, "entity")
    home = _country(country)
    row = session.get(TaxProfile, partner_id) or TaxProfile(partner_id=partner_id)
    row.entity = kind
    row.legal_name = _text(legal_name, "legal_name", 200, required=True) or ""
    row.address = _text(address, "address", 1000, required=True) or ""
    row.country = home
    given_vat = _text(vat_id, "vat_id", 30)
    if kind == EntityType.business and home in EU_COUNTRIES and not given_vat:
        raise InvalidInput(
            "an EU business gives its VAT number: the self-billing invoice shows it",
            field="vat_id",
        )
    row.vat_id = normalize_vat_id(given_vat, home) if given_vat else None
    given_tax = _text(tax_id, "tax_id", 40)
    row.tax_id = normalize_tax_id(given_tax, home) if given_tax else None
    row.vat_rate = _vat_rate(vat_rate, kind)
    row.us_tax_form, row.us_tax_form_signed_on = _us_form(
        us_tax_form, us_tax_form_signed_on, home, kind, row.tax_id, now
    )
    row.updated_at = now or utcnow()
    session.add(row)
    return row


def _vat_rate(value: str | Decimal | None, kind: str) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput("a VAT rate in percent, such as 25", field="vat_rate") from None
    if not rate.is_finite() or rate < 0 or rate > 50:
        raise InvalidInput("a VAT rate between 0 and 50 percent", field="vat_rate")
    if kind != EntityType.business and rate:
        raise InvalidInput("only a business charges VAT", field="vat_rate")
    return rate or None


def _us_form(
    form: str | None,
    signed_on: date | None,
    country: str,
    kind: str,
    tax_id: str | None,
    now: datetime | None,
) -> tuple[str | None, date | None]:
    if not form:
        return None, None
    try:
        chosen = UsTaxForm(form)
    except ValueError:
        options = ", ".join(f.value for f in UsTaxForm)
        raise InvalidInput(f"one of: {options}", field="us_tax_form") from None
    needed = required_us_form(country, kind)
    if chosen is not needed:
        raise InvalidInput(
            f"a {'US person' if country == 'US' else kind + ' outside the US'} files "
            f"{needed.value}, not {chosen.value}",
            field="us_tax_form",
        )
    if chosen is UsTaxForm.w9 and not tax_id:
        raise InvalidInput("a W-9 needs the US taxpayer id (SSN, ITIN or EIN)", field="tax_id")
    if signed_on is None:
        raise InvalidInput("the day the form was signed", field="us_tax_form_signed_on")
    if signed_on > (now or utcnow()).date():
        raise InvalidInput("the signing day is in the future", field="us_tax_form_signed_on")
    return chosen.value, signed_on


def save_network_profile(
    session: Session,
    *,
    legal_name: str,
    address: str,
    country: str,
    vat_id: str | None = None,
    payer_iban: str | None = None,
    payer_bic: str | None = None,
    now: datetime | None = None,
) -> NetworkProfile:
    """The operator's legal details (the recipient of every self-billing invoice) and the
    account payouts are sent from (the debtor of the SEPA file)."""
    home = _country(country)
    row = session.get(NetworkProfile, "network") or NetworkProfile(key="network")
    row.legal_name = _text(legal_name, "legal_name", 200, required=True) or ""
    row.address = _text(address, "address", 1000, required=True) or ""
    row.country = home
    given_vat = _text(vat_id, "vat_id", 30)
    row.vat_id = normalize_vat_id(given_vat, home) if given_vat else None
    given_iban = _text(payer_iban, "payer_iban", 60)
    row.payer_iban = normalize_iban(given_iban, "payer_iban") if given_iban else None
    given_bic = _text(payer_bic, "payer_bic", 20)
    row.payer_bic = normalize_bic(given_bic, row.payer_iban, "payer_bic") if given_bic else None
    row.updated_at = now or utcnow()
    session.add(row)
    return row
