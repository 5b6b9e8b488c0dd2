"""audience sketches: one KMV sketch per partner and window, for audience overlap

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alliance.db.base import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audience_sketches",
        sa.Column("partner_id", sa.String(length=32), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("sketch", sa.LargeBinary(), nullable=False),
        sa.Column("distinct_estimate", sa.BigInteger(), nullable=False),
        sa.Column("clicks_read", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_audience_sketches_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("partner_id", "window_days", name=op.f("pk_audience_sketches")),
    )
    with op.batch_alter_table("audience_sketches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audience_sketches_window_days_distinct_estimate"),
            ["window_days", "distinct_estimate"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("audience_sketches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audience_sketches_window_days_distinct_estimate"))
    op.drop_table("audience_sketches")
