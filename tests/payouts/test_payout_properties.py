"""Payouts over random amounts, currencies, days and ECB rates (issue 5, point 10).

Each example is a fresh partner paid in a random payout currency (EUR, USD, SEK, JPY) by a
program in a random currency (EUR, SEK, USD, JPY, GBP, NOK) at 100 % of the order, so a
commission is exactly the drawn amount, from one minor unit up to 10^10 of them. The
commissions are approved at random moments of far-future months (first and last instants
included) whose ECB rates the example stores itself, different every day; each test has its
own years, so neither the bundled history nor another test's rates are involved.

A model books what the ledger should: the approval and each refund (before or after a payout)
books the commission's new value at its approval-day rate, rounded half-even to the payout
currency's minor unit, less what was booked before; a full refund takes back exactly that; a payout
settles each commission's unsettled entries as one line; a failed payout gives its lines
back. After every run, and at the end, the database must agree with the model and:

* nothing is created or lost: a payout is the sum of its lines, and the partner's priced
  money (every priced entry, as booked) is what the payouts paid plus what waits in the
  approved bucket; a commission refunded in full is worth exactly nothing in both currencies;
* a commission is always worth round(value x rate) in the payout currency, so a line that
  pays all of it is within half a minor unit of its amount x its rate (the last test is the
  smallest case that converting each refund on its own got wrong); a line of a refund after
  an earlier payout is within one, and the commission's lines together within half;
* a run that pays nothing (a balance at or below zero, or under the threshold) moves nothing,
  and a failed payout returns exactly what it took.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from alliance.clock import utcnow
from alliance.commissions.models import Bucket, EntryType, LedgerEntry
from alliance.conversions import service as conversions
from alliance.conversions.models import Conversion
from alliance.db.engine import reading, transaction
from alliance.money import minor_units, quantum, round_money
from alliance.payouts import fx
from alliance.payouts import service as payouts
from alliance.payouts.models import Payout, PayoutLine
from tests.conversions.factories import World
from tests.payouts.factories import approved, payee

D = Decimal
pytestmark = pytest.mark.usefixtures("db_url")

PROGRAM_CURRENCIES = ("EUR", "SEK", "USD", "JPY", "GBP", "NOK")
PAYOUT_CURRENCIES = ("EUR", "USD", "SEK", "JPY")
# Units per euro the ECB could publish: (lowest, highest, most decimals).
PER_EUR = {
    "SEK": (D("8"), D("15"), 4),
    "USD": (D("0.8"), D("1.6"), 4),
    "JPY": (D("100"), D("200"), 2),
    "GBP": (D("0.6"), D("1"), 5),
    "NOK": (D("8"), D("14"), 4),
}
TEN_DIGITS = Context(prec=10)  # cross rates, as fx.quote rounds them
# Entries that put money in the approved bucket (at the approval rate; a full refund takes
# back what was booked); payments and returns only move it between buckets.
PRICED = {EntryType.approval, EntryType.reduction, EntryType.reversal, EntryType.adjustment}
SETTLED = ("created", "sent", "paid")  # payouts whose money left the balance

PROPERTIES = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


# --- the plan an example follows --------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    program: str  # the program currency
    payout: str  # the partner's payout currency
    threshold: Decimal  # in the payout currency
    months: tuple[tuple[int, int], ...]  # (year, month) of each period run, in order
    sales: tuple[tuple[Decimal, datetime], ...]  # commission and its approval moment
    per_eur: dict[date, dict[str, Decimal]]  # the rates stored for each approval day
    # refunds[stage]: (sale, value left) applied before run `stage` (after the last run for
    # the last stage); a value left of 0 is a full refund.
    refunds: tuple[tuple[tuple[int, Decimal], ...], ...]
    fail: tuple[str | None, ...]  # per run: None, or how its payout fails ("created"/"sent")


def _add_months(year: int, month: int, count: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + count
    return index // 12, index % 12 + 1


def _amounts(currency: str) -> st.SearchStrategy[Decimal]:
    """A commission: tiny (from one minor unit), ordinary or large (up to 10^10 minor units)."""
    units = st.one_of(st.integers(1, 9), st.integers(10, 100_000), st.integers(100_000, 10**10))
    return units.map(lambda n: D(n).scaleb(-minor_units(currency)))


def _moments(year: int, month: int) -> st.SearchStrategy[datetime]:
    last = calendar.monthrange(year, month)[1]
    first_instant = datetime(year, month, 1, tzinfo=UTC)
    last_instant = datetime(year, month, last, 23, 59, 59, 999999, tzinfo=UTC)
    inside = st.builds(
        lambda day, second: datetime(year, month, day, tzinfo=UTC) + timedelta(seconds=second),
        st.integers(1, last),
        st.integers(0, 86_399),
    )
    return st.one_of(st.sampled_from([first_instant, last_instant]), inside)


def _per_eur(currency: str) -> st.SearchStrategy[Decimal]:
    """A rate as the ECB publishes it, sometimes with few digits (more rounding ties)."""
    low, high, most = PER_EUR[currency]

    def scaled(digits: int) -> st.SearchStrategy[Decimal]:
        scale = 10**digits
        return st.integers(int(low * scale), int(high * scale)).map(lambda n: D(n).scaleb(-digits))

    return st.integers(1, most).flatmap(scaled)


@st.composite
def plans(
    draw: st.DrawFn,
    *,
    years: tuple[int, int],
    runs: int,
    sale_months: int,
    refund_stages: frozenset[int],
    fail: Callable[[int], st.SearchStrategy[str | None]],
    sale_count: tuple[int, int] = (1, 4),
    positive: bool = False,
    thresholds: st.SearchStrategy[int] | None = None,
) -> Plan:
    """Sales approved in the first `sale_months` months (the month after the last run's, too,
    when `sale_months` > `runs`: money the runs must leave alone), refunds before the runs of
    `refund_stages` (stage `runs`: after the last run), payouts failed as `fail` draws.
    `positive`: refunds always leave something."""
    program = draw(st.sampled_from(PROGRAM_CURRENCIES))
    payout = draw(st.sampled_from(PAYOUT_CURRENCIES))
    threshold_units = draw(
        st.one_of(st.just(0), st.integers(1, 10_000)) if thresholds is None else thresholds
    )
    threshold = D(threshold_units).scaleb(-minor_units(payout))
    first = (draw(st.integers(*years)), draw(st.integers(1, 12)))
    months = tuple(_add_months(*first, n) for n in range(max(runs, sale_months)))
    count = draw(st.integers(*sale_count))
    # The first sale is in the first period, the others in any month of `sale_months`.
    in_month = [0] + [draw(st.integers(0, sale_months - 1)) for _ in range(count - 1)]
    sales = tuple((draw(_amounts(program)), draw(_moments(*months[m]))) for m in in_month)
    legs = sorted({program, payout} - {"EUR"})
    per_eur = {
        day: {currency: draw(_per_eur(currency)) for currency in legs}
        for day in sorted({at.date() for _, at in sales})
    }
    values = [amount for amount, _ in sales]
    unit = quantum(program)
    refunds = []
    for stage in range(runs + 1):
        step = []
        if stage in refund_stages:
            # Before the first run any commission may be refunded; after a run, those of
            # the periods run (paid, or carried). A quarter of the refunds take everything.
            picked = draw(st.lists(st.booleans(), min_size=count, max_size=count))
            for index in (i for i, refunded in enumerate(picked) if refunded):
                if stage and in_month[index] >= stage:
                    continue
                units = int(values[index] / unit)
                lowest = 1 if positive else 0
                if units <= lowest:
                    continue
                everything = units - lowest == 1 or draw(st.integers(0, 3)) == 0
                taken = units - lowest if everything else draw(st.integers(1, units - lowest - 1))
                left_units = units - taken
                values[index] = D(left_units) * unit
                step.append((index, values[index]))
        refunds.append(tuple(step))
    failures = tuple(draw(fail(stage)) for stage in range(runs))
    return Plan(program, payout, threshold, months[:runs], sales, per_eur, tuple(refunds), failures)


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Booked:
    """Approved money as the ledger books it: the amount in the program currency, its value
    in the payout currency (the sum of rounded entries) and how many rounded entries that is."""

    amount: Decimal
    value: Decimal
    entries: int

    def __add__(self, other: Booked) -> Booked:
        return Booked(
            self.amount + other.amount, self.value + other.value, self.entries + other.entries
        )


@dataclass
class Sale:
    commission_id: str
    conversion_id: str
    order: Decimal  # = the commission as accrued (100 % terms)
    approved_at: datetime
    rate: Decimal  # program -> payout currency on the approval day
    value: Decimal  # what the commission is worth now, in the program currency
    booked: Decimal = field(default_factory=Decimal)  # its priced entries, in payout currency
    priced: int = 0  # how many priced entries it has
    unsettled: list[Booked] = field(default_factory=list)  # approved money no payout took

    def book(self, amount: Decimal, currency: str) -> None:
        """The approval, or a refund: the commission's new value at the approval rate,
        rounded, less what is booked already (so it is always worth round(value x rate))."""
        worth = round_money((self.value + amount) * self.rate, currency)
        self._add(Booked(amount, worth - self.booked, 1))

    def reverse(self) -> None:
        """A full refund takes back what was booked: worth exactly nothing in both currencies."""
        self._add(Booked(-self.value, -self.booked, 1))

    def _add(self, entry: Booked) -> None:
        self.value += entry.amount
        self.booked += entry.value
        self.priced += 1
        self.unsettled.append(entry)

    def owed(self) -> Booked | None:
        total = sum(self.unsettled[1:], self.unsettled[0]) if self.unsettled else None
        return total if total is not None and (total.amount or total.value) else None


def _expected_rate(base: str, quote: str, per_eur: dict[str, Decimal]) -> Decimal:
    if base == quote:
        return D(1)
    if base == "EUR":
        return per_eur[quote]
    if quote == "EUR":
        return TEN_DIGITS.divide(D(1), per_eur[base])
    return TEN_DIGITS.divide(per_eur[quote], per_eur[base])


# --- reading the database -------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    amount: Decimal
    payout_amount: Decimal
    rate: Decimal | None
    rate_day: date | None
    currency: str


@dataclass(frozen=True)
class Made:
    id: str
    period: str
    status: str
    amount: Decimal
    line_count: int
    lines: dict[str, Line]


def _payouts(partner_id: str) -> dict[str, Made]:
    """The partner's payouts by period, with their lines by commission."""
    with reading() as session:
        found = list(session.scalars(select(Payout).where(Payout.partner_id == partner_id)))
        lines: dict[str, dict[str, Line]] = {p.id: {} for p in found}
        for row in session.scalars(
            select(PayoutLine).where(PayoutLine.payout_id.in_([p.id for p in found]))
        ):
            lines[row.payout_id][row.commission_id] = Line(
                row.amount, row.payout_amount, row.rate, row.rate_day, row.currency
            )
        return {
            p.period: Made(p.id, p.period, p.status, p.amount, p.line_count, lines[p.id])
            for p in found
        }


