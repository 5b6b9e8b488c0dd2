"""Ledger invariants over random event sequences (Hypothesis stateful), on the test database.

Each example is one order of one program driven through the service layer in random order:
complete, partial refunds with random cumulative amounts (including smaller ones arriving late
and replays), full refunds, declines, approval runs with time jumps, payouts, and replays of
whatever was applied last. After every step:

* the commission's value is the sum of its entries and equals what a simple model predicts;
* it never goes negative before payment and never exceeds the original amount;
* a full refund leaves exactly 0, status reversed, with at most one reversal entry;
* where the money sits (buckets) agrees with the status, as the reports sum it;
* replaying any step changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alliance.clock import utcnow
from alliance.commissions import service as ledger
from alliance.commissions.calculator import remaining_after_refund
from alliance.commissions.models import Bucket, Commission, LedgerEntry
from alliance.conversions import service as conversions
from alliance.conversions.models import Conversion
from alliance.conversions.postback import Rejected
from alliance.db.engine import reading, transaction
from alliance.ids import new_token
from alliance.programs.models import Program
from tests.conversions.factories import World, report, world

D = Decimal
CENT = D("0.01")
_WORLD: dict[str, World] = {}


def shared_world() -> World:
    if "w" not in _WORLD:
        _WORLD["w"] = world(terms={"type": "cps", "percent": "7.5"}, lock_days=30)
    return _WORLD["w"]


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.w = shared_world()
        self.clock = utcnow()
        self.last: Callable[[], None] | None = None
        # The model.
        self.refunded = D(0)
        self.declined = False
        self.completed = False
        self.approved = False
        self.paid = False
        self.paid_amount = D(0)

    @initialize(amount=st.integers(min_value=1, max_value=200_000))
    def create(self, amount: int) -> None:
        self.amount = D(amount) * CENT
        order_id = f"H-{new_token(9)}"
        with transaction() as session:
            program = session.get(Program, self.w.program_id)
            assert program is not None
            self.conversion_id = conversions.record(
                session, program, report(self.w, order_id, amount=self.amount), None, utcnow()
            ).conversion_id
        with reading() as session:
            com = session.scalars(
                select(Commission).where(Commission.source_key == self.conversion_id)
            ).one()
            self.commission_id, self.original = com.id, com.amount

    # --- helpers ---

    def _apply(self, step: Callable[[Session, Program, Conversion], Any]) -> bool:
        """Run one service step in its own transaction; False when it was refused."""
        try:
            with transaction() as session:
                conv = session.get(Conversion, self.conversion_id)
                program = session.get(Program, self.w.program_id)
                assert conv is not None and program is not None
                step(session, program, conv)
        except (Rejected, ledger.IllegalTransition):
            return False
        return True

    def _entries(self) -> int:
        with reading() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(LedgerEntry)
                    .where(LedgerEntry.commission_id == self.commission_id)
                )
                or 0
            )

    def _replay_changes_nothing(self, step: Callable[[], None]) -> None:
        before = (self._entries(), self._status())
        step()
        assert (self._entries(), self._status()) == before

    def _status(self) -> str:
        with reading() as session:
            status = session.scalar(
                select(Commission.status).where(Commission.id == self.commission_id)
            )
        assert status is not None
        return status

    # --- rules ---

    @rule()
    def complete(self) -> None:
        def step() -> None:
            now = self.clock
            ok = self._apply(lambda s, p, c: conversions.complete_conversion(s, p, c, None, now))
            if ok and not self.declined and self.refunded < self.amount:
                self.completed = True

        step()
        self.last = step

    @rule(share=st.integers(min_value=0, max_value=100))
    def refund(self, share: int) -> None:
        cumulative = (self.amount * share / 100).quantize(CENT)

        def step() -> None:
            ok = self._apply(
                lambda s, p, c: conversions.refund_conversion(s, c, cumulative, None, utcnow())
            )
            if ok and not self.declined:
                self.refunded = max(self.refunded, cumulative)

        step()
        self.last = step

    @rule()
    def full_refund(self) -> None:
        def step() -> None:
            ok = self._apply(
                lambda s, p, c: conversions.refund_conversion(s, c, c.amount, None, utcnow())
            )
            if ok and not self.declined:
                self.refunded = self.amount

        step()
        self.last = step

    @rule()
    def decline(self) -> None:
        def step() -> None:
            ok = self._apply(
                lambda s, p, c: conversions.decline_conversion(s, c, "test", None, utcnow())
            )
            if ok:
                self.declined = True

        step()
        self.last = step

    @rule(days=st.integers(min_value=0, max_value=45))
    def approve(self, days: int) -> None:
        self.clock += timedelta(days=days)

        def step() -> None:
            with transaction() as session:
                ledger.approve_due(session, self.clock)
            if self._status() == "approved":
                self.approved = True

        step()
        self.last = step

    @rule(ref=st.sampled_from(["pay_a", "pay_b"]))
    def pay(self, ref: str) -> None:
        def step() -> None:
            with reading() as session:
                approved = ledger.bucket_values(session, self.commission_id)[Bucket.approved]
            try:
                with transaction() as session:
                    ledger.mark_paid(session, self.commission_id, ref)
            except ledger.IllegalTransition:
                return
            if not self.paid:
                self.paid, self.paid_amount = True, approved

        step()
        self.last = step

    @rule()
    def replay_last(self) -> None:
        if self.last is not None:
            self._replay_changes_nothing(self.last)

    # --- invariants ---

    @invariant()
    def ledger_matches_the_model(self) -> None:
        if not hasattr(self, "commission_id"):
            return
        with reading() as session:
            value = ledger.commission_value(session, self.commission_id)
            buckets = ledger.bucket_values(session, self.commission_id)
            com = session.get(Commission, self.commission_id)
            assert com is not None
            status = com.status
            reversals = session.scalar(
                select(func.count())
                .select_from(LedgerEntry)
                .where(
                    LedgerEntry.commission_id == self.commission_id,
                    LedgerEntry.entry_type == "reversal",
                )
            )
        assert value == sum(buckets.values(), D(0))
        assert D(0) <= value <= self.original
        if self.declined or self.refunded >= self.amount:
            expected = D(0)
        else:
            expected = remaining_after_refund(self.original, self.amount, self.refunded, "EUR")
        assert value == expected, (value, expected, status)
        if self.refunded >= self.amount and not self.declined:
            assert status == "reversed" and value == 0
        assert (reversals or 0) <= 1
        # Buckets agree with the status (what the orders report sums by status).
        if status in ("pending", "declined"):
            assert buckets[Bucket.approved] == 0 and buckets[Bucket.paid] == 0
            assert buckets[Bucket.pending] == value
        if status == "approved":
            assert buckets[Bucket.pending] == 0 and buckets[Bucket.approved] == value >= 0
        if self.paid:
            assert buckets[Bucket.paid] == self.paid_amount
            assert buckets[Bucket.pending] == 0
            assert buckets[Bucket.approved] == value - self.paid_amount
        elif status != "reversed":
            assert min(buckets.values()) >= 0  # never negative before payment


LedgerMachine.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.usefixtures("db_url")
class TestLedgerInvariants(LedgerMachine.TestCase):  # type: ignore[name-defined,misc]
    pass
