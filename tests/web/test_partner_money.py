"""Earnings, the statement (with its CSV) and postback settings of the partner pages.

Commissions are written straight into the ledger (tests/api/factories.insert_commission) in
every status a commission can have, for our partner and for a rival in the same program; the
pages must add up to the ledger and show only ours.
"""

from __future__ import annotations

import csv
import html
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from alliance.accounts.models import AccountKind
from alliance.accounts.users import Role
from alliance.clock import utcnow
from alliance.commissions.models import LedgerEntry
from alliance.db.engine import reading
from alliance.notifications.models import PartnerPostback
from alliance.web.partner_money import StatementFilters, _page, earnings_of
from alliance.web.sessions import Viewer
from alliance.web.templating import money
from tests.api.factories import (
    enroll_and_approve,
    insert_commission,
    insert_conversion,
    make_advertiser,
    make_partner,
    make_program,
)
from tests.conftest import Server
from tests.web.conftest import Browser, signed_in

pytestmark = pytest.mark.xdist_group("partner-money")

# (status, ledger entries): every way a commission can end up.
LIFECYCLES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "pending": (("accrual", "pending", "100.00"),),
    "approved": (
        ("accrual", "pending", "200.00"),
        ("approval", "pending", "-200.00"),
        ("approval", "approved", "200.00"),
        ("reduction", "approved", "-20.00"),  # a partial refund after approval
    ),
    "paid": (
        ("accrual", "pending", "50.00"),
        ("approval", "pending", "-50.00"),
        ("approval", "approved", "50.00"),
        ("payment", "approved", "-50.00"),
        ("payment", "paid", "50.00"),
    ),
    "reversed": (("accrual", "pending", "80.00"), ("reversal", "pending", "-80.00")),
    "declined": (("accrual", "pending", "30.00"), ("decline", "pending", "-30.00")),
}


@dataclass(frozen=True)
class Books:
    tag: str
    program_id: str
    partner_id: str
    other_id: str
    commissions: dict[str, str]  # status -> commission id
    orders: dict[str, str]  # status -> order id
    days: dict[str, str]  # status -> ISO day the order occurred
    other_order: str


@pytest.fixture(scope="module")
def books(server: Server, operator_key: str) -> Books:
    tag = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=server.url, timeout=15) as http:
        _, adv_key = make_advertiser(http, operator_key, currency="SEK")
        program = make_program(http, adv_key, name=f"Books {tag}")
        partner_id, partner_key = make_partner(http, operator_key, name=f"Ours {tag}")
        other_id, other_key = make_partner(http, operator_key, name=f"Rival {tag}")
        for key in (partner_key, other_key):
            enroll_and_approve(http, program["id"], key, adv_key)
    commissions, orders, days = {}, {}, {}
    now = utcnow()
    for i, (status, entries) in enumerate(LIFECYCLES.items()):
        order_id = f"order-{status}-{tag}"
        when = now - timedelta(days=i, hours=1)
        conversion = insert_conversion(
            program["id"], partner_id, order_id=order_id, occurred_at=when
        )
        commissions[status] = insert_commission(
            program["id"], partner_id, conversion, entries=entries, status=status, occurred_at=when
        )
        orders[status] = order_id
        days[status] = when.date().isoformat()
    # A formula in an order id must reach the CSV as text.
    formula = insert_conversion(
        program["id"], partner_id, order_id=f'=HYPERLINK("http://evil.example","{tag}")'
    )
    insert_commission(program["id"], partner_id, formula, occurred_at=now - timedelta(days=9))
    other_order = f"rival-order-{tag}"
    rival = insert_conversion(program["id"], other_id, order_id=other_order)
    insert_commission(program["id"], other_id, rival, entries=(("accrual", "pending", "7777.00"),))
    return Books(tag, program["id"], partner_id, other_id, commissions, orders, days, other_order)


@pytest.fixture(scope="module")
def me(server: Server, books: Books) -> Iterator[Browser]:
    b = signed_in(server, books.partner_id)
    yield b
    b.close()


def page(b: Browser, path: str, status: int = 200) -> str:
    answer = b.get(path)
    assert answer.status_code == status, answer.text[:2000]
    return answer.text


def text_of(markup: str) -> str:
    # Collapse ASCII whitespace only: the no-break space inside amounts ("SEK\xa050.00") stays.
    text = html.unescape(re.sub(r"<[^>]+>", " ", markup))
    return " ".join(re.split(r"[ \t\r\n]+", text)).strip()


def amount(text: str) -> Decimal:
    return Decimal(re.sub(r"[^0-9.\-]", "", text.replace("\u2212", "-")))


def ledger_total(partner_id: str) -> Decimal:
    with reading() as session:
        return sum(
            session.scalars(select(LedgerEntry.amount).where(LedgerEntry.partner_id == partner_id)),
            Decimal(0),
        )


# --- earnings ----------------------------------------------------------------------------


