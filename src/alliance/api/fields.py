"""Validated input types shared by the REST schemas.

Every text a client sends passes through one of these, so the rules (length limits, no control
characters, ISO codes, http(s) URLs) are the same on every endpoint and a refusal names the
field it came from. Control characters are refused because names and codes end up in CSV
exports, e-mails and HTTP headers, where a CR/LF is an injection, not a character.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import Annotated
from urllib.parse import urlsplit

import pycountry
from pydantic import AfterValidator, BeforeValidator, StringConstraints

from alliance.money import normalize_currency, round_money

# Starlette decodes query strings with errors="replace": invalid UTF-8 (`%FF`) arrives as U+FFFD.
_REPLACEMENT = "\ufffd"
# Zero-width (non-)joiners are format characters that real names need (emoji, Persian, Hindi).
_JOINERS = ("\u200c", "\u200d")


def plain_text(value: str) -> str:
    """Refuse control characters (CR, LF, NUL, ...) and undecodable bytes."""
    for char in value:
        if char == _REPLACEMENT:
            raise ValueError("must be valid UTF-8")
        if unicodedata.category(char) in ("Cc", "Cf") and char not in _JOINERS:
            raise ValueError("must not contain control characters")
    return value


def multiline_text(value: str) -> str:
    """Like plain_text, but descriptions and messages may have line breaks and tabs."""
    plain_text(value.replace("\r\n", "").replace("\n", "").replace("\t", ""))
    return value


def country_code(value: object) -> object:
    if not isinstance(value, str):
        return value  # the str type check reports it
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"unknown country {value[:8]!r}: expected an ISO 3166-1 alpha-2 code")
    return code


def currency_code(value: object) -> object:
    if not isinstance(value, str):
        return value
    return normalize_currency(value)  # MoneyError is a ValueError: becomes a 422 on the field


def http_url(value: str) -> str:
    """An absolute http(s) URL with a host; kept exactly as given (no normalisation)."""
    plain_text(value)
    if any(char.isspace() for char in value):
        raise ValueError("URL must not contain spaces")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        _ = parts.port  # raises on a non-numeric port
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("URL must start with http:// or https://")
    if not host:
        raise ValueError("URL must name a host")
    return value


_HOST_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"^{_HOST_LABEL}(\.{_HOST_LABEL})*$")


def hostname(value: str) -> str:
    host = value.strip().lower().rstrip(".")
    if len(host) > 253 or not _HOSTNAME.match(host):
        raise ValueError(f"{value[:40]!r} is not a hostname such as shop.example.com")
    return host


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")


def email_address(value: str) -> str:
    plain_text(value)
    if not _EMAIL.match(value):
        raise ValueError("not an e-mail address")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(plain_text),
]
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=64), AfterValidator(plain_text)
]
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(plain_text)
]
LongText = Annotated[str, StringConstraints(max_length=4000), AfterValidator(multiline_text)]
Message = Annotated[str, StringConstraints(max_length=2000), AfterValidator(multiline_text)]
Country = Annotated[str, BeforeValidator(country_code)]
Currency = Annotated[str, BeforeValidator(currency_code)]
Url = Annotated[str, StringConstraints(max_length=2048), AfterValidator(http_url)]
Hostname = Annotated[str, StringConstraints(max_length=253), AfterValidator(hostname)]
Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(email_address)]
SubId = Annotated[str, StringConstraints(max_length=255), AfterValidator(plain_text)]

# Public ids are a 3-letter prefix and 26 Crockford base32 characters (alliance.ids.new_id).
PUBLIC_ID_PATTERN = r"^[a-z]{3}_[0-9A-Z]{26}$"
_PUBLIC_ID = re.compile(PUBLIC_ID_PATTERN)


def is_public_id(value: str, prefix: str) -> bool:
    """True when `value` could be an id of this kind; checked before any query so that junk
    (NUL bytes, 10 KB strings) never reaches the database driver."""
    return value.startswith(prefix + "_") and _PUBLIC_ID.match(value) is not None


def _id(prefix: str) -> StringConstraints:
    return StringConstraints(pattern=rf"^{prefix}_[0-9A-Z]{{26}}$")


# Ids in bodies and query filters: a malformed one is a 422 naming the field.
OperatorId = Annotated[str, _id("opr")]
AdvertiserId = Annotated[str, _id("adv")]
PartnerId = Annotated[str, _id("ptn")]
ProgramId = Annotated[str, _id("prg")]
LinkId = Annotated[str, _id("lnk")]


def amount_text(amount: Decimal, currency: str) -> str:
    """An amount as the decimal string clients receive: exact, in the currency's minor unit.

    PostgreSQL hands NUMERIC(20, 6) back as 12.500000; clients should see 12.50 (and 1200 for
    JPY). Sub-minor-unit values never exist in storage, so this rounding changes nothing.
    """
    return str(round_money(amount, currency))
