"""The normalized order fact every store webhook becomes, plus the strict readers behind it.

Webhook bodies come from code we do not control, in shapes that drift between API versions.
Every value is therefore read through the typed helpers below: a wrong type, a non-numeric
amount or an unknown currency becomes `Rejected("bad_payload", ..., field=<JSON path>)` and
never a KeyError or TypeError, so the inbox can store a reason a human can act on.

JSON is parsed with `parse_float=Decimal` (amounts never pass through a binary float) and
Python's arbitrary-size ints, so Shopify's ids beyond 2**53 stay exact.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from hashlib import sha256
from typing import Any, Literal
from urllib.parse import unquote

import pycountry

from alliance.conversions.postback import MAX_ORDER_ID, Rejected
from alliance.money import MoneyError, normalize_currency, parse_amount, round_money

Action = Literal["upsert", "refund", "ignore"]
FactStatus = Literal["pending", "completed", "declined"]
Item = tuple[str | None, str | None, Decimal, int]

# An Alliance click id: "clk_" + 26 Crockford base32 characters (see alliance.ids). Upper-case
# only, as ids are minted; a lower-cased id would not be found in the click table anyway.
CLICK_ID = re.compile(r"clk_[0-9A-HJKMNP-TV-Z]{26}")
# `alclid=<value>` as a query (or fragment) parameter anywhere in a URL, path or query string.
# `;` also counts as a separator so an HTML-escaped `&amp;alclid=` is found too.
_ALCLID_PARAM = re.compile(r"(?:^|[?&#;])alclid=([^&#;\s]*)", re.IGNORECASE)
# Dedup keys are stored in a 255-character column; longer ones are replaced by their hash.
MAX_DEDUP_KEY = 255
# Descriptive texts (sku, category, coupon code) longer than this are dropped, not truncated:
# a cut-off coupon code would silently match a different coupon.
MAX_TEXT = 255


class SignatureError(Exception):
    """Wrong, missing or stale signature.

    `.reason` is a machine code: missing_signature, bad_signature, stale_signature.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class OrderFact:
    """What one delivery says about one order, normalized.

    Amounts are exact Decimals in major units of `currency` (403.00 USD, 1500 JPY, 12.340 KWD),
    quantized to the currency's minor unit. Everything a platform does not state is None
    (tax and shipping: 0), never guessed.
    """

    order_id: str
    action: Action
    # For upsert: the order's state now; None for refund and ignore.
    status: FactStatus | None = None
    currency: str | None = None
    amount: Decimal | None = None  # gross order total
    tax: Decimal = Decimal(0)
    shipping: Decimal = Decimal(0)
    click_id: str | None = None
    coupons: tuple[str, ...] = ()
    customer_id: str | None = None
    buyer_country: str | None = None
    occurred_at: datetime | None = None
    # For refund: the platform's refund id (each refund is counted once by this key) and this
    # refund's amount, gross-equivalent.
    refund_key: str | None = None
    refund_amount: Decimal | None = None
    # The cumulative refunded total when the payload states it, gross-equivalent.
    cumulative_refund: Decimal | None = None
    # (sku, category, line net amount, quantity)
    items: tuple[Item, ...] = ()
    note: str = ""


def find_click_id(*texts: str | None) -> str | None:
    """First Alliance click id found in any of the texts, in argument order.

    A text counts when it *is* a click id (a cart attribute or `client_reference_id` holding
    the bare value) or contains an `alclid=<id>` parameter (a landing page URL). Anything else
    that merely looks similar is ignored: the shape check is what keeps a stranger's `ref=`
    value from being taken for a click.
    """
    for text in texts:
        if not isinstance(text, str):
            continue
        bare = text.strip()
        if CLICK_ID.fullmatch(bare):
            return bare
        for match in _ALCLID_PARAM.finditer(text):
            value = unquote(match.group(1)).strip()
            if CLICK_ID.fullmatch(value):
                return value
    return None


# --- signatures ------------------------------------------------------------------------------