def _approved_by_commission(partner_id: str) -> dict[str, tuple[Decimal, Decimal]]:
    """Each commission's approved bucket: (amount, payout-currency value)."""
    found: dict[str, tuple[Decimal, Decimal]] = {}
    with reading() as session:
        rows = session.execute(
            select(LedgerEntry.commission_id, LedgerEntry.amount, LedgerEntry.payout_amount).where(
                LedgerEntry.partner_id == partner_id,
                LedgerEntry.bucket == Bucket.approved.value,
            )
        )
        for cid, amount, value in rows:
            assert value is not None  # every approval found its rate
            old = found.get(cid, (D(0), D(0)))
            found[cid] = (old[0] + amount, old[1] + value)
    return found


def _ledger_totals(partner_id: str) -> tuple[dict[str, Decimal], Decimal, Decimal]:
    """In the payout currency: (each commission's priced entries as booked, the approved
    bucket, the paid bucket)."""
    priced: dict[str, Decimal] = {}
    approved_now = paid = D(0)
    with reading() as session:
        rows = session.execute(
            select(
                LedgerEntry.commission_id,
                LedgerEntry.bucket,
                LedgerEntry.entry_type,
                LedgerEntry.payout_amount,
            ).where(
                LedgerEntry.partner_id == partner_id,
                LedgerEntry.bucket != Bucket.pending.value,
            )
        )
        for cid, bucket, entry_type, value in rows:
            assert value is not None
            if bucket == Bucket.paid.value:
                paid += value
                continue
            approved_now += value
            if EntryType(entry_type) in PRICED:
                priced[cid] = priced.get(cid, D(0)) + value
    return priced, approved_now, paid


