"""The commission terms document: one version of a program's terms, validated.

A program's terms are stored as JSON in ``commission_terms.rules`` (one row per version, never
updated). ``parse_terms`` is the only way in from the outside: it validates every value and
names the offending input in the error (``commission.tiers.1.percent``);
``terms_to_json`` is the way back out, and the two round-trip.

Shape and meaning (amounts are in the program currency, percents are 0-100):

* ``type`` — ``cps`` (``percent`` of the commission base), ``cpo`` (fixed ``amount`` per
  order), ``cpl`` (fixed ``amount`` per lead), ``cpc`` (fixed ``amount`` per valid unique
  click). ``cps`` needs ``percent`` and refuses ``amount``; the fixed types the reverse.
* ``lead_amount`` — on ``cps``/``cpo`` only: what a lead pays (absent: leads pay nothing).
* ``includes_tax`` / ``includes_shipping`` — the base is net of tax and shipping unless set.
* ``tiers`` — monthly volume tiers, per partner per program per calendar month of the order.
  All tiers use the same measure (all ``min_orders`` or all ``min_sales``), with strictly
  increasing thresholds; each gives the rate of the type (``percent`` for cps, ``amount``
  otherwise). The highest tier reached *counting this order* applies to this order; below
  the first tier the top-level rate applies. Earlier orders of the month are not repriced.
  ``min_sales`` is measured in commission base (net) terms, like ``Quote.base_amount``.
* ``overrides`` — ``when`` (every given key must match) → a replacement rate. The first
  matching override **in list order** wins, and an override beats any tier. Overrides with a
  ``category`` are matched per order line (see calculator.py); the others per order.
* ``cap_per_order`` — the most one conversion can earn (for ``cpc``: one partner-day).
* ``cpc`` takes no tiers and no overrides.

Building a ``TermsDocument`` directly runs the same checks except the currency's decimal
places, which need the currency: use ``parse_terms``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Self

import pycountry
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from alliance.errors import InvalidInput
from alliance.money import MAX_ABS_AMOUNT, MoneyError, parse_amount

TermsType = Literal["cps", "cpo", "cpl", "cpc"]
FIXED_TYPES: frozenset[str] = frozenset({"cpo", "cpl", "cpc"})
PERCENT_DECIMALS = 4
MAX_TIERS = 50
MAX_OVERRIDES = 200


def _invalid(message: str, path: str = "") -> PydanticCustomError:
    """A validation error; ``path`` (dotted, relative to the model) refines the location."""
    return PydanticCustomError("invalid_terms", message, {"path": path} if path else None)


def _parse_decimal(raw: object) -> Decimal:
    if isinstance(raw, bool | float):
        raise _invalid("must be a decimal string or an integer, not a float")
    if isinstance(raw, int | Decimal):
        value = Decimal(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        if not text or len(text) > 40:
            raise _invalid("must be a decimal number such as 8.5")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise _invalid("is not a decimal number") from None
    else:
        raise _invalid("must be a decimal string or an integer")
    if not value.is_finite():
        raise _invalid("must be a finite number")
    return value


def _parse_percent(raw: object) -> Decimal | None:
    """A percent 0..100 with at most 4 decimals (``8.25`` means 8.25 %)."""
    if raw is None:
        return None
    value = _parse_decimal(raw)
    if value < 0 or value > 100:
        raise _invalid("percent must be between 0 and 100")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PERCENT_DECIMALS:
        raise _invalid(f"percent allows at most {PERCENT_DECIMALS} decimals")
    return value


def _parse_money(raw: object, info: ValidationInfo) -> Decimal | None:
    """A non-negative amount in the program currency (from the validation context)."""
    if raw is None:
        return None
    value = _parse_decimal(raw)
    currency = info.context.get("currency") if isinstance(info.context, dict) else None
    if isinstance(currency, str):
        try:
            return parse_amount(value, currency)
        except MoneyError as exc:
            raise _invalid(str(exc)) from None
    if value < 0:
        raise _invalid("amount must not be negative")
    if value > MAX_ABS_AMOUNT:
        raise _invalid("amount is out of range")
    return value


def _label(raw: object, what: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip() or len(raw.strip()) > 64:
        raise _invalid(f"{what} must be a non-empty text of at most 64 characters")
    return raw.strip()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Strict):
    """A monthly volume tier: exactly one of ``min_orders`` / ``min_sales``.

    Gives ``percent`` (cps) or ``amount`` (fixed types). ``min_orders`` counts conversions
    of the partner in the program in the calendar month, this one included; ``min_sales``
    sums their commission bases (net, program currency), this one included.
    """

    min_orders: StrictInt | None = None
    min_sales: Decimal | None = None
    percent: Decimal | None = None
    amount: Decimal | None = None

    _percent = field_validator("percent", mode="before")(_parse_percent)

    @field_validator("min_sales", "amount", mode="before")
    @classmethod
    def _money(cls, raw: object, info: ValidationInfo) -> Decimal | None:
        return _parse_money(raw, info)

    @model_validator(mode="after")
    def _one_threshold(self) -> Self:
        if (self.min_orders is None) == (self.min_sales is None):
            raise _invalid("a tier needs exactly one of min_orders or min_sales")
        if self.min_orders is not None and self.min_orders < 1:
            raise _invalid("min_orders must be at least 1", "min_orders")
        if self.min_sales is not None and self.min_sales <= 0:
            raise _invalid("min_sales must be more than 0", "min_sales")
        return self

    def threshold(self) -> Decimal:
        """The tier's threshold as a number (orders or sales)."""
        return (
            Decimal(self.min_orders)
            if self.min_orders is not None
            else Decimal(self.min_sales or 0)
        )