def test_earnings_by_status_add_up_to_the_ledger(books: Books, me: Browser) -> None:
    total = ledger_total(books.partner_id)
    assert total == Decimal("100") + Decimal("180") + Decimal("50") + Decimal("100")
    body = page(me, "/partner/earnings")
    table = body[body.index('class="earnings-by-status"') :]
    worth = {}
    for status in ("pending", "approved", "paid", "reversed", "declined"):
        row = re.search(rf'<tr data-status="{status}">(.*?)</tr>', table, re.S)
        assert row, status
        cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(1))
        worth[status] = amount(cells[-1])
    assert worth == {
        "pending": Decimal("200.00"),  # our pending one and the formula order's
        "approved": Decimal("180.00"),
        "paid": Decimal("50.00"),
        "reversed": Decimal("0.00"),
        "declined": Decimal("0.00"),
    }
    assert sum(worth.values()) == total + Decimal("0")
    text = text_of(body)
    assert f"Total earned {money(total, 'SEK')}" in text
    # The ledger buckets: where the money sits.
    assert f"Pending {money(Decimal(200), 'SEK')}" in text
    assert f"Approved {money(Decimal(180), 'SEK')}" in text
    assert f"Paid {money(Decimal(50), 'SEK')}" in text
    assert money(Decimal("7777"), "SEK") not in text  # the rival's money
    # Per program: reversed and declined show what was lost.
    assert f"Books {books.tag}" in text
    assert money(Decimal(80), "SEK") in text and money(Decimal(30), "SEK") in text


def test_earnings_of_matches_the_ledger_per_bucket(books: Books) -> None:
    with reading() as session:
        earnings = earnings_of(session, books.partner_id)
        entries = session.execute(
            select(LedgerEntry.bucket, LedgerEntry.amount).where(
                LedgerEntry.partner_id == books.partner_id
            )
        ).all()
    by_bucket: dict[str, Decimal] = {}
    for bucket, value in entries:
        by_bucket[bucket] = by_bucket.get(bucket, Decimal(0)) + value
    assert earnings.currencies == ["SEK"]
    assert {k: v for k, v in earnings.buckets["SEK"].items() if v} == {
        k: v for k, v in by_bucket.items() if v
    }
    lines = earnings.by_status["SEK"]
    assert sum(line.value for line in lines.values()) == earnings.totals["SEK"]
    assert lines["reversed"].taken_back == Decimal(80)
    assert lines["declined"].count == 1


# --- statement ---------------------------------------------------------------------------


def test_statement_shows_each_commission_with_its_arithmetic(books: Books, me: Browser) -> None:
    body = page(me, "/partner/statement")
    text = text_of(body)
    for order_id in books.orders.values():
        assert order_id in text
    assert books.other_order not in text  # the rival's commission
    assert "10% of 1000.00 SEK = 200.00 SEK" in text  # the stored arithmetic
    assert "<details>" in body and "accrual" in text and "approval" in text
    # Newest first.
    assert text.index(books.orders["pending"]) < text.index(books.orders["declined"])
    # The current value beside the first amount: 200 computed, 180 after the refund.
    row = body[body.index(f'id="{books.commissions["approved"]}"') :]
    nums = re.findall(r'<td class="num">([^<]*)</td>', row)[:2]
    assert [amount(n) for n in nums] == [Decimal(200), Decimal(180)]


def test_statement_filters(books: Books, me: Browser) -> None:
    reversed_only = text_of(page(me, "/partner/statement?status=reversed"))
    assert books.orders["reversed"] in reversed_only
    assert books.orders["pending"] not in reversed_only
    day = books.days["approved"]
    one_day = text_of(page(me, f"/partner/statement?from={day}&to={day}"))
    assert books.orders["approved"] in one_day and books.orders["pending"] not in one_day
    assert "No commission matches" in text_of(
        page(me, "/partner/statement?status=paid&to=2001-01-01")
    )
    bad = me.get("/partner/statement?from=yesterday")
    assert bad.status_code == 422 and "from" in text_of(bad.text)
    assert me.get("/partner/statement?status=won").status_code == 422


def test_statement_pages_by_keyset(books: Books) -> None:
    viewer = Viewer(
        user_id="",
        email="",
        name="",
        membership_id="",
        kind=AccountKind.partner,
        account_id=books.partner_id,
        account_name="",
        role=Role.owner,
        accounts=(),
    )
    seen: list[str] = []
    cursor = None
    with reading() as session:
        while True:
            rows, cursor = _page(session, viewer, StatementFilters(), cursor, 2)
            seen += [c.id for c, _ in rows]
            assert len(rows) <= 2
            if cursor is None:
                break
    assert len(seen) == len(set(seen)) == 6
    assert set(books.commissions.values()) <= set(seen)