# --- playing a plan -------------------------------------------------------------------------


@dataclass
class Played:
    plan: Plan
    partner_id: str
    sales: list[Sale]
    runs: list[Made | None]  # the payout each run made (None: nothing was owed or passed)


def _refund(sale: Sale, left: Decimal) -> None:
    with transaction() as session:
        conversion = session.get(Conversion, sale.conversion_id)
        assert conversion is not None
        conversions.refund_conversion(session, conversion, sale.order - left, None, utcnow())


def _approve(plan: Plan, w: World, amount: Decimal, at: datetime) -> Sale:
    commission = approved(w, str(amount), at)
    assert commission.amount == amount  # 100 % of the order
    rate = _expected_rate(plan.program, plan.payout, plan.per_eur[at.date()])
    # Fixed at approval: the partner's currency at the approval day's rate.
    assert commission.payout_currency == plan.payout
    assert commission.payout_rate == rate
    assert commission.payout_rate_day == at.date()
    assert commission.conversion_id is not None
    sale = Sale(commission.id, commission.conversion_id, amount, at, rate, D(0))
    sale.book(amount, plan.payout)
    return sale


def play(plan: Plan) -> Played:
    with transaction() as session:
        rates = [(day, c, v) for day, per in plan.per_eur.items() for c, v in per.items()]
        fx.store(session, rates, fx.IMPORTED, replace=True)
    w = payee(
        currency=plan.program,
        payout_currency=plan.payout,
        percent="100",
        threshold=str(plan.threshold),
    )
    sales = [_approve(plan, w, amount, at) for amount, at in plan.sales]
    played = Played(plan, w.partner_id, sales, [])
    for stage, refunds in enumerate(plan.refunds):
        for index, left in refunds:
            sale = sales[index]
            _refund(sale, left)
            if left:
                sale.book(left - sale.value, plan.payout)
            else:
                sale.reverse()
        if stage < len(plan.months):
            _run(played, stage)
        _check_conservation(played)
    return played