class OverrideWhen(_Strict):
    """Conditions of an override; every given key must match (at least one is required).

    ``category`` and ``partner_group`` compare case-insensitively; ``buyer_country`` is an
    ISO 3166-1 alpha-2 code; ``customer`` is ``new`` or ``returning`` (an order whose
    customer is unknown matches neither).
    """

    category: str | None = None
    buyer_country: str | None = None
    customer: Literal["new", "returning"] | None = None
    partner_group: str | None = None

    @field_validator("category", "partner_group", mode="before")
    @classmethod
    def _labels(cls, raw: object, info: ValidationInfo) -> str | None:
        return _label(raw, info.field_name or "value")

    @field_validator("buyer_country", mode="before")
    @classmethod
    def _country(cls, raw: object) -> str | None:
        if raw is None:
            return None
        if not isinstance(raw, str) or len(raw.strip()) != 2:
            raise _invalid("buyer_country must be an ISO 3166-1 alpha-2 code such as SE")
        code = raw.strip().upper()
        if pycountry.countries.get(alpha_2=code) is None:
            raise _invalid(f"unknown country code {raw.strip()!r}")
        return code

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if all(
            v is None
            for v in (self.category, self.buyer_country, self.customer, self.partner_group)
        ):
            raise _invalid("an override needs at least one condition")
        return self

    def conditions(self) -> dict[str, str]:
        """The given conditions as plain data (for the rule snapshot)."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Override(_Strict):
    """When ``when`` matches, ``percent`` (cps) or ``amount`` (fixed types) replaces the rate."""

    when: OverrideWhen
    percent: Decimal | None = None
    amount: Decimal | None = None

    _percent = field_validator("percent", mode="before")(_parse_percent)

    @field_validator("amount", mode="before")
    @classmethod
    def _money(cls, raw: object, info: ValidationInfo) -> Decimal | None:
        return _parse_money(raw, info)


class TermsDocument(_Strict):
    """One version of a program's commission terms (see the module docstring)."""

    type: TermsType
    percent: Decimal | None = None  # cps: percent of the commission base, 0 < p <= 100
    amount: Decimal | None = None  # cpo/cpl/cpc: fixed amount in the program currency
    lead_amount: Decimal | None = None  # optional CPL for leads on a cps/cpo program
    includes_tax: StrictBool = False  # base = net of tax unless true
    includes_shipping: StrictBool = False  # base = net of shipping unless true
    tiers: list[Tier] = Field(default_factory=list, max_length=MAX_TIERS)
    overrides: list[Override] = Field(default_factory=list, max_length=MAX_OVERRIDES)
    cap_per_order: Decimal | None = None  # max commission for one conversion

    _percent = field_validator("percent", mode="before")(_parse_percent)

    @field_validator("amount", "lead_amount", "cap_per_order", mode="before")
    @classmethod
    def _money(cls, raw: object, info: ValidationInfo) -> Decimal | None:
        return _parse_money(raw, info)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        rate = "percent" if self.type == "cps" else "amount"
        other = "amount" if self.type == "cps" else "percent"
        value = self.percent if self.type == "cps" else self.amount
        if value is None:
            raise _invalid(f"{self.type} terms need {rate}", rate)
        if value <= 0:
            raise _invalid(f"{rate} must be more than 0", rate)
        if getattr(self, other) is not None:
            raise _invalid(f"{self.type} terms take {rate}, not {other}", other)
        if self.lead_amount is not None and self.type not in ("cps", "cpo"):
            raise _invalid(
                f"lead_amount is only for cps and cpo terms ({self.type} uses amount)",
                "lead_amount",
            )
        if self.cap_per_order is not None and self.cap_per_order <= 0:
            raise _invalid("cap_per_order must be more than 0", "cap_per_order")
        if self.type == "cpc" and self.tiers:
            raise _invalid("cpc terms take no tiers", "tiers")
        if self.type == "cpc" and self.overrides:
            raise _invalid("cpc terms take no overrides", "overrides")
        self._check_rates(self.tiers, "tiers", rate, other)
        self._check_rates(self.overrides, "overrides", rate, other)
        self._check_tier_order()
        return self

    @staticmethod
    def _check_rates(items: list[Tier] | list[Override], name: str, rate: str, other: str) -> None:
        for i, item in enumerate(items):
            if getattr(item, rate) is None:
                raise _invalid(f"each of {name} needs {rate} for these terms", f"{name}.{i}.{rate}")
            if getattr(item, other) is not None:
                raise _invalid(f"these terms take {rate}, not {other}", f"{name}.{i}.{other}")

    def _check_tier_order(self) -> None:
        if not self.tiers:
            return
        measure = "min_orders" if self.tiers[0].min_orders is not None else "min_sales"
        previous: Decimal | None = None
        for i, tier in enumerate(self.tiers):
            if getattr(tier, measure) is None:
                raise _invalid(
                    f"all tiers must use the same measure ({measure})", f"tiers.{i}.{measure}"
                )
            if previous is not None and tier.threshold() <= previous:
                raise _invalid(
                    f"tier thresholds must increase strictly ({measure})", f"tiers.{i}.{measure}"
                )
            previous = tier.threshold()

    @property
    def tier_measure(self) -> Literal["min_orders", "min_sales"] | None:
        """Which volume the tiers count, or None without tiers."""
        if not self.tiers:
            return None
        return "min_orders" if self.tiers[0].min_orders is not None else "min_sales"


