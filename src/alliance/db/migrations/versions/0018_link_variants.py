"""link variants: link_variants, clicks.variant_id

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alliance.db.base import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_variants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("link_id", sa.String(length=32), nullable=False),
        sa.Column("program_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("landing_url", sa.String(length=2048), nullable=True),
        sa.Column("creative_id", sa.String(length=32), nullable=True),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("devices", sa.JSON(), nullable=False),
        sa.Column("visitor", sa.String(length=16), nullable=True),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "weight >= 1 AND weight <= 10000", name=op.f("ck_link_variants_weight_range")
        ),
        sa.CheckConstraint(
            "(landing_url IS NULL) <> (creative_id IS NULL)",
            name=op.f("ck_link_variants_one_target"),
        ),
        sa.CheckConstraint(
            "visitor IS NULL OR visitor IN ('new', 'returning')",
            name=op.f("ck_link_variants_visitor"),
        ),
        sa.ForeignKeyConstraint(
            ["creative_id"], ["creatives.id"], name=op.f("fk_link_variants_creative_id_creatives")
        ),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_link_variants_link_id_links")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_link_variants_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_variants")),
    )
    with op.batch_alter_table("link_variants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_link_variants_link_id_deleted_at"),
            ["link_id", "deleted_at"],
            unique=False,
        )
    # Nullable, no default, no index: adding it rewrites no existing click (PostgreSQL only
    # touches the catalogue) and costs the redirect's insert nothing but the value.
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.drop_column("variant_id")
    with op.batch_alter_table("link_variants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_variants_link_id_deleted_at"))
    op.drop_table("link_variants")
