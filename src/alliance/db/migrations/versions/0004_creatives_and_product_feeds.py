"""creatives and product feeds

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import alliance.db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "creatives",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("program_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("landing_url", sa.String(length=2048), nullable=False),
        sa.Column("image_url", sa.String(length=2048), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("alt_text", sa.String(length=500), nullable=False),
        sa.Column("anchor_text", sa.String(length=500), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("description", sa.String(length=4000), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", alliance.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", alliance.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_creatives_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_creatives")),
    )
    with op.batch_alter_table("creatives", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_creatives_program_id_active"), ["program_id", "active"], unique=False
        )

    op.create_table(
        "feed_products",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("program_id", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("title_key", sa.String(length=1500), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("price", alliance.db.base.Amount(precision=20, scale=6), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("image_url", sa.String(length=2048), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_upload_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", alliance.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", alliance.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("removed_at", alliance.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_feed_products_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_products")),
        sa.UniqueConstraint(
            "program_id", "product_id", name=op.f("uq_feed_products_program_id_product_id")
        ),
    )
    with op.batch_alter_table("feed_products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feed_products_program_id_status_category"),
            ["program_id", "status", "category"],
            unique=False,
        )

    op.create_table(
        "feed_uploads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("program_id", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_accepted", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("products_created", sa.Integer(), nullable=False),
        sa.Column("products_updated", sa.Integer(), nullable=False),
        sa.Column("products_unchanged", sa.Integer(), nullable=False),
        sa.Column("products_removed", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("errors_total", sa.Integer(), nullable=False),
        sa.Column("ignored_columns", sa.JSON(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", alliance.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_feed_uploads_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_uploads")),
    )
    with op.batch_alter_table("feed_uploads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feed_uploads_program_id_id"), ["program_id", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("feed_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_uploads_program_id_id"))
    op.drop_table("feed_uploads")
    with op.batch_alter_table("feed_products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_products_program_id_status_category"))
    op.drop_table("feed_products")
    with op.batch_alter_table("creatives", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_creatives_program_id_active"))
    op.drop_table("creatives")