def usable_keys(secrets: Iterable[str]) -> list[bytes]:
    """The secrets as HMAC keys, without empty ones.

    An empty key is a misconfiguration, not a secret: anyone can compute HMAC(b"", body), so
    it must never make a delivery pass.
    """
    return [secret.encode("utf-8") for secret in secrets if secret]


def check_base64_hmac(body: bytes, given: str | None, keys: Sequence[bytes], header: str) -> None:
    """Shopify's and WooCommerce's scheme: base64(HMAC-SHA256(key, raw body)) in one header.

    The header is decoded and digests are compared as bytes (constant time), so padding or
    a trailing newline in the header cannot make a correct signature fail.
    """
    if not given or not given.strip():
        raise SignatureError("missing_signature", f"the {header} header is missing")
    try:
        digest = base64.b64decode(given.strip(), validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        raise SignatureError("bad_signature", f"the {header} header is not base64") from None
    if not keys:
        raise SignatureError("bad_signature", "no webhook secret is configured")
    matched = False
    for key in keys:  # no early exit: every key costs the same
        expected = hmac.new(key, body, sha256).digest()
        matched |= hmac.compare_digest(expected, digest)
    if not matched:
        raise SignatureError("bad_signature", f"the {header} signature does not match")


def bounded_key(key: str | None) -> str | None:
    """A dedup key that fits its column: as it is when short and printable, else its hash.

    Hashing rather than truncating keeps two long keys that share a prefix apart.
    """
    if key is None or not key:
        return None
    if len(key) <= MAX_DEDUP_KEY and not _has_controls(key):
        return key
    digest = sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256:{digest}"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, stripped; None when absent or blank. Names are lower-case."""
    value = headers.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


# --- reading JSON ----------------------------------------------------------------------------


def bad(detail: str, path: str = "") -> Rejected:
    """The one refusal of this package: the payload is malformed or unsupported."""
    return Rejected("bad_payload", detail, field=path or "body")


def at(path: str, key: str | int) -> str:
    """The JSON path of `key` below `path` ("line_items.0.price")."""
    return f"{path}.{key}" if path else str(key)


def _no_constants(name: str) -> Any:
    raise bad(f"{name} is not a number")


def load_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; ints stay exact, fractions become Decimal."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise bad("the body is not valid UTF-8") from None
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        # ValueError also covers ints longer than Python's digit limit.
        raise bad("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise bad("the body must be a JSON object")
    return data


def try_load_object(body: bytes) -> dict[str, Any] | None:
    """Like `load_object`, but None instead of a refusal (for dedup keys and pings)."""
    try:
        return load_object(body)
    except Rejected:
        return None


def get_object(obj: Mapping[str, Any], key: str, path: str) -> dict[str, Any] | None:
    """A nested object; None when missing or null."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad(f"{at(path, key)} must be an object", at(path, key))
    return value


def get_list(obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
    """A nested list; empty when missing or null."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad(f"{at(path, key)} must be a list", at(path, key))
    return value


def get_objects(
    obj: Mapping[str, Any], key: str, path: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The objects of a nested list, each with its JSON path."""
    for index, entry in enumerate(get_list(obj, key, path)):
        where = at(at(path, key), index)
        if not isinstance(entry, dict):
            raise bad(f"{where} must be an object", where)
        yield where, entry


def get_id(obj: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
    """An identifier as text: a JSON int (kept exact at any size) or a string.

    Identifiers are keys in the database, so they are checked strictly: no control
    characters (PostgreSQL refuses NUL; CR/LF would split CSV rows) and a bounded length.
    """
    where = at(path, key)
    value = obj.get(key)
    text: str | None
    if isinstance(value, bool):
        raise bad(f"{where} must be an id, not a boolean", where)
    if isinstance(value, int):
        if value < 0:
            raise bad(f"{where} must not be negative", where)
        text = str(value)
    elif isinstance(value, str):
        text = value.strip() or None
    elif value is None:
        text = None
    else:
        raise bad(f"{where} must be an id (text or whole number)", where)
    if text is None:
        if required:
            raise bad(f"{where} is required", where)
        return None
    if len(text) > MAX_ORDER_ID:
        raise bad(f"{where} is longer than {MAX_ORDER_ID} characters", where)
    if _has_controls(text):
        raise bad(f"{where} contains control characters", where)
    return text


def require_id(obj: Mapping[str, Any], key: str, path: str) -> str:
    """`get_id` of a key that must be there."""
    text = get_id(obj, key, path, required=True)
    if text is None:  # pragma: no cover - get_id(required=True) refuses instead
        raise bad(f"{at(path, key)} is required", at(path, key))
    return text


def as_id(value: object) -> str | None:
    """`value` as an identifier if it is a usable one, else None (never refuses).

    For the places that only need a best-effort key (dedup keys, ignored events).
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value).strip()
    if not text or len(text) > MAX_ORDER_ID or _has_controls(text):
        return None
    return text


def clean_text(value: object) -> str | None:
    """A descriptive text (sku, category, coupon) or None when it is not usable as one.

    Lenient on purpose: a strange SKU must not cost the advertiser a whole paid order.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_TEXT or _has_controls(text):
        return None
    return text


def _has_controls(text: str) -> bool:
    return any(char < " " or "\x7f" <= char <= "\x9f" for char in text)


def get_currency(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    """An ISO 4217 code, upper-cased (Stripe sends "usd"); None when missing or null."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    try:
        return normalize_currency(value, at(path, key))
    except MoneyError as exc:
        raise bad(str(exc), at(path, key)) from None


def to_money(
    value: object,
    currency: str | None,
    where: str,
    *,
    allow_negative: bool = False,
    exact: bool = True,
) -> Decimal | None:
    """A decimal amount (text, JSON number) in `currency`; None when missing, null or "".

    `exact` refuses more decimals than the currency has: a total of 12.345 USD is a bug on the
    sender's side, not something to round silently.
    """
    if value is None or value == "":
        return None
    if currency is None:
        raise bad(f"{where} is an amount but the payload names no currency", where)
    try:
        return parse_amount(value, currency, where, allow_negative=allow_negative, exact=exact)
    except MoneyError as exc:
        raise bad(f"{where}: {exc}", where) from None


def get_money(
    obj: Mapping[str, Any],
    key: str,
    currency: str | None,
    path: str,
    *,
    allow_negative: bool = False,
    exact: bool = True,
) -> Decimal | None:
    """`to_money` of `obj[key]`."""
    return to_money(
        obj.get(key), currency, at(path, key), allow_negative=allow_negative, exact=exact
    )


def money_or_zero(
    obj: Mapping[str, Any],
    key: str,
    currency: str | None,
    path: str,
    *,
    allow_negative: bool = False,
    exact: bool = True,
) -> Decimal:
    """`get_money`, with a missing amount as zero (tax or shipping a payload does not state)."""
    amount = get_money(obj, key, currency, path, allow_negative=allow_negative, exact=exact)
    return zero(currency) if amount is None else amount


def zero(currency: str | None) -> Decimal:
    """0 at the currency's precision (0.00 USD, 0 JPY), so sums and notes print alike."""
    return round_money(Decimal(0), currency) if currency else Decimal(0)


def to_instant(value: object, where: str) -> datetime | None:
    """An ISO 8601 date-time as aware UTC; a naive one is taken as UTC (WooCommerce's *_gmt)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad(f"{where} must be an ISO 8601 date-time", where)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise bad(f"{where} is not an ISO 8601 date-time", where) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def from_unix(value: object, where: str) -> datetime | None:
    """Unix seconds (Stripe's `created`) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{where} must be unix seconds", where)
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise bad(f"{where} is out of range", where) from None


def country(value: object) -> str | None:
    """An ISO 3166-1 alpha-2 code, upper-cased, or None (a bad country never rejects an order)."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return None
    return code if pycountry.countries.get(alpha_2=code) is not None else None


def unique(texts: Iterable[str | None]) -> tuple[str, ...]:
    """The texts without None and repeats, first occurrence first."""
    return tuple(dict.fromkeys(text for text in texts if text is not None))
