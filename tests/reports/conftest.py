"""One small network, built once per test session, whose every report number is known.

Period under test: 2024-03-01 .. 2024-03-10 (D1 = 03-01, D2 = 03-02). Advertiser A runs
"Shoes" (EUR) and "Bags" (USD); advertiser B runs "Books" (EUR). Partners X and Y promote
Shoes, X also Bags, Z promotes Books. The expected numbers are worked out in each test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from alliance.commissions.models import Bucket, EntryType

from .factory import Factory, Op

EVIL = '=HYPERLINK("http://evil.example","x")'


def at(
    day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0, month: int = 3
) -> datetime:
    return datetime(2024, month, day, hour, minute, second, micro, tzinfo=UTC)


@dataclass
class Net:
    adv_a: str
    adv_a_key: str
    adv_b: str
    adv_b_key: str
    shoes: str
    bags: str
    books: str
    x: str
    x_key: str
    y: str
    y_key: str
    z: str
    link_x: str
    conversions: dict[str, str]  # order id -> conversion id
    commissions: dict[str, str]  # order id -> commission id


@pytest.fixture(scope="session")
def net(db_url: str) -> Net:
    from alliance.db.engine import transaction

    with transaction() as session:
        f = Factory(session)
        adv_a, adv_a_key = f.advertiser("Advertiser A")
        adv_b, adv_b_key = f.advertiser("Advertiser B")
        shoes = f.program(adv_a, "Shoes", "EUR")
        bags = f.program(adv_a, "Bags", "USD")
        books = f.program(adv_b, "Books", "EUR")
        x, x_key = f.partner("Xavier Deals")
        y, y_key = f.partner("Yolanda Blog")
        z, _ = f.partner("Zed Media")
        for program, partner in ((shoes, x), (shoes, y), (bags, x), (books, z)):
            f.enroll(program, partner)
        l1x, l1y = f.link(shoes, x, "spring"), f.link(shoes, y)
        l2x, l3z = f.link(bags, x), f.link(books, z)

        # Shoes clicks in the period: 8 (see test_traffic for the arithmetic).
        f.click(l1x, at(1, 10), "vis_v1", sub1="news", country="DE")
        c2 = f.click(l1x, at(1, 11), "vis_v1", sub1="news", country="DE")
        c3 = f.click(l1x, at(1, 12), "vis_v2", sub1=EVIL, country="FR", device="mobile")
        f.click(l1x, at(1, 13), "vis_b1", bot=True, country="US")
        f.click(l1x, at(1, 13, 1), "vis_b1", bot=True, country="US")
        c6 = f.click(l1y, at(2, 9), "vis_v1", country="DE", device="mobile")
        c7 = f.click(
            l1y, at(2, 23, 59, 59, 999_999), "vis_v3", sub1="@promo", country="FR", device="tablet"
        )
        c8 = f.click(l1x, at(2, 15), "vis_v2", sub1="news", country="FR", device="mobile")
        # Just outside the period on either side.
        f.click(l1x, at(29, 23, 59, 59, month=2), "vis_v1")
        f.click(l1x, at(11), "vis_v4")
        # Other programs.
        f.click(l2x, at(1, 9), "vis_v5", country="US")
        f.click(l2x, at(1, 9, 5), "vis_v5", country="US")
        for minute in range(3):
            f.click(l3z, at(1, 8, minute), "vis_v9", country="DE")
        session.flush()

        conv: dict[str, str] = {}
        com: dict[str, str] = {}

        def done(order_id: str, conversion_id: str, commission_id: str) -> None:
            conv[order_id] = conversion_id
            com[order_id] = commission_id

        # o-1: completed and approved: 8.00 approved.
        o1 = f.conversion(
            shoes, x, "o-1", at(1, 14), "100.00", "80.00", click=c2, buyer_country="DE"
        )
        f.event(o1, "completed", "completed", at(3))
        k1, _ = f.commission(o1, "8.00", [Op("approve")])
        done("o-1", o1.id, k1.id)
        # o-2: pending: 4.00 pending.
        o2 = f.conversion(
            shoes, x, "o-2", at(2, 10), "50.00", "40.00", click=c8, buyer_country="FR"
        )
        k2, _ = f.commission(o2, "4.00", [])
        done("o-2", o2.id, k2.id)
        # o-3: completed, 50.00 of 200.00 refunded on 03-05: 16.00 reduced by 4.00 -> 12.00.
        path = [
            {"click_id": c6.id, "partner_id": y.id, "verdict": "won", "reason": "last click"},
            {"click_id": c2.id, "partner_id": x.id, "verdict": "lost", "reason": "older"},
        ]
        o3 = f.conversion(
            shoes,
            y,
            "o-3",
            at(2, 12),
            "200.00",
            "160.00",
            click=c6,
            buyer_country="DE",
            click_path=path,
        )
        f.event(o3, "completed", "completed", at(3))
        f.event(o3, "refund", "completed", at(5, 10), refunded="50.00", note="one pair back")
        k3, _ = f.commission(o3, "16.00", [])
        f.entry(k3, Bucket.pending, EntryType.reduction, "-4.00", at(5, 10))
        done("o-3", o3.id, k3.id)
        # o-4: declined: 2.50 declined.
        o4 = f.conversion(shoes, y, "o-4", at(2, 13), "30.00", "25.00", click=c7)
        f.event(o4, "declined", "declined", at(3), note="test order")
        k4, _ = f.commission(o4, "2.50", [Op("decline")])
        done("o-4", o4.id, k4.id)
        # o-5: paid, then fully refunded on 03-06: adjustment -5.00, reversed.
        o5 = f.conversion(
            shoes, x, "o-5", at(1, 15), "60.00", "50.00", click=c3, buyer_country="FR"
        )
        f.event(o5, "completed", "completed", at(2))
        k5, _ = f.commission(o5, "5.00", [Op("approve"), Op("pay")])
        f.event(o5, "refund", "refunded", at(6, 9), refunded="60.00")
        f.entry(k5, Bucket.approved, EntryType.adjustment, "-5.00", at(6, 9))
        k5.status = "reversed"
        done("o-5", o5.id, k5.id)
        # lead-1: a lead found by coupon, approved 1.50.
        o6 = f.conversion(shoes, x, "lead-1", at(1, 16), "0.00", kind="lead")
        f.event(o6, "completed", "completed", at(2))
        k6, _ = f.commission(o6, "1.50", [Op("approve")])
        done("lead-1", o6.id, k6.id)
        # o-7: after the period.
        o7 = f.conversion(shoes, x, "o-7", at(11, 1), "70.00")
        k7, _ = f.commission(o7, "7.00", [])
        done("o-7", o7.id, k7.id)
        # o-8: ordered before the period; 10.00 refunded on 02-25, the other 30.00 on 03-07.
        o8 = f.conversion(shoes, x, "o-8", at(20, month=2), "40.00")
        f.event(o8, "completed", "completed", at(21, month=2))
        f.event(o8, "refund", "completed", at(25, month=2), refunded="10.00")
        f.event(o8, "refund", "refunded", at(7, 11), refunded="40.00")
        k8, _ = f.commission(o8, "4.00", [])
        f.entry(k8, Bucket.pending, EntryType.reduction, "-1.00", at(25, month=2))
        f.entry(k8, Bucket.pending, EntryType.reversal, "-3.00", at(7, 11))
        k8.status = "reversed"
        done("o-8", o8.id, k8.id)
        # Bags (USD): one pending order.
        u1 = f.conversion(bags, x, "u-1", at(1, 18), "120.00", "100.00")
        ku, _ = f.commission(u1, "12.00", [])
        done("u-1", u1.id, ku.id)
        # Books (advertiser B).
        b1 = f.conversion(books, z, "b-1", at(1, 19), "90.00")
        kb, _ = f.commission(b1, "9.00", [])
        done("b-1", b1.id, kb.id)

        return Net(
            adv_a.id,
            adv_a_key,
            adv_b.id,
            adv_b_key,
            shoes.id,
            bags.id,
            books.id,
            x.id,
            x_key,
            y.id,
            y_key,
            z.id,
            l1x.id,
            conv,
            com,
        )


PERIOD = {"from": "2024-03-01", "to": "2024-03-10"}
