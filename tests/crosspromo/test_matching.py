"""What matching learns from orders: baskets, co-purchase counts and partners' category
mixes, stored by the refresh (the daily job) and read back for the rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from alliance.clock import utcnow
from alliance.crosspromo import matching
from alliance.crosspromo.matching_models import (
    CoPurchaseCategory,
    CoPurchasePair,
    MatchingState,
    PartnerCategoryOrders,
)
from alliance.db.engine import reading
from alliance.jobs.runner import TASKS, run_task
from tests.crosspromo.matching_factories import Tags, enrolled, orders, partner, shop


@pytest.fixture(scope="module")
def tags(db_url: str) -> Tags:
    return Tags.new()


def _counts(tags: Tags) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    mine = [tags(n) for n in ("trail", "gels", "books", "old")]
    with reading() as session:
        categories = dict(
            session.execute(
                select(CoPurchaseCategory.category, CoPurchaseCategory.baskets).where(
                    CoPurchaseCategory.category.in_(mine)
                )
            ).all()
        )
        pairs = {
            (a, b): n
            for a, b, n in session.execute(
                select(
                    CoPurchasePair.category,
                    CoPurchasePair.other_category,
                    CoPurchasePair.baskets,
                ).where(CoPurchasePair.category.in_(mine))
            ).all()
        }
    return categories, pairs


def test_baskets_are_one_customers_orders_in_one_program(tags: Tags) -> None:
    trail, gels, books = tags("trail"), tags("gels"), tags("books")
    _, store = shop(trail.upper())  # the program's category, in another case
    _, other_store = shop(books)
    seller = partner()
    other = partner()
    enrolled(store, seller.id)
    enrolled(other_store, other.id)
    # One customer, two orders in one program: one basket {trail, gels}.
    orders(store, seller.id, [trail], customer="c1")
    orders(store, seller.id, [f"  {gels.upper()} "], customer="c1")  # keys fold case, spaces
    # Without customer ids: a basket per order. No lines, or a line without a category: the
    # program's category.
    orders(store, seller.id, [], customer=None, count=2)
    orders(store, seller.id, [None], customer=None)
    # The same customer id in another program is another store's customer: another basket.
    orders(other_store, other.id, [books], customer="c1")
    # Not bought: declined and refunded orders; not in the window: a year and more ago.
    orders(store, seller.id, [trail, books], status="declined")
    orders(store, seller.id, [trail, books], status="refunded")
    orders(store, seller.id, [tags("old")], at=utcnow() - timedelta(days=366))

    done = matching.refresh_co_purchases()

    assert done.window_days == 365 and done.orders_read >= 6
    categories, pairs = _counts(tags)
    assert categories == {trail: 4, gels: 1, books: 1}
    assert pairs == {(gels, trail): 1}
    with reading() as session:
        mix = dict(
            session.execute(
                select(PartnerCategoryOrders.category, PartnerCategoryOrders.orders).where(
                    PartnerCategoryOrders.partner_id == seller.id
                )
            ).all()
        )
        state = session.get(MatchingState, matching.STATE)
    # Per order (not per basket): the c1 orders count one each.
    assert mix == {trail: 4, gels: 1}
    assert state is not None and state.baskets == done.baskets


def test_lift_is_read_back_above_the_minimum_support_only(tags: Tags) -> None:
    a, b, c = tags("pa"), tags("pb"), tags("pc")
    _, store = shop(a)
    seller = partner()
    orders(store, seller.id, [a, b], count=20)
    orders(store, seller.id, [a, c], count=19)
    matching.refresh_co_purchases()
    with reading() as session:
        co = matching.load_co_purchases(session)
    assert co is not None
    assert co.together(a, b) == 20
    assert co.together(a, c) == 0  # 19 < 20: read as never bought together
    assert co.categories[a] == 39
    assert co.lift(a, b) == pytest.approx(20 * co.baskets / (39 * 20))


def test_a_refresh_replaces_the_counts(tags: Tags) -> None:
    gone = tags("gone")
    _, store = shop(gone)
    seller = partner()
    [order] = orders(store, seller.id, [gone])
    matching.refresh_co_purchases()
    assert _counts_of(gone) == 1
    # The order is now declined: the next refresh forgets the category entirely.
    from alliance.conversions.models import Conversion
    from alliance.db.engine import transaction

    with transaction() as session:
        row = session.get(Conversion, order)
        assert row is not None
        row.status = "declined"
    matching.refresh_co_purchases()
    assert _counts_of(gone) is None


def _counts_of(category: str) -> int | None:
    with reading() as session:
        row = session.get(CoPurchaseCategory, category)
        return row.baskets if row is not None else None


def test_the_daily_job_refreshes(tags: Tags) -> None:
    assert TASKS["refresh_matching"].every == timedelta(days=1)
    result = run_task(TASKS["refresh_matching"])
    assert result.ok, result.result
    assert {"orders_read", "baskets", "pairs", "partners", "window_days"} <= set(result.result)


def test_the_cli_refreshes_and_shows(tags: Tags) -> None:
    from typer.testing import CliRunner

    from alliance.cli import app

    trail = tags("cli")
    seller = partner(categories=[trail])
    _, store = shop(trail, name="CLI shop")
    _, other = shop(trail, name="CLI other")
    enrolled(store, seller.id)
    runner = CliRunner()
    done = runner.invoke(app, ["crosspromo", "matching", "refresh"])
    assert done.exit_code == 0, done.output
    assert "baskets" in done.output
    shown = runner.invoke(
        app, ["crosspromo", "matching", "show", "programs", seller.id, "--category", trail]
    )
    assert shown.exit_code == 0, shown.output
    assert other in shown.output and store not in shown.output
    assert (
        runner.invoke(app, ["crosspromo", "matching", "show", "nonsense", seller.id]).exit_code == 2
    )
    missing = runner.invoke(app, ["crosspromo", "matching", "show", "partners", "prg_nope"])
    assert missing.exit_code == 2 and "no program" in missing.output
