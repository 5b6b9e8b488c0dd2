"""The `data` of each event type, built from the rows of the change.

Amounts are decimal strings in the minor unit of the currency next to them (as in the REST
API), times are ISO 8601 UTC. One body goes to every recipient of an event, advertiser and
partner alike, so it carries only what both may see: the store's customer id stays out
(partners never see it, ConversionOut hides it from them too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.api.fields import amount_text
from alliance.commissions.models import Commission, LedgerEntry
from alliance.conversions.models import Conversion

if TYPE_CHECKING:
    from alliance.conversions.batch import NewConversion


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _money(amount: Decimal | None, currency: str) -> str | None:
    return None if amount is None else amount_text(amount, currency)


def commission_value(session: Session, commission_id: str) -> Decimal:
    """Σ of the commission's ledger entries, in Python (SQLite keeps amounts as text)."""
    total = Decimal(0)
    for amount in session.scalars(
        select(LedgerEntry.amount).where(LedgerEntry.commission_id == commission_id)
    ):
        total += amount
    return total


def _commission_summary(
    commission_id: str, status: str, currency: str, amount: Decimal, value: Decimal
) -> dict[str, Any]:
    return {
        "id": commission_id,
        "status": status,
        "currency": currency,
        "amount": _money(amount, currency),
        "value": _money(value, currency),
    }


def _conversion_data(row: Mapping[str, Any], commission: dict[str, Any] | None) -> dict[str, Any]:
    currency = row["currency"]
    return {
        "id": row["id"],
        "program_id": row["program_id"],
        "partner_id": row["partner_id"],
        "order_id": row["order_id"],
        "kind": row["kind"],
        "status": row["status"],
        "currency": currency,
        "amount": _money(row["amount"], currency),
        "net_amount": _money(row["net_amount"], currency),
        "refunded_amount": _money(row["refunded_amount"], currency),
        "click_id": row["click_id"],
        "coupon": row["coupon"],
        "attributed_by": row["attributed_by"],
        "occurred_at": iso(row["occurred_at"]),
        "completed_at": iso(row["completed_at"]),
        "decline_reason": row["decline_reason"],
        "commission": commission,
    }


def created_conversions(plans: Sequence[NewConversion]) -> list[dict[str, Any]]:
    """`conversion.created` data for new conversions inserted in bulk (conversions/batch.py):
    built from the rows in hand, without a query, because this runs on the ingest hot path."""
    found = []
    for plan in plans:
        com = plan.commission
        value = com["amount"] if plan.entry is not None else Decimal(0)
        summary = _commission_summary(
            com["id"], com["status"], com["currency"], com["amount"], value
        )
        found.append(_conversion_data(plan.conversion, summary))
    return found


def conversion_data(session: Session, conversion: Conversion) -> dict[str, Any]:
    """The data of a conversion event, with its commission as it stands after the change."""
    row = {column: getattr(conversion, column) for column in _CONVERSION_COLUMNS}
    commission = session.scalars(
        select(Commission).where(Commission.source_key == conversion.id)
    ).first()
    summary = None
    if commission is not None:
        summary = _commission_summary(
            commission.id,
            commission.status,
            commission.currency,
            commission.amount,
            commission_value(session, commission.id),
        )
    return _conversion_data(row, summary)


_CONVERSION_COLUMNS = (
    "id",
    "program_id",
    "partner_id",
    "order_id",
    "kind",
    "status",
    "currency",
    "amount",
    "net_amount",
    "refunded_amount",
    "click_id",
    "coupon",
    "attributed_by",
    "occurred_at",
    "completed_at",
    "decline_reason",
)


def commission_data(
    session: Session, commission: Commission, *, value: Decimal | None = None, **extra: Any
) -> dict[str, Any]:
    """The data of a commission event: the commission, its current value (summed from the
    ledger unless the caller has it), and `extra` (the payout reference of commission.paid)."""
    currency = commission.currency
    if value is None:
        value = commission_value(session, commission.id)
    return {
        "id": commission.id,
        "kind": commission.kind,
        "conversion_id": commission.conversion_id,
        "program_id": commission.program_id,
        "partner_id": commission.partner_id,
        "status": commission.status,
        "currency": currency,
        "amount": _money(commission.amount, currency),
        "value": _money(value, currency),
        "terms_version": commission.terms_version,
        "occurred_at": iso(commission.occurred_at),
        "approvable_at": iso(commission.approvable_at),
        "approved_at": iso(commission.approved_at),
        # Referral overrides say who pays them; a network-funded one never reaches the
        # advertiser (dispatch.py).
        **({"funded_by": commission.funded_by} if commission.funded_by else {}),
        **extra,
    }


def payout_data(
    payout_id: str,
    partner_id: str,
    currency: str,
    amount: Decimal,
    commission_ids: Sequence[str],
    paid_at: datetime,
    reference: str | None = None,
) -> dict[str, Any]:
    """The data of `payout.paid`, for the payout run to emit (issue 5): one payout to one
    partner, in the partner's currency."""
    return {
        "id": payout_id,
        "program_id": None,
        "partner_id": partner_id,
        "currency": currency,
        "amount": _money(amount, currency),
        "commission_ids": list(commission_ids),
        "paid_at": iso(paid_at),
        "reference": reference,
    }
