"""Partners' payout and tax details: checked when they are saved, and again by every payout
run, which holds a payout (saying why) while something it needs is missing.

Checks use maintained registries rather than home-made rules: schwifty for IBAN and BIC (the
SWIFT bank registry), python-stdnum for VAT numbers and national tax ids (check digits and
formats per country), email-validator for PayPal addresses (syntax only: no DNS lookups).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from decimal import Decimal
from types import ModuleType
from typing import Any

from email_validator import EmailNotValidError, validate_email
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.util import get_cc_module

from alliance.errors import InvalidInput
from alliance.payouts.models import EntityType, PayoutMethod, UsTaxForm

# EU member states by ISO 3166 code (2026). VAT numbers of Greece start "EL", not "GR";
# stdnum.eu.vat handles that. Northern Ireland's "XI" numbers are goods-only and not here.
EU_COUNTRIES = frozenset(
    {
        *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"),
        *("IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"),
    }
)

# National tax ids python-stdnum can check, per country: a value passes when any module
# accepts it (a person's and a company's number look different). Countries not listed fall
# back to stdnum's "tin" or "vat" module for the country, then to a plain format check.
_TAX_ID_MODULES: dict[str, tuple[str, ...]] = {
    "US": ("us.tin",),
    "DE": ("de.idnr", "de.stnr"),
    "SE": ("se.personnummer", "se.orgnr"),
    "GB": ("gb.utr",),
    "FR": ("fr.spi", "fr.siren"),
    "ES": ("es.nif",),
    "IT": ("it.codicefiscale",),
    "NL": ("nl.bsn",),
    "DK": ("dk.cpr", "dk.cvr"),
    "NO": ("no.fodselsnummer", "no.orgnr"),
    "FI": ("fi.hetu", "fi.ytunnus"),
    "CN": ("cn.ric", "cn.uscc"),
}
_PLAIN_TAX_ID = re.compile(r"^[A-Z0-9][A-Z0-9/.\- ]{2,31}$")


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"stdnum.{name}")


def _tax_id_validators(country: str) -> list[Any]:
    names = _TAX_ID_MODULES.get(country)
    if names:
        return [_module(name) for name in names]
    found = [get_cc_module(country.lower(), kind) for kind in ("tin", "vat")]
    return [module for module in found if module is not None]


def normalize_iban(value: str, field: str = "iban") -> str:
    try:
        return str(IBAN(value).compact)
    except SchwiftyException as exc:
        raise InvalidInput(f"not a valid IBAN: {exc}", field=field) from None


def normalize_bic(value: str, iban: str | None = None, field: str = "bic") -> str:
    try:
        bic = BIC(value)
    except SchwiftyException as exc:
        raise InvalidInput(f"not a valid BIC: {exc}", field=field) from None
    if iban and bic.country_code != IBAN(iban).country_code:
        # A BIC names a bank in one country; an IBAN's country is where the account is.
        # SEPA routes by IBAN, but a mismatch is nearly always a pasted wrong code.
        raise InvalidInput(
            f"BIC {bic.compact} is of a bank in {bic.country_code}, the IBAN is of an "
            f"account in {IBAN(iban).country_code}",
            field=field,
        )
    return str(bic.compact)


def normalize_email(value: str, field: str = "paypal_email") -> str:
    try:
        return str(validate_email(value, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise InvalidInput(f"not a valid e-mail address: {exc}", field=field) from None


def normalize_vat_id(value: str, country: str, field: str = "vat_id") -> str:
    """The compact VAT number with its country prefix, checked by python-stdnum: EU numbers
    by stdnum.eu.vat (each state's own check digits), others by the country's module."""
    raw = value.strip().upper().replace(" ", "")
    try:
        if country in EU_COUNTRIES:
            compact = str(eu_vat.validate(raw if raw[:2].isalpha() else _eu_prefix(country) + raw))
            prefix = _eu_prefix(country)
            if not compact.startswith(prefix):
                raise InvalidInput(
                    f"VAT number {compact} is not of {country} (expected prefix {prefix})",
                    field=field,
                )
            return compact
        module = get_cc_module(country.lower(), "vat")
        if module is None:
            raise InvalidInput(f"no VAT number format is known for {country}", field=field)
        compact = str(module.validate(raw.removeprefix(country)))
        return f"{country}{compact}" if not compact.startswith(country) else compact
    except StdnumError as exc:
        raise InvalidInput(f"not a valid VAT number for {country}: {exc}", field=field) from None


def _eu_prefix(country: str) -> str:
    return "EL" if country == "GR" else country


def normalize_tax_id(value: str, country: str, field: str = "tax_id") -> str:
    """A national tax id, checked where python-stdnum knows the country's numbers."""
    raw = value.strip().upper()
    validators = _tax_id_validators(country)
    if not validators:
        compact = raw.replace(" ", "")
        if not _PLAIN_TAX_ID.match(compact):
            raise InvalidInput("a tax id is 3 to 32 letters, digits, - / or .", field=field)
        return compact
    errors = []
    for module in validators:
        try:
            return str(module.compact(module.validate(raw)))
        except StdnumError as exc:
            errors.append(f"{module.__name__.removeprefix('stdnum.')}: {exc}")
    raise InvalidInput(
        f"not a valid tax id for {country} ({'; '.join(errors)})", field=field
    ) from None


def tax_id_checked(country: str) -> bool:
    """Whether tax ids of the country are checked (pages say so next to the field)."""
    return bool(_tax_id_validators(country))


def required_us_form(country: str, entity: str) -> UsTaxForm:
    """The IRS form a partner needs on file to earn from US-sourced programs: W-9 for a US
    person, W-8BEN for a foreign individual, W-8BEN-E for a foreign entity."""
    if country == "US":
        return UsTaxForm.w9
    return UsTaxForm.w8ben if entity == EntityType.individual else UsTaxForm.w8bene


@dataclass(frozen=True, slots=True)
class PayoutDetails:
    """What a payout needs to know about a partner, as stored (None: not given)."""

    schedule: str | None
    threshold: Decimal | None
    method: str | None
    account_holder: str | None
    iban: str | None
    bic: str | None
    paypal_email: str | None
    entity: str | None
    legal_name: str | None
    address: str | None
    tax_country: str | None
    vat_id: str | None
    tax_id: str | None
    us_tax_form: str | None


def hold_reasons(details: PayoutDetails, *, us_sourced: bool) -> list[str]:
    """Why a payout to this partner cannot be made now; empty when nothing is missing.

    Each reason says what to add, in the partner's words: it is shown on the partner's
    payouts page and in the operator's run."""
    reasons: list[str] = []
    if details.method is None or details.schedule is None:
        reasons.append("no payout method: add bank details or a PayPal address")
    elif details.method == PayoutMethod.bank_transfer:
        if not (details.iban and details.bic and details.account_holder):
            reasons.append("bank details incomplete: account holder, IBAN and BIC are needed")
        else:
            try:
                normalize_iban(details.iban)
                normalize_bic(details.bic, details.iban)
            except InvalidInput as exc:
                reasons.append(f"bank details: {exc.detail}")
    elif details.method == PayoutMethod.paypal and not details.paypal_email:
        reasons.append("no PayPal address")
    if details.entity is None or not (details.legal_name and details.address):
        reasons.append(
            "no tax profile: legal name, address and whether you are a business or an "
            "individual are needed for the invoice"
        )
        return reasons
    country = details.tax_country or ""
    if details.entity == EntityType.business and country in EU_COUNTRIES:
        if not details.vat_id:
            reasons.append("VAT number missing: an EU business's invoice must show it")
        else:
            try:
                normalize_vat_id(details.vat_id, country)
            except InvalidInput as exc:
                reasons.append(exc.detail)
    if us_sourced:
        needed = required_us_form(country, details.entity)
        if details.us_tax_form != needed:
            on_file = f" (on file: {details.us_tax_form})" if details.us_tax_form else ""
            reasons.append(
                f"US tax form {needed.value} needed for commissions from US programs{on_file}"
            )
        elif needed is UsTaxForm.w9 and not details.tax_id:
            reasons.append("a W-9 needs your US taxpayer id (SSN, ITIN or EIN)")
    return reasons
