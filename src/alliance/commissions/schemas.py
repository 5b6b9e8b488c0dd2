"""REST shapes of commissions and their ledger entries."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from alliance.api.fields import amount_text
from alliance.commissions.models import (
    Bucket,
    Commission,
    CommissionKind,
    CommissionStatus,
    LedgerEntry,
)

_MONEY = "Decimal string in `currency`"


class LedgerEntryOut(BaseModel):
    id: str
    bucket: Bucket
    entry_type: str
    amount: str = Field(description=f"Signed. {_MONEY}")
    currency: str
    payout_amount: str | None = Field(
        default=None,
        description="The same in the commission's `payout_currency` at its approval rate "
        "(approved and paid buckets); null in pending",
    )
    reason: str
    created_at: datetime

    @classmethod
    def of(cls, row: LedgerEntry, payout_currency: str | None = None) -> LedgerEntryOut:
        return cls(
            id=row.id,
            bucket=Bucket(row.bucket),
            entry_type=row.entry_type,
            amount=amount_text(row.amount, row.currency),
            currency=row.currency,
            payout_amount=None
            if row.payout_amount is None or payout_currency is None
            else amount_text(row.payout_amount, payout_currency),
            reason=row.reason,
            created_at=row.created_at,
        )


class CommissionOut(BaseModel):
    id: str
    kind: CommissionKind
    conversion_id: str | None
    program_id: str
    partner_id: str
    status: CommissionStatus
    currency: str = Field(description="The program currency")
    amount: str = Field(description=f"As first computed, never changed. {_MONEY}")
    value: str = Field(description=f"Current value: the sum of the ledger entries. {_MONEY}")
    terms_id: str | None
    terms_version: int | None
    occurred_at: datetime
    approvable_at: datetime | None
    approved_at: datetime | None
    payout_currency: str | None = Field(
        default=None, description="The partner's payout currency, fixed at approval"
    )
    payout_rate: str | None = Field(
        default=None,
        description="The ECB rate of the approval day from `currency` to `payout_currency`",
    )
    payout_rate_day: date | None = Field(default=None, description="The ECB day of the rate")
    created_at: datetime

    @classmethod
    def of(cls, row: Commission, value: Decimal) -> CommissionOut:
        return cls(
            id=row.id,
            kind=CommissionKind(row.kind),
            conversion_id=row.conversion_id,
            program_id=row.program_id,
            partner_id=row.partner_id,
            status=CommissionStatus(row.status),
            currency=row.currency,
            amount=amount_text(row.amount, row.currency),
            value=amount_text(value, row.currency),
            terms_id=row.terms_id,
            terms_version=row.terms_version,
            occurred_at=row.occurred_at,
            approvable_at=row.approvable_at,
            approved_at=row.approved_at,
            payout_currency=row.payout_currency,
            payout_rate=None
            if row.payout_rate is None
            else format(row.payout_rate.normalize(), "f"),
            payout_rate_day=row.payout_rate_day,
            created_at=row.created_at,
        )


class CommissionDetail(CommissionOut):
    rule: dict[str, Any] = Field(description="The rule that produced the amount, as data")
    arithmetic: str = Field(description="The computation as a sentence a partner can check")
    balances: dict[str, str] = Field(
        description=f"Sum of entries per bucket (pending, approved, paid). {_MONEY}"
    )
    entries: list[LedgerEntryOut] = Field(description="The ledger, oldest first")

    @classmethod
    def of_entries(cls, row: Commission, entries: list[LedgerEntry]) -> CommissionDetail:
        balances = {bucket.value: Decimal(0) for bucket in Bucket}
        for entry in entries:
            balances[entry.bucket] = balances.get(entry.bucket, Decimal(0)) + entry.amount
        base = CommissionOut.of(row, sum((e.amount for e in entries), Decimal(0)))
        return cls(
            **base.model_dump(),
            rule=dict(row.rule or {}),
            arithmetic=row.arithmetic,
            balances={k: amount_text(v, row.currency) for k, v in balances.items()},
            entries=[LedgerEntryOut.of(entry, row.payout_currency) for entry in entries],
        )
