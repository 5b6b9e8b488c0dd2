"""fx rates: the ECB euro reference rates (the bundled history is loaded after upgrading),
the rate an order in another currency than its program's was priced at, and commissions'
payout currency and approval-day rate with each ledger entry's value in it

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-21 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alliance.db.base import Amount, Rate

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fx_rates",
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("per_eur", Rate(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("currency", "day", name=op.f("pk_fx_rates")),
    )
    # Plain ALTER TABLE on both engines: a batch copy of these tables on SQLite would drop
    # the report triggers of 0009 with the old tables.
    op.add_column("conversions", sa.Column("fx_rate", Rate(), nullable=True))
    op.add_column("conversions", sa.Column("fx_day", sa.Date(), nullable=True))
    op.add_column("commissions", sa.Column("payout_currency", sa.String(length=3), nullable=True))
    op.add_column("commissions", sa.Column("payout_rate", Rate(), nullable=True))
    op.add_column("commissions", sa.Column("payout_rate_day", sa.Date(), nullable=True))
    op.add_column(
        "ledger_entries",
        sa.Column("payout_amount", Amount(precision=20, scale=6), nullable=True),
    )


def downgrade() -> None:
    op.execute("ALTER TABLE ledger_entries DROP COLUMN payout_amount")
    op.execute("ALTER TABLE commissions DROP COLUMN payout_rate_day")
    op.execute("ALTER TABLE commissions DROP COLUMN payout_rate")
    op.execute("ALTER TABLE commissions DROP COLUMN payout_currency")
    op.execute("ALTER TABLE conversions DROP COLUMN fx_day")
    op.execute("ALTER TABLE conversions DROP COLUMN fx_rate")
    op.drop_table("fx_rates")