def _run(played: Played, stage: int) -> None:
    plan, partner_id = played.plan, played.partner_id
    year, month = plan.months[stage]
    end = date(year, month, calendar.monthrange(year, month)[1])
    cutoff = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    owed = {
        s.commission_id: booked
        for s in played.sales
        if s.approved_at < cutoff and (booked := s.owed()) is not None
    }
    total = sum((b.value for b in owed.values()), D(0))
    before = _approved_by_commission(partner_id)

    payouts.run(end, "property test", partners=[partner_id])

    made = _payouts(partner_id).get(f"{year:04d}-{month:02d}")
    if total <= 0 or total < plan.threshold:
        # Never negative, never under the threshold: nothing is paid and nothing moves; the
        # balance (negative after refunds of paid commissions, say) waits for a later period.
        assert made is None
        assert _approved_by_commission(partner_id) == before
        event(
            "a run pays nothing: "
            + ("nothing owed" if total == 0 else "negative, carried" if total < 0 else "threshold")
        )
        played.runs.append(None)
        return
    assert made is not None and made.status == "created"
    assert made.amount == total > 0 and made.amount >= plan.threshold
    assert made.amount == sum((line.payout_amount for line in made.lines.values()), D(0))
    assert made.line_count == len(made.lines)
    assert set(made.lines) == set(owed)
    for sale in played.sales:
        booked = owed.get(sale.commission_id)
        if booked is None:
            continue
        line = made.lines[sale.commission_id]
        # Each line is the commission's unsettled entries as booked, at its approval rate.
        assert (line.amount, line.payout_amount) == (booked.amount, booked.value)
        assert (line.rate, line.rate_day) == (sale.rate, sale.approved_at.date())
        assert line.currency == plan.program
        # Rounding: a commission is always booked at round(value x rate), so a line that
        # pays all of it (nothing paid before) is within half a minor unit of amount x rate;
        # a line of a refund after an earlier payout is the difference of two such roundings,
        # within one, and the commission's lines together stay within half (conservation).
        error = abs(line.payout_amount - line.amount * sale.rate)
        bound = quantum(plan.payout) / (2 if line.amount == sale.value else 1)
        assert error <= bound, (line, booked, sale)
        sale.unsettled = []
        if booked.entries > 1:
            event("a line sums several entries")
        if booked.value < 0:
            event("a negative line (refund after a payout)")
    played.runs.append(made)

    how = plan.fail[stage]
    if how is None:
        return
    event(f"a payout fails from {how}")
    with transaction() as session:
        if how == "sent":
            payouts.mark(session, made.id, "sent")
        payouts.mark(session, made.id, "failed", reason="account closed (AC04)")
    # A failed payout returns exactly what it took: every commission's approved money is
    # what it was before the run, in both currencies, and is owed again as it was booked.
    assert _approved_by_commission(partner_id) == before
    for sale in played.sales:
        if sale.commission_id in owed:
            sale.unsettled = [owed[sale.commission_id]]


