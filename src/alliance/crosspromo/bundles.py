"""Bundles: an advertiser's offer of several programs' products at one price, agreed with the
other programs' advertisers, and what each party can read of it (docs/bundles.md).

Lifecycle (BUNDLE_TRANSITIONS): the seller proposes the terms (name, SKU, price, parties
with weights); its own programs accept at once, every other advertiser accepts or declines
its party; once every party accepted the bundle is active and the completion of an order
with its SKU splits that line (crosspromo/bundle_allocations.py). One decline declines the
bundle. The seller (or the operator) deactivates it: new orders are no longer split, and
refunds of orders already split still are. Terms never change once proposed.

Who sees what: the operator everything; an advertiser the bundles it sells or is a party
of, and of the allocations all of them when it sells the bundle, only its own parties'
otherwise; a partner the active bundles of programs it is approved in, without the weights.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import ColumnElement, false, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.api.fields import is_public_id, plain_text
from alliance.crosspromo.bundle_models import (
    BUNDLE_TRANSITIONS,
    AllocationKind,
    Bundle,
    BundleAllocation,
    BundleParty,
    BundleStatus,
    PartyStatus,
)
from alliance.crosspromo.split import from_minor
from alliance.errors import Conflict, Forbidden, InvalidInput, NotFound
from alliance.ids import PREFIXES, new_id
from alliance.money import MoneyError, normalize_currency, parse_amount
from alliance.programs.models import Enrollment, EnrollmentStatus, Program

MAX_PARTIES = 50
MAX_WEIGHT = Decimal(1_000_000)
WEIGHT_DECIMALS = 6  # the precision the weight column keeps (NUMERIC(20, 6))


@dataclass(frozen=True, slots=True)
class PartyTerms:
    program_id: str
    weight: Decimal


@dataclass(frozen=True, slots=True)
class BundleTerms:
    """What the seller proposes. `currency` None: the seller program's currency."""

    program_id: str
    name: str
    sku: str
    price: str | int | Decimal
    currency: str | None
    parties: tuple[PartyTerms, ...]


def parse_weight(raw: object, field: str) -> Decimal:
    """A party's weight: a number above 0 and at most 1,000,000 with at most 6 decimals,
    as an integer or a decimal string (never a float: 0.1 is not exact in binary)."""
    if isinstance(raw, bool) or not isinstance(raw, int | str | Decimal):
        raise InvalidInput(
            'weight must be an integer or a decimal string such as "2.5"', field=field
        )
    try:
        value = Decimal(raw.strip() if isinstance(raw, str) else raw)
    except InvalidOperation:
        raise InvalidInput(f"weight {str(raw)[:40]!r} is not a number", field=field) from None
    if not value.is_finite() or value <= 0 or value > MAX_WEIGHT:
        raise InvalidInput("weight must be above 0 and at most 1000000", field=field)
    if value != value.quantize(Decimal(1).scaleb(-WEIGHT_DECIMALS), rounding="ROUND_DOWN"):
        raise InvalidInput(f"weight has more than {WEIGHT_DECIMALS} decimals", field=field)
    return value


# --- visibility ------------------------------------------------------------------------------


def _parties_of(advertiser_id: str) -> ColumnElement[bool]:
    return Bundle.id.in_(
        select(BundleParty.bundle_id).where(BundleParty.advertiser_id == advertiser_id)
    )


def visible_bundles(who: Principal) -> ColumnElement[bool]:
    if who.is_operator:
        return true()
    if who.is_advertiser:
        return or_(Bundle.advertiser_id == who.id, _parties_of(who.id))
    if who.is_partner:
        approved = select(Enrollment.program_id).where(
            Enrollment.partner_id == who.id,
            Enrollment.status == EnrollmentStatus.approved.value,
        )
        return (Bundle.status == BundleStatus.active.value) & Bundle.program_id.in_(approved)
    return false()


def visible_allocations(who: Principal, bundle: Bundle) -> ColumnElement[bool]:
    """Of one bundle's allocations: all for the operator and the seller, a party
    advertiser's own parties' rows otherwise, none for partners."""
    if who.is_operator or (who.is_advertiser and who.id == bundle.advertiser_id):
        return true()
    if who.is_advertiser:
        mine = select(BundleParty.id).where(
            BundleParty.bundle_id == bundle.id, BundleParty.advertiser_id == who.id
        )
        return BundleAllocation.party_id.in_(mine)
    return false()


def get_bundle(session: Session, who: Principal, bundle_id: str, *, lock: bool = False) -> Bundle:
    """The bundle if the caller may see it; otherwise 404, whatever the reason."""
    if not is_public_id(bundle_id, PREFIXES["bundle"]):
        raise NotFound(f"no bundle {bundle_id[:40]!r}")
    statement = select(Bundle).where(Bundle.id == bundle_id, visible_bundles(who))
    if lock:
        statement = statement.with_for_update(of=Bundle)
    found = session.scalars(statement).first()
    if found is None:
        raise NotFound(f"no bundle {bundle_id!r}")
    return found


