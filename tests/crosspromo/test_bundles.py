"""Bundle lines split as orders move, through the real conversion service and ledger: the
sale, partial then full refunds that reverse exactly, replays, declines, zero- and
three-decimal currencies, lines priced at different rates, and the bundle's lifecycle."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from alliance.crosspromo import bundle_allocations, bundles
from alliance.crosspromo.bundle_models import BundleStatus, PartyStatus
from alliance.db.engine import transaction
from alliance.errors import Conflict, Forbidden, InvalidInput, NotFound
from alliance.ids import new_token
from tests.crosspromo.bundle_factories import (
    AT,
    allocations,
    bundle_row,
    bundle_sale,
    by_party,
    commission_value,
    line,
    net,
    order,
    other_program,
    principal,
)

pytestmark = pytest.mark.usefixtures("db_url")

D = Decimal


def _id() -> str:
    return f"B-{new_token(9)}"


def test_a_completed_order_splits_its_bundle_line_then_refunds_reverse_it_exactly() -> None:
    s = bundle_sale((2, 1))
    items = (line(s.sku, "100.00"), line("SOCKS", "50.00"))
    oid = _id()
    order(s, "pending", order_id=oid, amount="150.00", items=items)
    assert allocations(s.bundle_id) == []  # pending orders are not split
    cid = order(s, "completed", order_id=oid, at=AT + timedelta(hours=1))
    rows = allocations(s.bundle_id)
    # Commission 15.00 over the lines by amount: the bundle line carries 10.00 of it.
    assert by_party(rows, "sale", s.party_ids) == [
        (D("66.67"), D("6.67")),
        (D("33.33"), D("3.33")),
    ]
    assert {(r.currency, r.commission_currency, r.conversion_id) for r in rows} == {
        ("EUR", "EUR", cid)
    }
    assert {(r.line_revenue, r.line_commission) for r in rows} == {(D("100.00"), D("10.00"))}

    # Half the order refunded: half the line (50.00) and half its commission (5.00), split
    # by the sale's parts; the tied remainders go to the larger part.
    order(s, "refunded", order_id=oid, refund="75.00", at=AT + timedelta(days=1))
    assert commission_value(cid) == D("7.50")
    rows = allocations(s.bundle_id)
    assert by_party(rows, "refund", s.party_ids) == [
        (D("-33.34"), D("-3.34")),
        (D("-16.66"), D("-1.66")),
    ]
    # The same refund reported again, and the hook run again: nothing new.
    order(s, "refunded", order_id=oid, refund="75.00", at=AT + timedelta(days=2))
    with transaction() as session:
        from alliance.conversions.models import Conversion

        conversion = session.get_one(Conversion, cid)
        assert bundle_allocations.follow_refund(session, conversion, AT) == 0
        assert bundle_allocations.allocate_sale(session, conversion, AT) == 0
    assert len(allocations(s.bundle_id)) == 4

    order(s, "refunded", order_id=oid, refund="150.00", at=AT + timedelta(days=3))
    rows = allocations(s.bundle_id)
    assert by_party(rows, "refund", s.party_ids, event_key="refund:15000") == [
        (D("-33.33"), D("-3.33")),
        (D("-16.67"), D("-1.67")),
    ]
    assert net(rows, s.party_ids) == [(D("0.00"), D("0.00"))] * 2
    assert commission_value(cid) == D("0.00")


def test_zero_decimal_currency_splits_whole_yen() -> None:
    s = bundle_sale((1, 1, 1), currency="JPY")
    oid = _id()
    cid = order(s, "completed", order_id=oid, amount="10000", items=(line(s.sku, "10000"),))
    rows = allocations(s.bundle_id)
    sale = dict(zip(s.party_ids, by_party(rows, "sale", s.party_ids), strict=True))
    first = min(s.party_ids)  # equal weights and remainders: the smaller party id first
    assert sale[first] == (D("3334"), D("334"))
    assert sorted(sale.values()) == [(D("3333"), D("333"))] * 2 + [(D("3334"), D("334"))]
    assert all(r.revenue == r.revenue_units for r in rows)  # JPY has no minor unit below 1

    order(s, "refunded", order_id=oid, refund="2500", at=AT + timedelta(days=1))
    assert commission_value(cid) == D("750")
    refunds = by_party(allocations(s.bundle_id), "refund", s.party_ids)
    refund = dict(zip(s.party_ids, refunds, strict=True))
    assert refund[first] == (D("-834"), D("-84"))
    assert sum(r for r, _ in refund.values()) == D("-2500")
    assert sum(c for _, c in refund.values()) == D("-250")
    order(s, "refunded", order_id=oid, refund="10000", at=AT + timedelta(days=2))
    assert net(allocations(s.bundle_id), s.party_ids) == [(D(0), D(0))] * 3


def test_three_decimal_currency_splits_fils() -> None:
    s = bundle_sale((1, 2), currency="KWD")
    oid = _id()
    order(s, "completed", order_id=oid, amount="10.000", items=(line(s.sku, "10.000"),))
    rows = allocations(s.bundle_id)
    assert by_party(rows, "sale", s.party_ids) == [
        (D("3.333"), D("0.333")),
        (D("6.667"), D("0.667")),
    ]
    order(s, "refunded", order_id=oid, refund="2.500", at=AT + timedelta(days=1))
    assert by_party(allocations(s.bundle_id), "refund", s.party_ids) == [
        (D("-0.833"), D("-0.083")),
        (D("-1.667"), D("-0.167")),
    ]
    order(s, "refunded", order_id=oid, refund="10.000", at=AT + timedelta(days=2))
    assert net(allocations(s.bundle_id), s.party_ids) == [(D("0.000"), D("0.000"))] * 2


def test_lines_priced_at_different_rates_weigh_the_commission_by_rate() -> None:
    terms = {
        "type": "cps",
        "percent": "10",
        "overrides": [{"when": {"category": "books"}, "percent": "20"}],
    }
    s = bundle_sale((1, 1), terms=terms)
    items = (line(s.sku, "100.00"), line("NOVEL", "100.00", category="books"))
    cid = order(s, "completed", order_id=_id(), amount="200.00", items=items)
    assert commission_value(cid) == D("30.00")
    rows = allocations(s.bundle_id)
    # 10% x 100 of the 30.00 is the bundle's (not half of it, as the amounts would say).
    assert {r.line_commission for r in rows} == {D("10.00")}
    assert sorted(c for _, c in by_party(rows, "sale", s.party_ids)) == [D("5.00"), D("5.00")]


def test_several_lines_of_the_sku_are_one_bundle_line() -> None:
    s = bundle_sale((3, 1))
    items = (line(s.sku, "40.00"), line(s.sku, "40.00"), line(None, "20.00"))
    order(s, "completed", order_id=_id(), amount="100.00", items=items)
    rows = allocations(s.bundle_id)
    assert by_party(rows, "sale", s.party_ids) == [(D("60.00"), D("6.00")), (D("20.00"), D("2.00"))]


def test_orders_without_the_sku_and_leads_are_not_split() -> None:
    s = bundle_sale((1, 1))
    order(s, "completed", order_id=_id(), amount="10.00", items=(line("OTHER", "10.00"),))
    order(s, "completed", order_id=_id(), amount="10.00")
    assert allocations(s.bundle_id) == []


def test_a_refund_while_pending_follows_the_sale_at_completion() -> None:
    s = bundle_sale((1, 1))
    oid = _id()
    order(s, "pending", order_id=oid, amount="100.00", items=(line(s.sku, "100.00"),))
    order(s, "refunded", order_id=oid, refund="30.00", at=AT + timedelta(minutes=5))
    assert allocations(s.bundle_id) == []
    order(s, "completed", order_id=oid, at=AT + timedelta(hours=1))
    rows = allocations(s.bundle_id)
    assert [r.kind for r in rows].count("sale") == 2
    refund = by_party(rows, "refund", s.party_ids, event_key="refund:3000")
    assert sum(r for r, _ in refund) == D("-30.00")
    assert sum(c for _, c in refund) == D("-3.00")


def test_a_completed_order_declined_in_its_lock_period_gives_everything_back() -> None:
    s = bundle_sale((2, 1), lock_days=30)
    oid = _id()
    order(s, "completed", order_id=oid, amount="90.00", items=(line(s.sku, "90.00"),))
    order(s, "refunded", order_id=oid, refund="10.00", at=AT + timedelta(days=1))
    order(s, "declined", order_id=oid, at=AT + timedelta(days=2))
    rows = allocations(s.bundle_id)
    assert {r.kind for r in rows} == {"sale", "refund", "decline"}
    assert net(rows, s.party_ids) == [(D("0.00"), D("0.00"))] * 2
    order(s, "declined", order_id=oid, at=AT + timedelta(days=3))  # a replay
    assert len(allocations(s.bundle_id)) == len(rows)


def test_a_refund_after_the_commission_was_paid_still_splits_what_it_takes_back() -> None:
    from alliance.commissions import service as ledger

    s = bundle_sale((1, 1))
    oid = _id()
    cid = order(s, "completed", order_id=oid, amount="40.00", items=(line(s.sku, "40.00"),))
    with transaction() as session:
        ledger.approve_due(session, AT + timedelta(days=1))
        commission = ledger.commission_for(session, cid)
        assert commission is not None
        ledger.mark_paid(session, commission.id, "pay_TEST")
    order(s, "refunded", order_id=oid, refund="10.00", at=AT + timedelta(days=2))
    assert commission_value(cid) == D("3.00")  # 4.00, less a quarter on the next payout
    refund = by_party(allocations(s.bundle_id), "refund", s.party_ids)
    assert sorted(refund) == [(D("-5.00"), D("-0.50"))] * 2


def test_only_active_bundles_split_and_split_orders_follow_after_deactivation() -> None:
    s = bundle_sale((1, 1), accept=False)
    seller = principal("advertiser", s.w.advertiser_id)
    other = principal("advertiser", s.party_advertisers[1])
    assert bundle_row(s.bundle_id)[0].status == BundleStatus.proposed
    order(s, "completed", order_id=_id(), amount="10.00", items=(line(s.sku, "10.00"),))
    assert allocations(s.bundle_id) == []  # proposed: not split

    with transaction() as session:
        bundle = bundles.get_bundle(session, other, s.bundle_id, lock=True)
        with pytest.raises(Forbidden):  # the seller cannot answer for another advertiser
            bundles.decide_party(session, seller, bundle, s.party_ids[1], True, AT)
        bundles.decide_party(session, other, bundle, s.party_ids[1], True, AT)
        assert bundle.status == BundleStatus.active
        assert bundle.activated_at == AT
    oid = _id()
    order(s, "completed", order_id=oid, amount="10.00", items=(line(s.sku, "10.00"),))
    assert len(allocations(s.bundle_id)) == 2

    with transaction() as session:
        bundle = bundles.get_bundle(session, seller, s.bundle_id, lock=True)
        with pytest.raises(Forbidden):
            bundles.deactivate(session, other, bundle, AT)
        bundles.deactivate(session, seller, bundle, AT)
        bundles.deactivate(session, seller, bundle, AT)  # again: nothing changes
        assert bundle.status == BundleStatus.inactive and bundle.open_sku is None
    order(s, "completed", order_id=_id(), amount="10.00", items=(line(s.sku, "10.00"),))
    assert len(allocations(s.bundle_id)) == 2  # inactive: new orders are not split
    order(s, "refunded", order_id=oid, refund="10.00", at=AT + timedelta(days=1))
    assert net(allocations(s.bundle_id), s.party_ids) == [(D("0.00"), D("0.00"))] * 2


def test_a_declining_party_declines_the_bundle_and_frees_its_sku() -> None:
    s = bundle_sale((1, 1, 1), accept=False)
    second, third = (principal("advertiser", a) for a in s.party_advertisers[1:])
    with transaction() as session:
        bundle = bundles.get_bundle(session, second, s.bundle_id, lock=True)
        bundles.decide_party(session, second, bundle, s.party_ids[1], True, AT)
        bundles.decide_party(session, second, bundle, s.party_ids[1], True, AT)  # same answer
        assert bundle.status == BundleStatus.proposed
        bundles.decide_party(session, third, bundle, s.party_ids[2], False, AT)
        assert bundle.status == BundleStatus.declined and bundle.open_sku is None
        with pytest.raises(Conflict):
            bundles.decide_party(session, third, bundle, s.party_ids[2], True, AT)
        with pytest.raises(Conflict):
            bundles.deactivate(session, principal("operator", "opr_x"), bundle, AT)
    _, parties = bundle_row(s.bundle_id)
    assert [p.status for p in parties] == [
        PartyStatus.accepted,
        PartyStatus.accepted,
        PartyStatus.declined,
    ]
    # The SKU can be proposed again, as a new bundle.
    seller = principal("advertiser", s.w.advertiser_id)
    with transaction() as session:
        again = bundles.create_bundle(session, seller, _terms(s.w.program_id, s.sku), AT)
        assert again.status == BundleStatus.active  # only the seller's own program
        with pytest.raises(Conflict) as caught:
            bundles.create_bundle(session, seller, _terms(s.w.program_id, s.sku), AT)
        assert caught.value.field == "sku"


def _terms(seller_program: str, bundle_sku: str, **changes: object) -> bundles.BundleTerms:
    values: dict[str, object] = {
        "program_id": seller_program,
        "name": "Kit",
        "sku": bundle_sku,
        "price": "10.00",
        "currency": None,
        "parties": (bundles.PartyTerms(seller_program, D(1)),),
    }
    values.update(changes)
    return bundles.BundleTerms(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"price": "10.005"}, InvalidInput, "price"),
        ({"price": 10.5}, InvalidInput, "price"),
        ({"price": "-1"}, InvalidInput, "price"),
        ({"parties": ()}, InvalidInput, "parties"),
        ({"currency": "XYZ"}, InvalidInput, "currency"),
        ({"name": "  "}, InvalidInput, "name"),
        ({"sku": "A\nB"}, InvalidInput, "sku"),
        ({"sku": "x" * 129}, InvalidInput, "sku"),
        ({"program_id": "prg_00000000000000000000000000"}, NotFound, "program_id"),
        ({"program_id": "junk"}, NotFound, "program_id"),
    ],
)
def test_bad_terms_are_refused_naming_the_field(
    changes: dict[str, object], error: type[Exception], field: str
) -> None:
    s = bundle_sale((1,))
    seller = principal("advertiser", s.w.advertiser_id)
    with transaction() as session, pytest.raises(error) as caught:
        bundles.create_bundle(session, seller, _terms(s.w.program_id, "X", **changes), AT)
    assert getattr(caught.value, "field", None) == field


def test_parties_must_exist_once_and_the_seller_program_must_be_the_callers() -> None:
    s = bundle_sale((1,))
    seller = principal("advertiser", s.w.advertiser_id)
    _, prog = other_program()
    one = bundles.PartyTerms(s.w.program_id, D(1))
    with transaction() as session:
        with pytest.raises(InvalidInput) as caught:
            bundles.create_bundle(
                session, seller, _terms(s.w.program_id, "Y", parties=(one, one)), AT
            )
        assert caught.value.field == "parties.1.program_id"
        missing = bundles.PartyTerms("prg_00000000000000000000000000", D(1))
        with pytest.raises(InvalidInput) as caught:
            bundles.create_bundle(
                session, seller, _terms(s.w.program_id, "Y", parties=(one, missing)), AT
            )
        assert caught.value.field == "parties.1.program_id"
        with pytest.raises(NotFound):  # another advertiser's program cannot be the seller
            bundles.create_bundle(session, seller, _terms(prog, "Y"), AT)
        # The operator proposes for anyone; the other advertiser's party waits for it.
        row = bundles.create_bundle(
            session,
            principal("operator", "opr_x"),
            _terms(s.w.program_id, "Y", parties=(one, bundles.PartyTerms(prog, D(1)))),
            AT,
        )
        assert row.status == BundleStatus.proposed
        assert row.currency == "EUR" and row.price == D("10.00")


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        (3, D(3)),
        ("2.5", D("2.5")),
        (" 0.000001 ", D("0.000001")),
        ("1000000", D(1_000_000)),
        (0, None),
        ("-1", None),
        ("0.0000001", None),
        ("1000001", None),
        (2.5, None),
        (True, None),
        ("abc", None),
        ("NaN", None),
        (None, None),
    ],
)
def test_weights(raw: object, ok: Decimal | None) -> None:
    if ok is None:
        with pytest.raises(InvalidInput) as caught:
            bundles.parse_weight(raw, "parties.0.weight")
        assert caught.value.field == "parties.0.weight"
    else:
        assert bundles.parse_weight(raw, "parties.0.weight") == ok
