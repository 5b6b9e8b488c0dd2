"""partner matching: co-purchase counts of categories and partners' category mixes

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alliance.db.base import UTCDateTime

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "co_purchase_categories",
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("baskets", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("category", name=op.f("pk_co_purchase_categories")),
    )
    op.create_table(
        "co_purchase_pairs",
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("other_category", sa.String(length=64), nullable=False),
        sa.Column("baskets", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("category < other_category", name=op.f("ck_co_purchase_pairs_ordered")),
        sa.PrimaryKeyConstraint("category", "other_category", name=op.f("pk_co_purchase_pairs")),
    )
    op.create_table(
        "partner_category_orders",
        sa.Column("partner_id", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("orders", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_category_orders_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("partner_id", "category", name=op.f("pk_partner_category_orders")),
    )
    op.create_table(
        "matching_states",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("baskets", sa.BigInteger(), nullable=False),
        sa.Column("orders_read", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_matching_states")),
    )


def downgrade() -> None:
    op.drop_table("matching_states")
    op.drop_table("partner_category_orders")
    op.drop_table("co_purchase_pairs")
    op.drop_table("co_purchase_categories")
