"""The public conversion parameters (postback and pixel): decoding, limits, types, signatures.

Pure functions over the raw request as stored in the inbox, so a live request and a
reprocessed one go through exactly the same code. Nothing here touches the database.

Every refusal is a `Rejected` with a stable machine `reason` (listed in docs/adr/0006) and the
`field` at fault. Decoding is strict and done here rather than by the framework: Starlette
replaces invalid UTF-8 with U+FFFD, which would silently store a different order id.

HMAC signatures (`signature=`, hex HMAC-SHA256 keyed with the program's postback token):
* query string and form bodies sign the **canonical query**: every parameter except
  `signature`, as decoded UTF-8 text, each name and value percent-encoded per RFC 3986
  (`urllib.parse.quote(text, safe="")`: only ``A-Z a-z 0-9 - . _ ~`` stay as they are, UTF-8
  bytes as upper-case ``%XX``), pairs joined as ``name=value``, sorted by name then value,
  joined by ``&``. Sorting and re-encoding make the signature independent of how a client
  orders or escapes its parameters (``+`` versus ``%20``).
* JSON bodies sign the raw body bytes as sent; the signature then travels in the query string
  (`?signature=…`) or in the `X-Alliance-Signature` header.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from hashlib import sha256
from typing import Any, Literal
from urllib.parse import quote, unquote_to_bytes

import pycountry

from alliance.errors import AllianceError
from alliance.money import MoneyError, is_currency, parse_amount

# Limits: a postback is a handful of short parameters; anything far beyond is an attack or a
# broken integration, refused with reason `oversized` before any work is done.
MAX_PARAMS = 64
MAX_NAME = 64
MAX_VALUE = 1024
MAX_ITEMS_TEXT = 65_536
MAX_ITEMS = 500
MAX_ORDER_ID = 128
MAX_CUSTOMER_ID = 128
MAX_COUPON = 64
# An order "from the future" beyond clock skew is a broken integration, not an order.
FUTURE_SKEW = timedelta(minutes=5)

Kind = Literal["sale", "lead"]
Status = Literal["pending", "completed", "declined", "refunded"]
STATUSES: tuple[str, ...] = ("pending", "completed", "declined", "refunded")

# reason -> HTTP status. Everything not listed is 422.
_HTTP_STATUS = {
    "bad_token": 401,
    "unknown_program": 404,
    "illegal_transition": 409,
    "oversized": 413,
}


class Rejected(AllianceError):
    """A refused inbound event: `reason` is a stable machine code, `field` the input at fault."""

    type_slug = "rejected-conversion"
    title = "Conversion rejected"

    def __init__(self, reason: str, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail, field=field, reason=reason)
        self.reason = reason
        self.status = _HTTP_STATUS.get(reason, 422)


@dataclass(frozen=True, slots=True)
class RawRequest:
    """An inbound request exactly as the inbox keeps it."""

    source: str  # postback | pixel
    method: str
    query: bytes
    headers: dict[str, str]  # lower-case names, already filtered by the inbox
    body: bytes = b""


Value = str | list[Any]


@dataclass(frozen=True, slots=True)
class Params:
    """Decoded parameters. `values` holds text, except `items` from a JSON body (a list)."""

    values: dict[str, Value]
    # The exact bytes the signature covers (canonical query or raw JSON body); empty when the
    # request carries no signature.
    signed_payload: bytes
    signature: str | None

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise Rejected("bad_value", f"{name} must be text", field=name)
        value = value.strip()
        return value or None


@dataclass(frozen=True, slots=True)
class LineInput:
    sku: str | None
    category: str | None
    amount: Decimal  # the line's net amount (all units together), order currency
    quantity: int


@dataclass(frozen=True, slots=True)
class ConversionInput:
    """A validated conversion report, ready for attribution and the ledger."""

    program_id: str
    order_id: str
    kind: Kind
    status: Status
    currency: str
    amount: Decimal | None  # None on a status update that does not repeat it
    refund_amount: Decimal | None  # cumulative gross refunded so far
    tax: Decimal
    shipping: Decimal
    items: tuple[LineInput, ...]
    click_id: str | None
    visitor_id: str | None  # pixel only: from the alc_{program} cookie
    coupon: str | None
    customer_id: str | None
    buyer_country: str | None
    new_customer: bool | None
    occurred_at: datetime | None
    extra: dict[str, str] = field(default_factory=dict)
    # `currency` was sent (else it is the program's): a follow-up that names one must name
    # the order's own.
    currency_given: bool = False


# --- decoding --------------------------------------------------------------------------------


def _decode(raw: bytes, what: str) -> str:
    try:
        text = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(
            "bad_encoding", f"{what} is not valid UTF-8 after percent-decoding", field=what
        ) from None
    return text


def _check_text(name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise Rejected("oversized", f"{name} is longer than {limit} characters", field=name)
    for char in value:
        # C0 controls (CR, LF, NUL, TAB...), DEL and C1: they would split CSV rows and
        # headers downstream, and PostgreSQL refuses NUL outright.
        if char < " " or "\x7f" <= char <= "\x9f":
            raise Rejected("bad_encoding", f"{name} contains control characters", field=name)


def _split_query(raw: bytes) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    if not raw:
        return pairs
    for chunk in raw.split(b"&"):
        if not chunk:
            continue
        raw_name, _, raw_value = chunk.partition(b"=")
        if len(raw_name) > MAX_NAME * 3:
            raise Rejected("oversized", "a parameter name is too long", field="query")
        name = _decode(raw_name, "query")
        _check_text("query", name, MAX_NAME)
        value = _decode(raw_value, name)
        pairs.append((name, value))
        if len(pairs) > MAX_PARAMS:
            raise Rejected("oversized", f"more than {MAX_PARAMS} parameters", field="query")
    return pairs


def canonical_query(pairs: list[tuple[str, str]]) -> bytes:
    """The bytes a query or form signature covers (see the module docstring)."""
    kept = sorted((n, v) for n, v in pairs if n != "signature")
    return "&".join(f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in kept).encode("ascii")


def _json_params(body: bytes) -> dict[str, Value]:
    def no_constants(name: str) -> Any:
        raise Rejected("bad_amount", f"{name} is not a number", field="body")

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected("bad_encoding", "the JSON body is not valid UTF-8", field="body") from None
    try:
        # parse_float=Decimal: amounts never pass through a binary float.
        data = json.loads(text, parse_float=Decimal, parse_constant=no_constants)
    except (ValueError, RecursionError):
        raise Rejected("bad_encoding", "the body is not valid JSON", field="body") from None
    if not isinstance(data, dict):
        raise Rejected("bad_value", "the JSON body must be an object", field="body")
    if len(data) > MAX_PARAMS:
        raise Rejected("oversized", f"more than {MAX_PARAMS} parameters", field="body")
    values: dict[str, Value] = {}
    for name, value in data.items():
        _check_text("body", name, MAX_NAME)
        if value is None:
            continue
        if isinstance(value, bool):
            values[name] = "true" if value else "false"
        elif isinstance(value, int | Decimal):
            values[name] = str(value)
        elif isinstance(value, float):  # pragma: no cover - parse_float makes this impossible
            raise Rejected("bad_amount", f"{name} must not be a float", field=name)
        elif isinstance(value, str) or (isinstance(value, list) and name == "items"):
            values[name] = value
        else:
            raise Rejected("bad_value", f"{name} must be a text or a number", field=name)
    return values


def decode_params(raw: RawRequest, max_body: int) -> Params:
    """Decode query string and body (form or JSON) into one parameter map."""
    if raw.headers.get("x-alliance-truncated"):
        raise Rejected("oversized", f"the body is larger than {max_body} bytes", field="body")
    pairs = _split_query(raw.query)
    body_pairs: list[tuple[str, str]] = []
    json_values: dict[str, Value] = {}
    is_json = False
    if raw.body:
        if len(raw.body) > max_body:
            raise Rejected("oversized", f"the body is larger than {max_body} bytes", field="body")
        content_type = raw.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in ("application/json", "text/json") or content_type.endswith("+json"):
            json_values = _json_params(raw.body)
            is_json = True
        elif content_type in ("application/x-www-form-urlencoded", ""):
            body_pairs = _split_query(raw.body)
        else:
            raise Rejected(
                "bad_encoding",
                "send parameters in the query, as a form or as a JSON object",
                field="content-type",
            )
    values: dict[str, Value] = {}
    for name, value in [*pairs, *body_pairs, *json_values.items()]:
        if name in values:
            raise Rejected("bad_value", f"{name} is given more than once", field=name)
        if isinstance(value, str):
            _check_text(name, value, MAX_ITEMS_TEXT if name == "items" else MAX_VALUE)
        values[name] = value
    signature = raw.headers.get("x-alliance-signature")
    sig_value = values.pop("signature", None)
    if isinstance(sig_value, str):
        signature = sig_value
    signed = b""  # only a signature is checked against it: skip the sort and re-encoding
    if signature is not None:
        signed = raw.body if is_json else canonical_query([*pairs, *body_pairs])
    return Params(values=values, signed_payload=signed, signature=signature)


# --- authentication --------------------------------------------------------------------------


def sign(payload: bytes, token: str) -> str:
    return hmac.new(token.encode("utf-8"), payload, sha256).hexdigest()


def authenticate(params: Params, postback_token: str) -> None:
    """`token=` equal to the program's token, or a valid `signature=`; constant-time compares."""
    token = params.values.get("token")
    if isinstance(token, str) and token:
        if hmac.compare_digest(token.encode("utf-8"), postback_token.encode("utf-8")):
            return
        raise Rejected("bad_token", "the postback token is wrong for this program", field="token")
    if params.signature:
        expected = sign(params.signed_payload, postback_token)
        if hmac.compare_digest(
            params.signature.strip().lower().encode("utf-8"), expected.encode("ascii")
        ):
            return
        raise Rejected("bad_token", "the HMAC signature does not match", field="signature")
    raise Rejected("bad_token", "authenticate with token= or signature=", field="token")


