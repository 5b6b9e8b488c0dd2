"""Property: whatever lifecycle each commission went through, the orders report's commission
figures are the ledger's sums, to the cent, and the refunds report's reversed commission is
exactly what reductions, reversals and adjustments took back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from alliance.commissions.models import EntryType, LedgerEntry
from alliance.db.engine import reading, transaction
from alliance.reports import queries
from alliance.reports.schemas import OrdersGroup, RefundsGroup

from .factory import Factory, Op, Plan

cents = st.integers(min_value=1, max_value=500_000).map(lambda c: Decimal(c).scaleb(-2))
op = st.one_of(
    st.sampled_from([Op("approve"), Op("pay"), Op("reverse"), Op("decline")]),
    cents.map(lambda amount: Op("refund", amount)),
)
commission = st.tuples(cents, st.lists(op, max_size=6), st.integers(min_value=0, max_value=8))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(commission, min_size=1, max_size=8))
def test_orders_report_equals_ledger_sums(
    db_url: str, commissions: list[tuple[Decimal, list[Op], int]]
) -> None:
    plans: list[tuple[Decimal, Plan]] = []
    with transaction() as session:
        f = Factory(session)
        advertiser, _ = f.advertiser("Prop advertiser")
        partner, _ = f.partner("Prop partner")
        program = f.program(advertiser, "Prop program", "EUR")
        for i, (amount, ops, day) in enumerate(commissions):
            when = datetime(2024, 3, 1 + day, 12, tzinfo=UTC)
            conversion = f.conversion(program, partner, f"p-{i}", when, str(amount * 10))
            _, plan = f.commission(conversion, str(amount), ops, step=timedelta(minutes=5))
            plans.append((amount, plan))
        program_id = program.id

    q = queries.ReportQuery(date(2024, 3, 1), date(2024, 3, 10), queries.operator_scope(program_id))
    with reading() as session:
        by_day = queries.orders_report(session, q, OrdersGroup.day)
        refunds = queries.refunds_report(session, q, RefundsGroup.day)
        ledger = session.execute(
            select(LedgerEntry.entry_type, LedgerEntry.amount).where(
                LedgerEntry.program_id == program_id
            )
        ).all()

    def by_status(status: str) -> Decimal:
        return sum((p.value for _, p in plans if p.status == status), Decimal(0))

    def original(status: str) -> Decimal:
        return sum((a for a, p in plans if p.status == status), Decimal(0))

    ledger_sum = sum((amount for _, amount in ledger), Decimal(0))
    [total] = by_day.totals
    c = total.commission
    # The reconciliation rule, against the database's own entries.
    assert c.pending + c.approved + c.paid == c.value == ledger_sum
    # And against the lifecycle that produced them.
    assert (c.pending, c.approved, c.paid) == (
        by_status("pending"),
        by_status("approved"),
        by_status("paid"),
    )
    assert (c.declined, c.reversed) == (original("declined"), original("reversed"))
    assert sum((r.commission.value for r in by_day.rows), Decimal(0)) == ledger_sum
    assert total.orders == len(commissions)

    taken_back = -sum(
        (
            amount
            for kind, amount in ledger
            if kind in (EntryType.reduction, EntryType.reversal, EntryType.adjustment)
        ),
        Decimal(0),
    )
    assert sum((t.reversed_commission for t in refunds.totals), Decimal(0)) == taken_back
