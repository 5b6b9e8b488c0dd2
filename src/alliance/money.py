"""Money: Decimal amounts that always carry an ISO 4217 currency.

Rounding is half-even to the currency's minor unit (JPY 0 digits, USD 2, KWD 3). Floats never
enter: parsing rejects NaN, infinities, exponents beyond any real amount and float objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import pycountry

# ISO 4217 minor units for currencies that are not 2. Everything else active in ISO 4217 is 2.
_MINOR_UNITS: dict[str, int] = {
    # zero-decimal
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    # three-decimal
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    # four-decimal
    "CLF": 4,
    "UYW": 4,
}
# Codes that are ISO 4217 entries but not money a store charges in.
_NOT_TENDER = {
    "XAU",
    "XAG",
    "XPT",
    "XPD",
    "XDR",
    "XSU",
    "XUA",
    "XBA",
    "XBB",
    "XBC",
    "XBD",
    "XTS",
    "XXX",
}
_KNOWN: frozenset[str] = frozenset(
    c.alpha_3 for c in pycountry.currencies if c.alpha_3 not in _NOT_TENDER
)

# An amount larger than this is a typo or an attack, not an order (10^15 minor units).
MAX_ABS_AMOUNT = Decimal("1e13")


class MoneyError(ValueError):
    """An amount or currency that cannot be money. `field` names the input it came from."""

    def __init__(self, message: str, field: str = "amount") -> None:
        super().__init__(message)
        self.field = field


def is_currency(code: str) -> bool:
    return code in _KNOWN


def normalize_currency(code: object, field: str = "currency") -> str:
    if not isinstance(code, str) or not code.strip():
        raise MoneyError("currency is required (ISO 4217 code such as EUR)", field)
    upper = code.strip().upper()
    if upper not in _KNOWN:
        raise MoneyError(f"unknown currency {code!r}: expected an ISO 4217 code", field)
    return upper


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency, 2)


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half-even rounding to the currency's minor unit."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_EVEN)


def parse_amount(
    raw: object,
    currency: str,
    field: str = "amount",
    *,
    allow_negative: bool = False,
    exact: bool = True,
) -> Decimal:
    """Parse an amount from text or Decimal/int.

    `exact=True` refuses more decimals than the currency has (12.345 USD, 100.5 JPY): an
    order total with sub-minor-unit precision is a bug on the sender's side, not something to
    round silently.
    """
    if isinstance(raw, bool | float):
        raise MoneyError("amount must be a decimal string, not a float", field)
    if isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip()
        if not text or len(text) > 40:
            raise MoneyError("amount must be a decimal number such as 49.90", field)
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise MoneyError(f"amount {raw!r} is not a decimal number", field) from None
    else:
        raise MoneyError("amount must be a decimal number", field)
    if not value.is_finite():
        raise MoneyError("amount must be a finite number", field)
    if abs(value) > MAX_ABS_AMOUNT:
        raise MoneyError("amount is out of range", field)
    if value < 0 and not allow_negative:
        raise MoneyError("amount must not be negative", field)
    rounded = round_money(value, currency)
    if exact and rounded != value:
        raise MoneyError(
            f"amount has more decimals than {currency} allows ({minor_units(currency)})", field
        )
    return rounded


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal")

    @classmethod
    def of(cls, amount: object, currency: str) -> Money:
        cur = normalize_currency(currency)
        return cls(parse_amount(amount, cur, allow_negative=True, exact=False), cur)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(round_money(Decimal(0), currency), currency)

    def rounded(self) -> Money:
        return Money(round_money(self.amount, self.currency), self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def to_minor(self) -> int:
        return int(round_money(self.amount, self.currency).scaleb(minor_units(self.currency)))

    def __str__(self) -> str:
        return f"{round_money(self.amount, self.currency)} {self.currency}"
