"""A small network for matching: shops with categorised programs, partners with stated
categories, enrollments, orders with categorised lines, and clicks of chosen visitors.

Categories carry a per-test tag (`Tags`), so the counts other tests add to the shared
database never touch the ones asserted here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert

from alliance.accounts.service import create_advertiser, create_partner
from alliance.clock import utcnow
from alliance.conversions.models import Conversion
from alliance.db.engine import transaction
from alliance.ids import PREFIXES, new_id
from alliance.programs.models import Program
from tests.conversions.factories import enroll, link, program
from tests.crosspromo.overlap_factories import Account, Audience, visit, visitors

__all__ = ["Account", "Audience", "Tags", "enrolled", "orders", "partner", "shop", "visit"]


@dataclass(frozen=True)
class Tags:
    """Category names unique to one test module."""

    tag: str

    @classmethod
    def new(cls) -> Tags:
        return cls(uuid.uuid4().hex[:8])

    def __call__(self, name: str) -> str:
        return f"{name}-{self.tag}"


def shop(
    category: str, *, name: str = "Shop", description: str = "", status: str = "active"
) -> tuple[Account, str]:
    """An advertiser (with its API key) and one program of `category`."""
    with transaction() as session:
        row, key = create_advertiser(session, name=name, country="SE", currency="EUR")
        prog, _ = program(session, row.id)
        stored = session.get(Program, prog.id)
        assert stored is not None
        stored.name = name
        stored.category = category
        stored.description = description
        stored.status = status
        return Account(row.id, key), prog.id


def partner(
    *, name: str = "Blog", categories: list[str] | None = None, audience: str = ""
) -> Account:
    with transaction() as session:
        row, key = create_partner(
            session,
            name=name,
            type="content",
            country="DE",
            payout_currency="EUR",
            categories=categories or [],
            audience=audience,
        )
        return Account(row.id, key)


def enrolled(program_id: str, partner_id: str, status: str = "approved") -> Audience:
    """Enroll the partner and give it a link in the program (its clicks go through it)."""
    with transaction() as session:
        enroll(session, program_id, partner_id, status=status)
        tracking_link = link(session, program_id, partner_id)
        session.expunge(tracking_link)
    return Audience(Account(partner_id, ""), tracking_link)


def orders(
    program_id: str,
    partner_id: str,
    lines: list[str | None],
    *,
    count: int = 1,
    customer: str | None = "new",
    status: str = "completed",
    at: datetime | None = None,
) -> list[str]:
    """`count` sale orders, each with one line per entry of `lines` (its category; None: a
    line without one). customer "new": a customer id of its own per order; None: none."""
    when = at or utcnow() - timedelta(days=1)
    rows: list[dict[str, Any]] = []
    for _ in range(count):
        items = [{"sku": None, "category": c, "amount": "10.00", "quantity": 1} for c in lines]
        rows.append(
            {
                "id": new_id(PREFIXES["conversion"]),
                "program_id": program_id,
                "partner_id": partner_id,
                "order_id": uuid.uuid4().hex,
                "kind": "sale",
                "status": status,
                "currency": "EUR",
                "amount": Decimal("10.00") * max(1, len(lines)),
                "net_amount": Decimal("10.00") * max(1, len(lines)),
                "items": items,
                "customer_id": uuid.uuid4().hex if customer == "new" else customer,
                "attributed_by": "coupon",
                "occurred_at": when,
                "created_at": when,
            }
        )
    with transaction() as session:
        session.execute(insert(Conversion), rows)
    return [row["id"] for row in rows]


def clicks(audience: Audience, prefix: str, numbers: range) -> int:
    """Valid clicks of visitors `prefix` + each number through the audience's link."""
    return visit(audience, visitors(prefix, numbers))