def test_statement_csv_is_complete_and_defused(books: Books, me: Browser) -> None:
    answer = me.get("/partner/statement.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 6
    by_order = {r["order_id"]: r for r in rows}
    approved = by_order[books.orders["approved"]]
    assert (approved["amount"], approved["value"], approved["status"]) == (
        "200.00",
        "180.00",
        "approved",
    )
    assert approved["arithmetic"] == "10% of 1000.00 SEK = 200.00 SEK"
    assert any(k.startswith("'=HYPERLINK(") for k in by_order)  # shown as text by spreadsheets
    assert books.other_order not in answer.text
    filtered = list(csv.DictReader(io.StringIO(me.get("/partner/statement.csv?status=paid").text)))
    assert [r["order_id"] for r in filtered] == [books.orders["paid"]]


# --- postbacks ---------------------------------------------------------------------------

TEMPLATE = "https://1.1.1.1/pb?cid={click_id}&payout={commission}&st={status}"


def test_postback_settings_save_and_show(books: Books, me: Browser) -> None:
    body = page(me, "/partner/postbacks")
    assert "{click_id}" in body and "{order_id}" in body  # the macro list
    saved = me.post(
        "/partner/postbacks",
        {
            "program_id": books.program_id,
            "url": TEMPLATE,
            "event_types": ["conversion.completed", "conversion.refunded"],
            "active": "1",
        },
        token_from="/partner/postbacks",
    )
    assert saved.status_code == 303, saved.text[:2000]
    with reading() as session:
        row = session.scalar(
            select(PartnerPostback).where(PartnerPostback.partner_id == books.partner_id)
        )
    assert row is not None and row.url_template == TEMPLATE and row.active
    assert row.event_types == ["conversion.completed", "conversion.refunded"]
    body = page(me, "/partner/postbacks")
    shown = text_of(body)
    assert f'value="{html.escape(TEMPLATE)}"' in body and f"Books {books.tag}" in shown
    assert "cid=clk_01J0000000000000000EXAMPLE&payout=9.60&st=completed" in shown
    # Disable, then delete.
    off = me.post(
        f"/partner/postbacks/{row.id}/active", {"active": "false"}, token_from="/partner/postbacks"
    )
    assert off.status_code == 303
    with reading() as session:
        again = session.get(PartnerPostback, row.id)
        assert again is not None and not again.active
    gone = me.post(f"/partner/postbacks/{row.id}/delete", {}, token_from="/partner/postbacks")
    assert gone.status_code == 303
    with reading() as session:
        assert session.get(PartnerPostback, row.id) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "url"),
        ("not a url at all", "url"),
        ("https://1.1.1.1/pb?x={unknown}", "unknown macro"),
        ("https://{sub1}.example.com/pb", "host"),
        ("http://10.0.0.8/pb?c={click_id}", "private"),
        ("http://127.0.0.1:8000/pb", "url"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
    ],
)
def test_postback_refusals_name_the_field(books: Books, me: Browser, url: str, why: str) -> None:
    answer = me.post("/partner/postbacks", {"url": url}, token_from="/partner/postbacks")
    assert 400 <= answer.status_code < 500
    text = text_of(answer.text)
    assert "(field: url)" in text and why in text, text[-1500:]
    assert 'aria-invalid="true"' in answer.text
    with reading() as session:
        assert (
            session.scalar(
                select(PartnerPostback.id).where(
                    PartnerPostback.partner_id == books.partner_id,
                    PartnerPostback.url_template == url,
                )
            )
            is None
        )


def test_postback_event_types_are_conversion_events(books: Books, me: Browser) -> None:
    answer = me.post(
        "/partner/postbacks",
        {"url": TEMPLATE, "event_types": ["commission.approved"]},
        token_from="/partner/postbacks",
    )
    assert answer.status_code == 422 and "(field: event_types)" in text_of(answer.text)


def test_postbacks_of_others_are_out_of_reach(server: Server, books: Books, me: Browser) -> None:
    rival = signed_in(server, books.other_id)
    try:
        saved = rival.post(
            "/partner/postbacks", {"url": TEMPLATE + "&r=1"}, token_from="/partner/postbacks"
        )
        assert saved.status_code == 303
        with reading() as session:
            theirs = session.scalar(
                select(PartnerPostback).where(PartnerPostback.partner_id == books.other_id)
            )
        assert theirs is not None
        assert TEMPLATE + "&r=1" not in html.unescape(page(me, "/partner/postbacks"))
        for path in (
            f"/partner/postbacks/{theirs.id}/delete",
            f"/partner/postbacks/{theirs.id}/active",
        ):
            answer = me.post(path, {"active": "false"}, token_from="/partner/postbacks")
            assert answer.status_code == 404
        read_only = signed_in(server, books.partner_id, Role.read_only)
        try:
            page(read_only, "/partner/postbacks")
            assert (
                read_only.post(
                    "/partner/postbacks", {"url": TEMPLATE}, token_from="/partner/postbacks"
                ).status_code
                == 403
            )
        finally:
            read_only.close()
    finally:
        rival.close()
