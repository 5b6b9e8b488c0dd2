"""bulk order validation: uploads (idempotent per program and content) and their row results

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import alliance.db.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_validations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("program_id", sa.String(length=32), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("claim", sa.String(length=32), nullable=False),
        sa.Column("created_at", alliance.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", alliance.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", alliance.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_order_validations_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_validations")),
        sa.UniqueConstraint(
            "program_id",
            "content_sha256",
            name=op.f("uq_order_validations_program_id_content_sha256"),
        ),
    )
    with op.batch_alter_table("order_validations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_order_validations_program_id_id"), ["program_id", "id"], unique=False
        )

    op.create_table(
        "order_validation_rows",
        sa.Column("validation_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("refund_amount", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("result", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("conversion_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["validation_id"],
            ["order_validations.id"],
            name=op.f("fk_order_validation_rows_validation_id_order_validations"),
        ),
        sa.PrimaryKeyConstraint("validation_id", "position", name=op.f("pk_order_validation_rows")),
    )
    with op.batch_alter_table("order_validation_rows", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_order_validation_rows_validation_id_result_position"),
            ["validation_id", "result", "position"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("order_validation_rows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_validation_rows_validation_id_result_position"))
    op.drop_table("order_validation_rows")
    with op.batch_alter_table("order_validations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_validations_program_id_id"))
    op.drop_table("order_validations")