def parties_of(session: Session, bundle_ids: Iterable[str]) -> dict[str, list[BundleParty]]:
    """Each bundle's parties in the seller's order, for many bundles in one query."""
    found: dict[str, list[BundleParty]] = defaultdict(list)
    ids = list(bundle_ids)
    if not ids:
        return found
    rows = session.scalars(
        select(BundleParty)
        .where(BundleParty.bundle_id.in_(ids))
        .order_by(BundleParty.bundle_id, BundleParty.position)
    )
    for row in rows:
        found[row.bundle_id].append(row)
    return found


# --- proposing and agreeing ------------------------------------------------------------------


def _seller_program(session: Session, who: Principal, program_id: str) -> Program:
    program = session.get(Program, program_id) if is_public_id(program_id, "prg") else None
    if program is None or not (who.is_operator or program.advertiser_id == who.id):
        raise NotFound(f"no program {program_id[:40]!r} of yours", field="program_id")
    return program


def _party_programs(session: Session, parties: Sequence[PartyTerms]) -> list[Program]:
    if not parties:
        raise InvalidInput("a bundle needs at least one party", field="parties")
    if len(parties) > MAX_PARTIES:
        raise InvalidInput(f"at most {MAX_PARTIES} parties", field="parties")
    seen: set[str] = set()
    for i, party in enumerate(parties):
        if party.program_id in seen:
            raise InvalidInput("this program is listed twice", field=f"parties.{i}.program_id")
        seen.add(party.program_id)
    found = {p.id: p for p in session.scalars(select(Program).where(Program.id.in_(seen)))}
    programs = []
    for i, party in enumerate(parties):
        program = found.get(party.program_id)
        if program is None:
            raise InvalidInput(f"no program {party.program_id!r}", field=f"parties.{i}.program_id")
        programs.append(program)
    return programs


def _text(value: str, field: str, longest: int) -> str:
    """A name or SKU: 1 to `longest` characters, no control characters (they end up in
    CSV exports and pages), surrounding spaces dropped."""
    found = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(found) <= longest:
        raise InvalidInput(f"{field} must be 1 to {longest} characters", field=field)
    try:
        return plain_text(found)
    except ValueError as exc:
        raise InvalidInput(f"{field} {exc}", field=field) from None


def create_bundle(session: Session, who: Principal, terms: BundleTerms, now: datetime) -> Bundle:
    """Propose a bundle sold by `terms.program_id`'s store. Parties of the seller's own
    programs accept at once; when there are no others the bundle is active at once."""
    program = _seller_program(session, who, terms.program_id)
    name = _text(terms.name, "name", 200)
    sku = _text(terms.sku, "sku", 128)
    try:
        currency = normalize_currency(terms.currency) if terms.currency else program.currency
        price = parse_amount(terms.price, currency, "price")
    except MoneyError as exc:
        raise InvalidInput(str(exc), field=exc.field) from None
    programs = _party_programs(session, terms.parties)
    taken = session.scalar(
        select(Bundle.id).where(Bundle.program_id == program.id, Bundle.open_sku == sku)
    )
    if taken is not None:
        raise Conflict(f"bundle {taken} already sells SKU {sku!r} in this program", field="sku")
    bundle = Bundle(
        id=new_id(PREFIXES["bundle"]),
        program_id=program.id,
        advertiser_id=program.advertiser_id,
        name=name,
        sku=sku,
        open_sku=sku,
        price=price,
        currency=currency,
        status=BundleStatus.proposed.value,
        created_by=who.id,
        created_at=now,
    )
    parties = []
    for position, (party, party_program) in enumerate(zip(terms.parties, programs, strict=True)):
        own = party_program.advertiser_id == program.advertiser_id
        parties.append(
            BundleParty(
                id=new_id(PREFIXES["bundle_party"]),
                bundle_id=bundle.id,
                program_id=party_program.id,
                advertiser_id=party_program.advertiser_id,
                weight=party.weight,
                position=position,
                status=(PartyStatus.accepted if own else PartyStatus.invited).value,
                decided_by=who.id if own else None,
                decided_at=now if own else None,
                created_at=now,
            )
        )
    if all(p.status == PartyStatus.accepted for p in parties):
        bundle.status = BundleStatus.active.value
        bundle.activated_at = now
    try:
        # A savepoint: two proposals of one SKU racing past the check above meet here.
        with session.begin_nested():
            session.add(bundle)
            session.flush()
            session.add_all(parties)
    except IntegrityError:
        raise Conflict(f"another bundle already sells SKU {sku!r}", field="sku") from None
    return bundle