def _check_conservation(played: Played) -> None:
    unit = quantum(played.plan.payout)
    priced, approved_now, paid = _ledger_totals(played.partner_id)
    made = _payouts(played.partner_id).values()
    settled = sum((p.amount for p in made if p.status in SETTLED), D(0))
    for sale in played.sales:
        # Each commission's priced entries are the model's: its approval and partial refunds
        # at the approval rate, rounded half-even; a full refund takes back what was booked.
        assert priced[sale.commission_id] == sale.booked
        # So it is worth its value at its rate within half a minor unit, whatever refunds
        # came, and exactly nothing once refunded in full.
        assert abs(sale.booked - sale.value * sale.rate) <= unit / 2
        if sale.value == 0:
            assert sale.booked == 0
    # Nothing created or lost: what was priced is what the payouts paid plus what waits.
    assert paid == settled
    assert sum(priced.values(), D(0)) == settled + approved_now
    assert approved_now == sum(
        (sum((b.value for b in s.unsettled), D(0)) for s in played.sales), D(0)
    )


# --- the properties -------------------------------------------------------------------------


def _never(_: int) -> st.SearchStrategy[str | None]:
    return st.none()


def _fails(_: int) -> st.SearchStrategy[str | None]:
    return st.sampled_from([None, None, "created", "sent"])


@PROPERTIES
@given(
    plans(
        years=(2040, 2042),
        runs=1,
        sale_months=2,
        refund_stages=frozenset({0}),
        fail=_never,
    )
)
def test_a_payout_pays_each_commissions_booked_money_and_nothing_else(plan: Plan) -> None:
    """One period: commissions approved in it and after it, some refunded before the run.
    The payout's lines are the period's commissions' approved money as booked (the later
    ones wait); the totals balance to the minor unit."""
    played = play(plan)
    [made] = played.runs
    later = [s for s in played.sales if s.approved_at.month != plan.months[0][1]]
    waiting = _approved_by_commission(played.partner_id)
    for sale in later:
        assert made is None or sale.commission_id not in made.lines
        assert waiting[sale.commission_id] == (sale.value, sale.booked)


# Always played: a refund after a payout leaves a negative balance that is carried, then
# netted as a negative line; and a failed payout whose commission is refunded before the next
# run, which pays the returned money and the reduction as one line of two entries.
CARRIED = Plan(
    program="SEK",
    payout="EUR",
    threshold=D(0),
    months=((2044, 1), (2044, 2), (2044, 3)),
    sales=(
        (D("100.05"), datetime(2044, 1, 10, 12, tzinfo=UTC)),  # 8.70 EUR, paid in January
        (D("30.00"), datetime(2044, 2, 3, 12, tzinfo=UTC)),  # 2.70 EUR
        (D("500.00"), datetime(2044, 3, 3, 12, tzinfo=UTC)),  # 45.87 EUR
    ),
    per_eur={
        date(2044, 1, 10): {"SEK": D("11.5")},
        date(2044, 2, 3): {"SEK": D("11.1")},
        date(2044, 3, 3): {"SEK": D("10.9")},
    },
    # After January's payout the first is refunded to 40.02 SEK (-5.22 EUR at January's
    # rate): February owes 2.70 - 5.22 < 0 and pays nothing; March pays 45.87 + 2.70 - 5.22.
    # After it, the third is refunded in full: -45.87 EUR waits.
    refunds=((), ((0, D("40.02")),), (), ((2, D(0)),)),
    fail=(None, None, None),
)
RETURNED = Plan(
    program="EUR",
    payout="JPY",
    threshold=D(0),
    months=((2045, 5), (2045, 6), (2045, 7)),
    sales=(
        (D("0.05"), datetime(2045, 5, 31, 23, 59, 59, 999999, tzinfo=UTC)),  # 7.525 -> 8 JPY
        (D("12.34"), datetime(2045, 6, 1, tzinfo=UTC)),  # June's: 1,866.425 -> 1,866 JPY
    ),
    per_eur={date(2045, 5, 31): {"JPY": D("150.5")}, date(2045, 6, 1): {"JPY": D("151.25")}},
    refunds=((), ((0, D("0.02")),), (), ()),  # -0.03 EUR = -4.515 -> -5 JPY
    fail=("sent", None, None),
)


