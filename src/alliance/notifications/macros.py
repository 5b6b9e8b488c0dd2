"""Partner postback templates: a tracker URL with `{macro}` placeholders.

`https://tracker.example/pb?cid={click_id}&sum={amount}&st={status}` becomes, for one
conversion, `https://tracker.example/pb?cid=clk_01J...&sum=1250.00&st=completed`. Every value is
percent-encoded (RFC 3986 unreserved characters only stay as they are), so an order id like
`A&B=1` stays one value and can never add a parameter, change the path or the host. Macros
are allowed only after the host: the host of a call must be the one that was checked when the
template was saved, never one spelled by order data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

MACROS: dict[str, str] = {
    "click_id": "the click the conversion was attributed to (empty for coupon orders)",
    "sub1": "sub-id 1 of that click",
    "sub2": "sub-id 2 of that click",
    "sub3": "sub-id 3 of that click",
    "sub4": "sub-id 4 of that click",
    "sub5": "sub-id 5 of that click",
    "order_id": "the advertiser's order id",
    "amount": "the order amount, in {currency}",
    "currency": "the order currency (ISO 4217)",
    "commission": "the commission's current value, in {commission_currency}",
    "commission_currency": "the program currency the commission is paid in",
    "status": "the conversion status: pending, completed, declined or refunded",
    "refunded_amount": "the amount refunded so far, in {currency}",
    "conversion_id": "Alliance's id of the conversion",
    "program_id": "Alliance's id of the program",
    "event": "the event type, e.g. conversion.completed",
}

_MACRO = re.compile(r"\{([A-Za-z0-9_]*)\}")


def check_template(template: str) -> str:
    """Refuse unknown macros and macros before the path; return the template with every macro
    filled with a harmless sample value, for the URL checks (ssrf.check_url)."""
    unknown = sorted({m for m in _MACRO.findall(template) if m not in MACROS})
    if unknown:
        raise ValueError(
            f"unknown macro {{{unknown[0]}}}; known: "
            + ", ".join("{" + name + "}" for name in MACROS)
        )
    sample = _MACRO.sub("0", template)
    if "{" in sample or "}" in sample:
        raise ValueError("braces are only allowed around a macro name, like {order_id}")
    if _MACRO.search(urlsplit(template).netloc):
        raise ValueError("macros are only allowed in the path and the query, not in the host")
    return sample


def expand(template: str, values: Mapping[str, str | None]) -> str:
    """The template with every macro replaced by its percent-encoded value ("" if unknown)."""

    def one(match: re.Match[str]) -> str:
        return quote(values.get(match.group(1)) or "", safe="")

    return _MACRO.sub(one, template)


def macro_values(event_type: str, data: dict[str, object]) -> dict[str, str | None]:
    """Each macro's value for one conversion event's data (as routed: with `sub_ids`)."""

    def text(value: object) -> str | None:
        return None if value is None else str(value)

    commission = data.get("commission")
    commission = commission if isinstance(commission, dict) else {}
    subs = data.get("sub_ids")
    subs = subs if isinstance(subs, dict) else {}
    return {
        "click_id": text(data.get("click_id")),
        **{name: text(subs.get(name)) for name in ("sub1", "sub2", "sub3", "sub4", "sub5")},
        "order_id": text(data.get("order_id")),
        "amount": text(data.get("amount")),
        "currency": text(data.get("currency")),
        "commission": text(commission.get("value")),
        "commission_currency": text(commission.get("currency")),
        "status": text(data.get("status")),
        "refunded_amount": text(data.get("refunded_amount")),
        "conversion_id": text(data.get("id")),
        "program_id": text(data.get("program_id")),
        "event": event_type,
    }
