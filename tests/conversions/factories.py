"""Test data for the money path, inserted straight through the models (no API needed).

`world()` builds one advertiser with one program (terms version 1), one approved partner with
a link and a coupon; `click()` writes a click as the click writer would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from alliance.accounts.models import Advertiser, Partner
from alliance.clock import utcnow
from alliance.commissions.terms import parse_terms, terms_to_json
from alliance.conversions.models import CustomerBinding
from alliance.db.engine import transaction
from alliance.ids import PREFIXES, new_id, new_link_code, new_token
from alliance.programs.models import CommissionTerms, Coupon, Enrollment, Program
from alliance.tracking.models import Click, Link


@dataclass
class World:
    advertiser_id: str
    program_id: str
    token: str
    currency: str
    partner_id: str
    link_id: str
    coupon: str
    terms_id: str


def advertiser(session: Session, currency: str = "EUR") -> Advertiser:
    row = Advertiser(
        id=new_id(PREFIXES["advertiser"]),
        name="Shop",
        country="SE",
        currency=currency,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def partner(session: Session, name: str = "Blog") -> Partner:
    row = Partner(
        id=new_id(PREFIXES["partner"]),
        name=name,
        type="content",
        country="DE",
        payout_currency="EUR",
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def program(
    session: Session,
    advertiser_id: str,
    *,
    currency: str = "EUR",
    terms: dict[str, Any] | None = None,
    window_days: int = 30,
    lock_days: int = 30,
    priority: str = "coupon",
) -> tuple[Program, CommissionTerms]:
    row = Program(
        id=new_id(PREFIXES["program"]),
        advertiser_id=advertiser_id,
        name="Spring",
        currency=currency,
        landing_url="https://shop.example/",
        cookie_window_days=window_days,
        lock_period_days=lock_days,
        postback_token=new_token(),
        attribution_priority=priority,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    doc = parse_terms(terms or {"type": "cps", "percent": "10"}, currency)
    version = CommissionTerms(
        id=new_id(PREFIXES["terms"]),
        program_id=row.id,
        version=1,
        rules=terms_to_json(doc),
        created_at=utcnow(),
    )
    session.add(version)
    session.flush()
    return row, version


def enroll(
    session: Session,
    program_id: str,
    partner_id: str,
    status: str = "approved",
    group: str | None = None,
) -> Enrollment:
    row = Enrollment(
        id=new_id(PREFIXES["enrollment"]),
        program_id=program_id,
        partner_id=partner_id,
        status=status,
        group=group,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def link(session: Session, program_id: str, partner_id: str) -> Link:
    row = Link(
        id=new_id(PREFIXES["link"]),
        code=new_link_code(),
        program_id=program_id,
        partner_id=partner_id,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def coupon(session: Session, program_id: str, partner_id: str, code: str) -> Coupon:
    row = Coupon(
        id=new_id(PREFIXES["coupon"]),
        program_id=program_id,
        partner_id=partner_id,
        code=code,
        code_key=code.upper(),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def click(
    session: Session,
    link_row: Link,
    *,
    at: datetime | None = None,
    visitor_id: str | None = None,
    is_bot: bool = False,
) -> Click:
    row = Click(
        id=new_id(PREFIXES["click"]),
        occurred_at=at or utcnow() - timedelta(minutes=5),
        link_id=link_row.id,
        program_id=link_row.program_id,
        partner_id=link_row.partner_id,
        visitor_id=visitor_id or new_id(PREFIXES["visitor"]),
        landing_url="https://shop.example/",
        device="desktop",
        ip_hash="0" * 32,
        is_bot=is_bot,
    )
    session.add(row)
    session.flush()
    return row


def bind_customer(session: Session, program_id: str, customer_id: str, partner_id: str) -> None:
    session.add(
        CustomerBinding(
            program_id=program_id,
            customer_id=customer_id,
            partner_id=partner_id,
            first_conversion_id="cnv_seed",
            created_at=utcnow(),
        )
    )
    session.flush()


def world(
    *,
    currency: str = "EUR",
    terms: dict[str, Any] | None = None,
    window_days: int = 30,
    lock_days: int = 30,
    priority: str = "coupon",
) -> World:
    """A fresh advertiser, program, approved partner, link and coupon, committed."""
    with transaction() as session:
        adv = advertiser(session, currency)
        prog, version = program(
            session,
            adv.id,
            currency=currency,
            terms=terms,
            window_days=window_days,
            lock_days=lock_days,
            priority=priority,
        )
        ptn = partner(session)
        enroll(session, prog.id, ptn.id)
        lnk = link(session, prog.id, ptn.id)
        code = f"SAVE{new_token(4).upper().replace('-', 'X').replace('_', 'Y')}"
        coupon(session, prog.id, ptn.id, code)
        return World(
            adv.id, prog.id, prog.postback_token, currency, ptn.id, lnk.id, code, version.id
        )


def new_click(
    w: World,
    *,
    at: datetime | None = None,
    visitor_id: str | None = None,
    is_bot: bool = False,
    link_id: str | None = None,
) -> Click:
    with transaction() as session:
        lnk = session.get(Link, link_id or w.link_id)
        assert lnk is not None
        return click(session, lnk, at=at, visitor_id=visitor_id, is_bot=is_bot)


def report(w: World, order_id: str, **fields: Any) -> Any:
    """A validated conversion report, for driving the service layer in-process."""
    from decimal import Decimal

    from alliance.conversions.postback import ConversionInput

    values: dict[str, Any] = {
        "program_id": w.program_id,
        "order_id": order_id,
        "kind": "sale",
        "status": "pending",
        "currency": w.currency,
        "amount": Decimal("100.00"),
        "refund_amount": None,
        "tax": Decimal(0),
        "shipping": Decimal(0),
        "items": (),
        "click_id": None,
        "visitor_id": None,
        "coupon": w.coupon,
        "customer_id": None,
        "buyer_country": None,
        "new_customer": None,
        "occurred_at": None,
    }
    values.update(fields)
    return ConversionInput(**values)


def ledger_rows(commission_id: str) -> list[tuple[str, str, Any]]:
    """(bucket, entry_type, amount) of a commission's entries, oldest first."""
    from sqlalchemy import select

    from alliance.commissions.models import LedgerEntry
    from alliance.db.engine import reading

    with reading() as session:
        rows = session.execute(
            select(LedgerEntry.bucket, LedgerEntry.entry_type, LedgerEntry.amount)
            .where(LedgerEntry.commission_id == commission_id)
            .order_by(LedgerEntry.created_at, LedgerEntry.id)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]