@settings(PROPERTIES, max_examples=40)
@example(plan=CARRIED)
@example(plan=RETURNED)
@given(
    plans(
        years=(2044, 2046),
        runs=3,
        sale_months=3,
        refund_stages=frozenset({0, 1, 2, 3}),
        fail=_fails,
        sale_count=(2, 5),
    )
)
def test_refunds_after_a_payout_are_netted_at_the_approval_rate_and_carried(plan: Plan) -> None:
    """Three periods; refunds (partial and full) of paid and unpaid commissions between the
    runs; some payouts fail. Each payout nets the adjustments since the last one at each
    commission's approval rate; a balance at or below zero (or under the threshold) is not
    paid and is carried whole; at the end, what was paid plus what waits is every
    commission's final value, converted entry by entry as booked."""
    played = play(plan)
    settled = [made for made in played.runs if made is not None]
    assert all(made.amount > 0 for made in settled)
    priced, approved_now, paid = _ledger_totals(played.partner_id)
    final = sum((s.booked for s in played.sales), D(0))
    assert paid + approved_now == sum(priced.values(), D(0)) == final


@PROPERTIES
@given(
    plans(
        years=(2048, 2050),
        runs=2,
        sale_months=1,
        refund_stages=frozenset({0}),
        fail=lambda stage: st.sampled_from(["created", "sent"]) if stage == 0 else st.none(),
        positive=True,
        thresholds=st.just(0),
    )
)
def test_a_failed_payout_returns_exactly_what_it_paid(plan: Plan) -> None:
    """A payout fails (from created or sent): every commission's approved money is back to
    what it was before the run (checked in `play`), and the next period pays exactly the
    same lines again."""
    played = play(plan)
    failed, again = played.runs
    assume(failed is not None)  # tiny commissions can all round to zero in the payout currency
    assert failed is not None and again is not None
    assert _payouts(played.partner_id)[failed.period].status == "failed"
    assert again.amount == failed.amount
    assert again.lines == failed.lines


def test_a_line_is_within_half_a_minor_unit_of_its_amount_at_its_rate() -> None:
    """The smallest case converting each refund on its own got wrong: 100.05 EUR approved at
    11.5 SEK/EUR (1,150.575 -> 1,150.58 SEK) and refunded to 40.02 EUR before its payout.
    The refund alone (-60.03 EUR = -690.345 -> -690.34 SEK) left 460.24 SEK for 40.02 EUR,
    a whole öre more than 460.23; booking the new value (round(40.02 x 11.5) = 460.23) less
    what was booked pays 460.23."""
    with transaction() as session:
        fx.store(session, [(date(2039, 3, 7), "SEK", D("11.5"))], fx.IMPORTED, replace=True)
    w = payee(payout_currency="SEK", percent="100", threshold="0")
    commission = approved(w, "100.05", datetime(2039, 3, 7, 9, tzinfo=UTC))
    with transaction() as session:
        conversion = session.get(Conversion, commission.conversion_id)
        assert conversion is not None
        conversions.refund_conversion(session, conversion, D("60.03"), None, utcnow())
    payouts.run(date(2039, 3, 31), "property test", partners=[w.partner_id])
    [line] = _payouts(w.partner_id)["2039-03"].lines.values()
    assert line.amount == D("40.02") and line.rate == D("11.5")
    assert abs(line.payout_amount - line.amount * line.rate) <= D("0.005")
