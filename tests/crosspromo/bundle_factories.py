"""Bundles through the service layer: a seller's program with an approved partner (the money
path's `world`), other advertisers' programs as parties, and orders with bundle lines
driven through conversions/service.py exactly as postbacks drive them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from alliance.accounts.models import AccountKind
from alliance.accounts.service import Principal
from alliance.commissions import service as ledger
from alliance.conversions import service as conversions
from alliance.conversions.postback import LineInput
from alliance.crosspromo import bundles
from alliance.crosspromo.bundle_models import Bundle, BundleAllocation, BundleParty
from alliance.db.engine import reading, transaction
from alliance.ids import new_token
from alliance.programs.models import Program
from tests.conversions.factories import World, advertiser, program, report, world

D = Decimal
AT = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)


def principal(kind: str, account_id: str) -> Principal:
    return Principal(AccountKind(kind), account_id)


@dataclass
class Sale:
    """A seller's world and a bundle of its program with one party per weight: the first
    party is the seller's own program, the others other advertisers' programs (accepted)."""

    w: World
    bundle_id: str
    sku: str
    party_ids: list[str]  # in the order of `weights`
    party_programs: list[str]
    party_advertisers: list[str]


def other_program(currency: str = "EUR") -> tuple[str, str]:
    """Another advertiser with a program: (advertiser id, program id)."""
    with transaction() as session:
        adv = advertiser(session, currency)
        prog, _ = program(session, adv.id, currency=currency)
        return adv.id, prog.id


def bundle_sale(
    weights: tuple[Any, ...] = (2, 1),
    *,
    currency: str = "EUR",
    terms: dict[str, Any] | None = None,
    lock_days: int = 0,
    accept: bool = True,
) -> Sale:
    w = world(
        currency=currency, terms=terms or {"type": "cps", "percent": "10"}, lock_days=lock_days
    )
    parties = [(w.advertiser_id, w.program_id)] + [other_program(currency) for _ in weights[1:]]
    sku = f"BNDL-{new_token(6)}"
    seller = principal("advertiser", w.advertiser_id)
    with transaction() as session:
        row = bundles.create_bundle(
            session,
            seller,
            bundles.BundleTerms(
                program_id=w.program_id,
                name="Summer kit",
                sku=sku,
                price="99.90" if currency != "JPY" else "9990",
                currency=None,
                parties=tuple(
                    bundles.PartyTerms(prog, bundles.parse_weight(weight, "weight"))
                    for (_, prog), weight in zip(parties, weights, strict=True)
                ),
            ),
            AT,
        )
        members = bundles.parties_of(session, [row.id])[row.id]
        if accept:
            for party in members[1:]:
                bundles.decide_party(
                    session, principal("advertiser", party.advertiser_id), row, party.id, True, AT
                )
        return Sale(
            w,
            row.id,
            sku,
            [p.id for p in members],
            [p.program_id for p in members],
            [p.advertiser_id for p in members],
        )


def line(sku: str | None, amount: str, category: str | None = None) -> LineInput:
    return LineInput(sku, category, D(amount), 1)


def order(
    s: Sale,
    status: str,
    *,
    order_id: str,
    amount: str | None = None,
    items: tuple[LineInput, ...] = (),
    refund: str | None = None,
    at: datetime = AT,
) -> str:
    """Report the order (created, completed, refunded, declined) as a postback would."""
    fields: dict[str, Any] = {"status": status, "items": items}
    if amount is not None:
        fields["amount"] = D(amount)
    if refund is not None:
        fields["refund_amount"] = D(refund)
    with transaction() as session:
        prog = session.get_one(Program, s.w.program_id)
        outcome = conversions.record(session, prog, report(s.w, order_id, **fields), None, at)
    return outcome.conversion_id


def allocations(bundle_id: str) -> list[BundleAllocation]:
    with reading() as session:
        rows = session.scalars(
            select(BundleAllocation)
            .where(BundleAllocation.bundle_id == bundle_id)
            .order_by(BundleAllocation.occurred_at, BundleAllocation.id)
        ).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def by_party(
    rows: list[BundleAllocation], kind: str, party_ids: list[str], *, event_key: str | None = None
) -> list[tuple[Decimal, Decimal]]:
    """(revenue, commission) of one event per party, in the parties' order."""
    found = {
        r.party_id: (r.revenue, r.commission)
        for r in rows
        if r.kind == kind and (event_key is None or r.event_key == event_key)
    }
    return [found[p] for p in party_ids]


def net(rows: list[BundleAllocation], party_ids: list[str]) -> list[tuple[Decimal, Decimal]]:
    sums = {p: (D(0), D(0)) for p in party_ids}
    for r in rows:
        rev, com = sums[r.party_id]
        sums[r.party_id] = (rev + r.revenue, com + r.commission)
    return [sums[p] for p in party_ids]


def commission_value(conversion_id: str) -> Decimal:
    with reading() as session:
        found = ledger.commission_for(session, conversion_id, lock=False)
        assert found is not None
        return ledger.commission_value(session, found.id)


def bundle_row(bundle_id: str) -> tuple[Bundle, list[BundleParty]]:
    with reading() as session:
        row = session.get_one(Bundle, bundle_id)
        parties = bundles.parties_of(session, [bundle_id])[bundle_id]
        session.expunge_all()
        return row, parties