# --- typed fields ----------------------------------------------------------------------------


def _money(params: Params, name: str, currency: str) -> Decimal | None:
    raw = params.text(name)
    if raw is None:
        return None
    try:
        return parse_amount(raw, currency, name)
    except MoneyError as exc:
        raise Rejected("bad_amount", str(exc), field=name) from None


def _bool(params: Params, name: str) -> bool | None:
    raw = params.text(name)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "y"):
        return True
    if lowered in ("0", "false", "no", "n"):
        return False
    raise Rejected("bad_value", f"{name} must be true or false", field=name)


def _instant(params: Params, name: str, now: datetime) -> datetime | None:
    raw = params.text(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Rejected(
            "bad_value",
            f"{name} must be an ISO 8601 date-time such as 2024-05-31T12:00:00Z",
            field=name,
        ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment > now + FUTURE_SKEW:
        raise Rejected("bad_value", f"{name} is in the future", field=name)
    if moment.year < 2000:
        raise Rejected("bad_value", f"{name} is too far in the past", field=name)
    return moment


def _items(params: Params, currency: str) -> tuple[LineInput, ...]:
    raw = params.values.get("items")
    if raw is None or raw == "":
        return ()
    if isinstance(raw, str):
        try:
            data = json.loads(raw, parse_float=Decimal)
        except (ValueError, RecursionError):
            raise Rejected("bad_value", "items must be a JSON list", field="items") from None
    else:
        data = raw
    if not isinstance(data, list):
        raise Rejected("bad_value", "items must be a JSON list", field="items")
    if len(data) > MAX_ITEMS:
        raise Rejected("oversized", f"more than {MAX_ITEMS} items", field="items")
    lines: list[LineInput] = []
    for i, item in enumerate(data):
        where = f"items.{i}"
        if not isinstance(item, dict):
            raise Rejected("bad_value", f"{where} must be an object", field=where)
        texts: dict[str, str | None] = {}
        for key in ("sku", "category"):
            value = item.get(key)
            if value is not None and not isinstance(value, str):
                raise Rejected("bad_value", f"{where}.{key} must be text", field=f"{where}.{key}")
            if isinstance(value, str):
                _check_text(f"{where}.{key}", value, 128)
            texts[key] = value.strip() if isinstance(value, str) and value.strip() else None
        amount_raw = item.get("amount")
        if amount_raw is None:
            raise Rejected("missing_field", f"{where}.amount is required", field=f"{where}.amount")
        try:
            amount = parse_amount(
                str(amount_raw)
                if isinstance(amount_raw, int | Decimal) and not isinstance(amount_raw, bool)
                else amount_raw,
                currency,
                f"{where}.amount",
            )
        except MoneyError as exc:
            raise Rejected("bad_amount", str(exc), field=f"{where}.amount") from None
        quantity = item.get("quantity", 1)
        if isinstance(quantity, str) and quantity.isdigit():
            quantity = int(quantity)
        whole = isinstance(quantity, int) and not isinstance(quantity, bool)
        if not whole or not 1 <= quantity <= 10**6:
            raise Rejected(
                "bad_value",
                f"{where}.quantity must be a whole number from 1",
                field=f"{where}.quantity",
            )
        lines.append(LineInput(texts["sku"], texts["category"], amount, quantity))
    return tuple(lines)


def read_conversion(
    params: Params,
    *,
    program_id: str,
    program_currency: str,
    now: datetime,
    visitor_id: str | None = None,
) -> ConversionInput:
    """Check every field's type and range. A missing `currency` means the program's; an
    order in another currency is converted into the program's when it is priced
    (docs/exchange-rates.md), so any ISO 4217 code is accepted here.
    """
    order_id = params.text("order_id")
    if order_id is None:
        raise Rejected("missing_field", "order_id is required", field="order_id")
    _check_text("order_id", order_id, MAX_ORDER_ID)
    event = (params.text("event") or "sale").lower()
    if event not in ("sale", "lead"):
        raise Rejected("bad_value", "event must be sale or lead", field="event")
    status = (params.text("status") or "pending").lower()
    if status not in STATUSES:
        raise Rejected(
            "bad_status",
            "status must be pending, completed, declined or refunded",
            field="status",
        )
    currency_raw = params.text("currency")
    currency = program_currency
    if currency_raw is not None:
        currency = currency_raw.upper()
        if not is_currency(currency):
            raise Rejected(
                "unknown_currency", f"unknown currency {currency_raw[:12]!r}", field="currency"
            )
    amount = _money(params, "amount", currency)
    tax = _money(params, "tax", currency) or Decimal(0)
    shipping = _money(params, "shipping", currency) or Decimal(0)
    refund_amount = _money(params, "refund_amount", currency)
    if refund_amount is not None and status != "refunded":
        if refund_amount != 0:
            raise Rejected(
                "bad_value", "refund_amount goes with status=refunded", field="refund_amount"
            )
        refund_amount = None
    if amount is not None:
        if tax + shipping > amount:
            raise Rejected("bad_amount", "tax and shipping exceed the amount", field="tax")
        if refund_amount is not None and refund_amount > amount:
            raise Rejected(
                "bad_amount",
                "refund_amount is more than the order amount",
                field="refund_amount",
            )
    country = params.text("country")
    if country is not None:
        country = country.upper()
        if len(country) != 2 or pycountry.countries.get(alpha_2=country) is None:
            raise Rejected(
                "bad_value", "country must be an ISO 3166-1 alpha-2 code", field="country"
            )
    click_id = params.text("click_id") or params.text("alclid")
    if click_id is not None:
        _check_text("click_id", click_id, 64)
    coupon = params.text("coupon")
    if coupon is not None:
        _check_text("coupon", coupon, MAX_COUPON)
    customer_id = params.text("customer_id")
    if customer_id is not None:
        _check_text("customer_id", customer_id, MAX_CUSTOMER_ID)
    return ConversionInput(
        program_id=program_id,
        order_id=order_id,
        kind="lead" if event == "lead" else "sale",
        status=status,  # type: ignore[arg-type]  # checked against STATUSES above
        currency=currency,
        amount=amount,
        refund_amount=refund_amount,
        tax=tax,
        shipping=shipping,
        items=_items(params, currency),
        click_id=click_id,
        visitor_id=visitor_id,
        coupon=coupon,
        customer_id=customer_id,
        buyer_country=country,
        new_customer=_bool(params, "new_customer"),
        currency_given=currency_raw is not None,
        occurred_at=_instant(params, "occurred_at", now),
    )
