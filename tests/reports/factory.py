"""A small factory for report tests: rows inserted directly with the models.

The ledger follows the documented semantics (commissions/models.py): `plan_ledger` is a pure
planner that turns a lifecycle (approve, pay, partial refund, full refund, decline) into the
entries the commission service writes, so the property test can generate random lifecycles
and know the expected value of every commission independently of the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from alliance.accounts.models import Advertiser, Partner
from alliance.accounts.service import create_advertiser, create_partner
from alliance.commissions.models import Bucket, Commission, EntryType, LedgerEntry
from alliance.conversions.models import Conversion, ConversionEvent
from alliance.ids import PREFIXES, new_id, new_link_code
from alliance.programs.models import Enrollment, Program
from alliance.tracking.models import Click, Link

# --- the ledger, as the commission service writes it ------------------------------------


@dataclass(frozen=True)
class Op:
    """One lifecycle step: approve | pay | refund (partial, `amount`) | reverse | decline."""

    kind: str
    amount: Decimal = Decimal(0)


@dataclass
class Plan:
    status: str = "pending"
    entries: list[tuple[str, str, Decimal]] = field(default_factory=list)  # bucket, type, amt

    def balance(self, bucket: str) -> Decimal:
        return sum((a for b, _, a in self.entries if b == bucket), Decimal(0))

    @property
    def value(self) -> Decimal:
        return sum((a for _, _, a in self.entries), Decimal(0))


def plan_ledger(amount: Decimal, ops: list[Op]) -> Plan:
    """Entries for a commission of `amount` through `ops`; steps that cannot happen in the
    current status are skipped (as the service refuses them)."""
    plan = Plan(entries=[(Bucket.pending, EntryType.accrual, amount)])
    for op in ops:
        if plan.status in ("declined", "reversed"):
            break
        if op.kind == "approve" and plan.status == "pending":
            moved = plan.balance(Bucket.pending)
            plan.entries += [
                (Bucket.pending, EntryType.approval, -moved),
                (Bucket.approved, EntryType.approval, moved),
            ]
            plan.status = "approved"
        elif op.kind == "pay" and plan.status == "approved":
            moved = plan.balance(Bucket.approved)
            plan.entries += [
                (Bucket.approved, EntryType.payment, -moved),
                (Bucket.paid, EntryType.payment, moved),
            ]
            plan.status = "paid"
        elif op.kind == "refund" and 0 < op.amount < plan.value:
            if plan.status == "paid":  # after payout: carried to the next payout
                plan.entries.append((Bucket.approved, EntryType.adjustment, -op.amount))
            else:
                bucket = Bucket.pending if plan.status == "pending" else Bucket.approved
                plan.entries.append((bucket, EntryType.reduction, -op.amount))
        elif op.kind == "reverse":
            left = plan.value
            if plan.status == "paid":
                plan.entries.append((Bucket.approved, EntryType.adjustment, -left))
            else:
                bucket = Bucket.pending if plan.status == "pending" else Bucket.approved
                plan.entries.append((bucket, EntryType.reversal, -left))
            plan.status = "reversed"
        elif op.kind == "decline" and plan.status == "pending":
            plan.entries.append((Bucket.pending, EntryType.decline, -plan.balance(Bucket.pending)))
            plan.status = "declined"
    return plan


# --- rows -------------------------------------------------------------------------------


class Factory:
    def __init__(self, session: Session) -> None:
        self.session = session

    def advertiser(self, name: str) -> tuple[Advertiser, str]:
        return create_advertiser(self.session, name=name, country="DE", currency="EUR")

    def partner(self, name: str) -> tuple[Partner, str]:
        return create_partner(
            self.session, name=name, type="content", country="DE", payout_currency="EUR"
        )

    def program(self, advertiser: Advertiser, name: str, currency: str = "EUR") -> Program:
        program = Program(
            id=new_id(PREFIXES["program"]),
            advertiser_id=advertiser.id,
            name=name,
            currency=currency,
            landing_url="https://shop.example/",
            postback_token="t" * 32,
        )
        self.session.add(program)
        self.session.flush()
        return program

    def enroll(self, program: Program, partner: Partner) -> Enrollment:
        row = Enrollment(
            id=new_id(PREFIXES["enrollment"]),
            program_id=program.id,
            partner_id=partner.id,
            status="approved",
        )
        self.session.add(row)
        self.session.flush()
        return row

    def link(self, program: Program, partner: Partner, label: str = "") -> Link:
        row = Link(
            id=new_id(PREFIXES["link"]),
            code=new_link_code(),
            program_id=program.id,
            partner_id=partner.id,
            label=label,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def click(
        self,
        link: Link,
        at: datetime,
        visitor: str,
        *,
        bot: bool = False,
        sub1: str | None = None,
        country: str | None = None,
        device: str = "desktop",
        id_at: datetime | None = None,
    ) -> Click:
        """A click at `at`; its id carries the write time, `id_at` (default now), as the
        click writer's do: the traffic rollups' watermark follows ids, not `at`."""
        row = Click(
            id=new_id(PREFIXES["click"], id_at),
            occurred_at=at,
            link_id=link.id,
            program_id=link.program_id,
            partner_id=link.partner_id,
            visitor_id=visitor,
            sub1=sub1,
            landing_url="https://shop.example/",
            country=country,
            device="bot" if bot else device,
            ip_hash="h" * 32,
            is_bot=bot,
        )
        self.session.add(row)
        return row

    def conversion(
        self,
        program: Program,
        partner: Partner,
        order_id: str,
        at: datetime,
        amount: str,
        net: str | None = None,
        *,
        kind: str = "sale",
        currency: str | None = None,
        click: Click | None = None,
        buyer_country: str | None = None,
        click_path: list[dict[str, Any]] | None = None,
        customer: str | None = None,
    ) -> Conversion:
        row = Conversion(
            id=new_id(PREFIXES["conversion"]),
            program_id=program.id,
            partner_id=partner.id,
            order_id=order_id,
            kind=kind,
            status="pending",
            currency=currency or program.currency,
            amount=Decimal(amount),
            net_amount=Decimal(net if net is not None else amount),
            click_id=click.id if click else None,
            buyer_country=buyer_country,
            customer_id=customer,
            attributed_by="click_id" if click else "coupon",
            click_path=click_path or [],
            occurred_at=at,
        )
        self.session.add(row)
        self.session.flush()
        self.event(row, "created", "pending", at)
        return row

    def event(
        self,
        conversion: Conversion,
        kind: str,
        status: str,
        at: datetime,
        refunded: str | None = None,
        note: str | None = None,
    ) -> ConversionEvent:
        """A status change; for refunds `refunded` is the cumulative refunded amount."""
        conversion.status = status
        if refunded is not None:
            conversion.refunded_amount = Decimal(refunded)
        if kind == "completed":
            conversion.completed_at = at
        row = ConversionEvent(
            id=new_id(PREFIXES["conversion_event"]),
            conversion_id=conversion.id,
            kind=kind,
            status=status,
            refunded_amount=Decimal(refunded) if refunded else None,
            note=note,
            occurred_at=at,
        )
        self.session.add(row)
        return row

    def commission(
        self,
        conversion: Conversion,
        amount: str,
        ops: list[Op],
        at: datetime | None = None,
        step: timedelta = timedelta(hours=1),
        currency: str | None = None,
        earner: str | None = None,
    ) -> tuple[Commission, Plan]:
        """A commission on `conversion` and its ledger after `ops`; entry i is written at
        `at + i * step` (default: the order time). `earner`: another partner's commission
        on the order (a referral override) instead of the order partner's own."""
        cur = currency or conversion.currency
        plan = plan_ledger(Decimal(amount), ops)
        com = Commission(
            id=new_id(PREFIXES["commission"]),
            source_key=conversion.id if earner is None else f"override:{conversion.id}",
            kind=conversion.kind,
            conversion_id=conversion.id,
            program_id=conversion.program_id,
            partner_id=earner or conversion.partner_id,
            status=plan.status,
            currency=cur,
            amount=Decimal(amount),
            rule={"type": "cps", "percent": "10"},
            arithmetic=f"10% of {conversion.net_amount} {conversion.currency} = {amount} {cur}",
            occurred_at=conversion.occurred_at,
        )
        self.session.add(com)
        self.session.flush()
        start = at or conversion.occurred_at
        for i, (bucket, entry_type, value) in enumerate(plan.entries):
            self.session.add(
                LedgerEntry(
                    id=new_id(PREFIXES["ledger"]),
                    commission_id=com.id,
                    program_id=com.program_id,
                    partner_id=com.partner_id,
                    currency=cur,
                    bucket=bucket,
                    entry_type=entry_type,
                    amount=value,
                    idempotency_key=f"{com.id}:{i}",
                    created_at=start + i * step,
                )
            )
        self.session.flush()
        return com, plan

    def entry(
        self, com: Commission, bucket: str, entry_type: str, amount: str, at: datetime
    ) -> LedgerEntry:
        """One extra ledger entry at a chosen time (refunds that come days later)."""
        row = LedgerEntry(
            id=new_id(PREFIXES["ledger"]),
            commission_id=com.id,
            program_id=com.program_id,
            partner_id=com.partner_id,
            currency=com.currency,
            bucket=bucket,
            entry_type=entry_type,
            amount=Decimal(amount),
            idempotency_key=new_id("idem"),
            created_at=at,
        )
        self.session.add(row)
        self.session.flush()
        return row
