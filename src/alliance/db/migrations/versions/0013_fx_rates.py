"""fx rates: the ECB euro reference rates (the bundled history is loaded after upgrading),
and the rate an order in another currency than its program's was priced at

Revision ID: 0013
Revises: 0010
Create Date: 2026-11-21 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alliance.db.base import Rate

revision: str = "0013"
down_revision: str | None = "0010"
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
    # Plain ALTER TABLE on both engines: a batch copy of `conversions` on SQLite would drop
    # the report triggers of 0009 with the old table.
    op.add_column("conversions", sa.Column("fx_rate", Rate(), nullable=True))
    op.add_column("conversions", sa.Column("fx_day", sa.Date(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE conversions DROP COLUMN fx_day")
    op.execute("ALTER TABLE conversions DROP COLUMN fx_rate")
    op.drop_table("fx_rates")