def _move(bundle: Bundle, target: BundleStatus, now: datetime) -> None:
    if target not in BUNDLE_TRANSITIONS[BundleStatus(bundle.status)]:
        raise Conflict(f"bundle {bundle.id} is {bundle.status}; it cannot become {target}")
    bundle.status = target.value
    if target is BundleStatus.active:
        bundle.activated_at = now
    else:
        bundle.closed_at = now
        bundle.open_sku = None  # the SKU is free for a new bundle


def decide_party(
    session: Session, who: Principal, bundle: Bundle, party_id: str, accept: bool, now: datetime
) -> Bundle:
    """A party's advertiser (or the operator) accepts or declines its party of a proposed
    bundle. Repeating the same answer changes nothing; changing it is a conflict."""
    party = session.scalars(
        select(BundleParty).where(BundleParty.id == party_id, BundleParty.bundle_id == bundle.id)
    ).first()
    if party is None:
        raise NotFound(f"no party {party_id[:40]!r} in bundle {bundle.id}")
    if not (who.is_operator or party.advertiser_id == who.id):
        raise Forbidden("only the party's advertiser (or the operator) answers for it")
    wanted = PartyStatus.accepted if accept else PartyStatus.declined
    if party.status == wanted:
        return bundle
    if party.status != PartyStatus.invited or bundle.status != BundleStatus.proposed:
        raise Conflict(
            f"party {party.id} has {party.status} and the bundle is {bundle.status}",
            field="status",
        )
    party.status = wanted.value
    party.decided_by = who.id
    party.decided_at = now
    if not accept:
        _move(bundle, BundleStatus.declined, now)
        return bundle
    pending = session.scalar(
        select(func.count())
        .select_from(BundleParty)
        .where(
            BundleParty.bundle_id == bundle.id,
            BundleParty.status != PartyStatus.accepted.value,
            BundleParty.id != party.id,
        )
    )
    if not pending:
        _move(bundle, BundleStatus.active, now)
    return bundle


def deactivate(session: Session, who: Principal, bundle: Bundle, now: datetime) -> Bundle:
    """The seller (or the operator) stops the bundle: orders completed from now on are not
    split. Deactivating an inactive bundle changes nothing."""
    if not (who.is_operator or (who.is_advertiser and who.id == bundle.advertiser_id)):
        raise Forbidden("only the bundle's seller (or the operator) deactivates it")
    if bundle.status == BundleStatus.inactive:
        return bundle
    _move(bundle, BundleStatus.inactive, now)
    return bundle


# --- what the parties got ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartyTotals:
    """One party's allocations summed, for one pair of currencies. Refunds and a decline
    are `refunded` / `reversed` (positive); net = revenue - refunded, commission - reversed."""

    party_id: str
    currency: str
    commission_currency: str
    orders: int  # orders whose bundle line was split (sales)
    revenue: Decimal
    refunded: Decimal
    commission: Decimal
    reversed: Decimal

    @property
    def net_revenue(self) -> Decimal:
        return self.revenue - self.refunded

    @property
    def net_commission(self) -> Decimal:
        return self.commission - self.reversed


def totals(session: Session, bundle: Bundle, condition: ColumnElement[bool]) -> list[PartyTotals]:
    """Per party (and currency pair): sums of its allocation rows, in exact integer minor
    units in SQL, so they reconcile to the cent with the rows and the orders."""
    sale = AllocationKind.sale.value
    rows = session.execute(
        select(
            BundleAllocation.party_id,
            BundleAllocation.currency,
            BundleAllocation.commission_currency,
            BundleAllocation.kind,
            func.count(BundleAllocation.id),
            func.coalesce(func.sum(BundleAllocation.revenue_units), 0),
            func.coalesce(func.sum(BundleAllocation.commission_units), 0),
        )
        .where(BundleAllocation.bundle_id == bundle.id, condition)
        .group_by(
            BundleAllocation.party_id,
            BundleAllocation.currency,
            BundleAllocation.commission_currency,
            BundleAllocation.kind,
        )
    ).all()
    sums: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for party_id, currency, commission_currency, kind, count, revenue, commission in rows:
        found = sums[(party_id, currency, commission_currency)]
        if kind == sale:
            found[0] += int(count)  # one sale row per party per order
            found[1] += int(revenue)
            found[3] += int(commission)
        else:
            found[2] -= int(revenue)
            found[4] -= int(commission)
    order = {p.id: p.position for p in parties_of(session, [bundle.id])[bundle.id]}
    return [
        PartyTotals(
            party_id=party_id,
            currency=currency,
            commission_currency=commission_currency,
            orders=values[0],
            revenue=from_minor(values[1], currency),
            refunded=from_minor(values[2], currency),
            commission=from_minor(values[3], commission_currency),
            reversed=from_minor(values[4], commission_currency),
        )
        for (party_id, currency, commission_currency), values in sorted(
            sums.items(), key=lambda item: (order.get(item[0][0], 0), item[0])
        )
    ]