def _error_path(field: str, error: Any) -> str:
    parts = [field, *(str(p) for p in error["loc"])]
    ctx = error.get("ctx") or {}
    extra = ctx.get("path")
    if isinstance(extra, str) and extra:
        parts.append(extra)
    return ".".join(parts)


def parse_terms(raw: object, currency: str, field: str = "commission") -> TermsDocument:
    """Validate a terms document given as JSON-like data for a program in ``currency``.

    Amounts (``amount``, ``lead_amount``, ``cap_per_order``, tier ``min_sales``/``amount``,
    override ``amount``) are decimal strings or integers in ``currency``, with no more
    decimals than its minor unit; floats, NaN, infinities and negatives are refused. Percents
    are 0-100 with at most 4 decimals. Raises ``InvalidInput`` whose ``field`` names the
    offending input below ``field`` (e.g. ``commission.tiers.1.percent``); every problem
    found is also listed in the error's ``errors`` extra.
    """
    try:
        return TermsDocument.model_validate(raw, context={"currency": currency})
    except ValidationError as exc:
        problems = [
            {"field": _error_path(field, err), "detail": str(err["msg"])} for err in exc.errors()
        ]
        first = problems[0]
        raise InvalidInput(
            f"{first['field']}: {first['detail']}", field=first["field"], errors=problems
        ) from None


def terms_to_json(doc: TermsDocument) -> dict[str, Any]:
    """The document as JSON-safe data (Decimals as strings, unset values left out).

    ``parse_terms(terms_to_json(doc), currency) == doc`` for a document valid in ``currency``.
    """
    data: dict[str, Any] = doc.model_dump(mode="json", exclude_none=True)
    return data
