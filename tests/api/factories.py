"""Build a network through the REST API, the way a real operator, advertiser and partner would.

Every helper asserts the answer it expects, so a broken endpoint fails at the helper with the
server's problem detail instead of somewhere later. Clicks, conversions and commissions have
no create endpoint (they come from the redirect and the postback pipeline), so `insert_*`
writes them straight through the models, in the test process's database session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from alliance.clock import utcnow
from alliance.commissions.models import Commission, LedgerEntry
from alliance.conversions.models import Conversion, ConversionEvent
from alliance.db.engine import transaction
from alliance.ids import new_id
from alliance.tracking.models import Click

API = "/api/v1"
DEFAULT_COMMISSION: dict[str, Any] = {"type": "cps", "percent": "10"}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def expect(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json()


def make_advertiser(
    http: httpx.Client,
    operator_key: str,
    *,
    currency: str = "SEK",
    country: str = "SE",
    **fields: Any,
) -> tuple[str, str]:
    """A self-service advertiser; returns (id, api_key)."""
    body = {"name": unique("Shop"), "country": country, "currency": currency, **fields}
    data = expect(http.post(f"{API}/advertisers", json=body, headers=auth(operator_key)), 201)
    return data["id"], data["api_key"]


def make_partner(
    http: httpx.Client,
    operator_key: str,
    *,
    type: str = "content",
    country: str = "DE",
    payout_currency: str = "EUR",
    **fields: Any,
) -> tuple[str, str]:
    """A partner; returns (id, api_key)."""
    body = {
        "name": unique("Partner"),
        "type": type,
        "country": country,
        "payout_currency": payout_currency,
        **fields,
    }
    data = expect(http.post(f"{API}/partners", json=body, headers=auth(operator_key)), 201)
    return data["id"], data["api_key"]


def make_program(
    http: httpx.Client,
    adv_key: str,
    *,
    commission: dict[str, Any] | None = None,
    landing_url: str = "https://shop.example/",
    **fields: Any,
) -> dict[str, Any]:
    """A program created with the advertiser's key; returns the API's answer."""
    body = {
        "name": unique("Program"),
        "landing_url": landing_url,
        "commission": commission or DEFAULT_COMMISSION,
        **fields,
    }
    data: dict[str, Any] = expect(
        http.post(f"{API}/programs", json=body, headers=auth(adv_key)), 201
    )
    return data


def apply(
    http: httpx.Client, program_id: str, partner_key: str, message: str = ""
) -> dict[str, Any]:
    url = f"{API}/programs/{program_id}/enrollments"
    data: dict[str, Any] = expect(
        http.post(url, json={"message": message}, headers=auth(partner_key)), 201
    )
    return data


def decide(
    http: httpx.Client, enrollment_id: str, action: str, key: str, **body: Any
) -> httpx.Response:
    return http.post(f"{API}/enrollments/{enrollment_id}/{action}", json=body, headers=auth(key))


def enroll_and_approve(
    http: httpx.Client,
    program_id: str,
    partner_key: str,
    adv_key: str,
    *,
    group: str | None = None,
) -> dict[str, Any]:
    """The partner applies and the advertiser approves; returns the approved enrollment."""
    enrollment = apply(http, program_id, partner_key)
    body = {"group": group} if group else {}
    data: dict[str, Any] = expect(decide(http, enrollment["id"], "approve", adv_key, **body), 200)
    return data


def make_link(
    http: httpx.Client, partner_key: str, program_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"program_id": program_id, **fields}
    data: dict[str, Any] = expect(
        http.post(f"{API}/links", json=body, headers=auth(partner_key)), 201
    )
    return data


def make_coupon(
    http: httpx.Client, adv_key: str, program_id: str, partner_id: str, code: str | None = None
) -> dict[str, Any]:
    body = {
        "program_id": program_id,
        "partner_id": partner_id,
        "code": code or f"SAVE{uuid.uuid4().hex[:8].upper()}",
    }
    data: dict[str, Any] = expect(
        http.post(f"{API}/coupons", json=body, headers=auth(adv_key)), 201
    )
    return data


@dataclass(frozen=True)
class Network:
    """One advertiser with one program and one approved partner holding a link and a coupon."""

    advertiser_id: str
    advertiser_key: str
    program: dict[str, Any]
    partner_id: str
    partner_key: str
    enrollment: dict[str, Any]
    link: dict[str, Any]
    coupon: dict[str, Any]

    @property
    def program_id(self) -> str:
        return str(self.program["id"])


def make_network(
    http: httpx.Client, operator_key: str, *, currency: str = "SEK", **program: Any
) -> Network:
    advertiser_id, adv_key = make_advertiser(http, operator_key, currency=currency)
    prog = make_program(http, adv_key, **program)
    partner_id, partner_key = make_partner(http, operator_key)
    enrollment = enroll_and_approve(http, prog["id"], partner_key, adv_key)
    link = make_link(http, partner_key, prog["id"])
    coupon = make_coupon(http, adv_key, prog["id"], partner_id)
    return Network(advertiser_id, adv_key, prog, partner_id, partner_key, enrollment, link, coupon)


# --- rows without a create endpoint ------------------------------------------------------------


def insert_click(
    program_id: str,
    partner_id: str,
    link_id: str,
    *,
    occurred_at: datetime | None = None,
    **fields: Any,
) -> str:
    click_id = new_id("clk")
    values: dict[str, Any] = {
        "landing_url": "https://shop.example/",
        "ip_hash": "0" * 32,
        "visitor_id": new_id("vis"),
        "device": "desktop",
        **fields,
    }
    with transaction() as session:
        session.add(
            Click(
                id=click_id,
                occurred_at=occurred_at or utcnow(),
                link_id=link_id,
                program_id=program_id,
                partner_id=partner_id,
                **values,
            )
        )
    return click_id


def insert_conversion(
    program_id: str,
    partner_id: str,
    *,
    currency: str = "SEK",
    amount: str = "1000.00",
    status: str = "pending",
    occurred_at: datetime | None = None,
    order_id: str | None = None,
    **fields: Any,
) -> str:
    """A conversion with its `created` history event (and a `completed` one if completed)."""
    conversion_id = new_id("cnv")
    when = occurred_at or utcnow()
    with transaction() as session:
        session.add(
            Conversion(
                id=conversion_id,
                program_id=program_id,
                partner_id=partner_id,
                order_id=order_id or f"order-{uuid.uuid4().hex[:10]}",
                kind="sale",
                status=status,
                currency=currency,
                amount=Decimal(amount),
                net_amount=Decimal(amount),
                attributed_by="click_id",
                occurred_at=when,
                completed_at=when if status == "completed" else None,
                **fields,
            )
        )
        session.flush()
        session.add(
            ConversionEvent(
                id=new_id("cve"),
                conversion_id=conversion_id,
                kind="created",
                status="pending",
                occurred_at=when,
            )
        )
        if status == "completed":
            session.add(
                ConversionEvent(
                    id=new_id("cve"),
                    conversion_id=conversion_id,
                    kind="completed",
                    status="completed",
                    occurred_at=when + timedelta(seconds=1),
                )
            )
    return conversion_id


def insert_commission(
    program_id: str,
    partner_id: str,
    conversion_id: str | None,
    *,
    currency: str = "SEK",
    entries: tuple[tuple[str, str, str], ...] = (("accrual", "pending", "100.00"),),
    status: str = "pending",
    occurred_at: datetime | None = None,
) -> str:
    """A commission with ledger entries (entry_type, bucket, signed amount)."""
    commission_id = new_id("com")
    amount = Decimal(entries[0][2]) if entries else Decimal(0)
    with transaction() as session:
        session.add(
            Commission(
                id=commission_id,
                source_key=conversion_id or f"cpc:{program_id}:{partner_id}:{commission_id}",
                kind="sale",
                conversion_id=conversion_id,
                program_id=program_id,
                partner_id=partner_id,
                status=status,
                currency=currency,
                amount=amount,
                rule={"type": "cps", "percent": "10"},
                arithmetic=f"10% of 1000.00 {currency} = {amount} {currency}",
                occurred_at=occurred_at or utcnow(),
            )
        )
        session.flush()
        for i, (entry_type, bucket, value) in enumerate(entries):
            session.add(
                LedgerEntry(
                    id=new_id("led"),
                    commission_id=commission_id,
                    program_id=program_id,
                    partner_id=partner_id,
                    currency=currency,
                    bucket=bucket,
                    entry_type=entry_type,
                    amount=Decimal(value),
                    idempotency_key=f"{commission_id}:{i}:{entry_type}:{bucket}",
                )
            )
    return commission_id
