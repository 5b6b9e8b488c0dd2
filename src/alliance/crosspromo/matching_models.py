"""What partner matching learns from orders, rebuilt whole by the daily refresh_matching job
(crosspromo/matching.py `refresh_co_purchases`): nothing here is a source of truth.

- `co_purchase_categories` / `co_purchase_pairs`: in how many baskets (one customer's orders
  in one program, or one order without a customer id) each category, and each pair of
  categories, was bought; the lift of a pair is computed from these at request time.
- `partner_category_orders`: how many of each partner's orders had a line in each category:
  what the partner's audience buys, the partner's side of category complementarity.
- `matching_states`: when the counts were made, over which window, from how many orders.

Categories are stored as matching_rules.category_key (case-folded, spaces collapsed).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from alliance.db.base import Base


class CoPurchaseCategory(Base):
    """Baskets holding at least one line of `category`."""

    __tablename__ = "co_purchase_categories"

    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    baskets: Mapped[int] = mapped_column(BigInteger)


class CoPurchasePair(Base):
    """Baskets holding both categories. Each pair is stored once, its keys in order (the
    check), so the lift of (a, b) reads one row whichever way it is asked."""

    __tablename__ = "co_purchase_pairs"
    __table_args__ = (CheckConstraint("category < other_category", name="ordered"),)

    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    other_category: Mapped[str] = mapped_column(String(64), primary_key=True)
    baskets: Mapped[int] = mapped_column(BigInteger)


class PartnerCategoryOrders(Base):
    """A partner's orders (not declined) in the window with a line in `category`. The
    primary key (partner_id first) serves the look-up of one partner's mix."""

    __tablename__ = "partner_category_orders"

    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    orders: Mapped[int] = mapped_column(BigInteger)


class MatchingState(Base):
    """One row per learned set ("co_purchases"): replaced, with the counts, by each refresh.
    No row: never computed (the complementarity component says so)."""

    __tablename__ = "matching_states"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    window_days: Mapped[int] = mapped_column()
    baskets: Mapped[int] = mapped_column(BigInteger)  # every basket, with a category or not
    orders_read: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[datetime] = mapped_column()
