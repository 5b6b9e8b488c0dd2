"""order webhooks: platform integrations, delivery dedup, parked and per-refund amounts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import alliance.db.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_integrations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("program_id", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("secret", sa.String(length=255), nullable=False),
        sa.Column("previous_secret", sa.String(length=255), nullable=True),
        sa.Column(
            "previous_valid_until", alliance.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("store_url", sa.String(length=500), nullable=True),
        sa.Column("api_key", sa.String(length=255), nullable=True),
        sa.Column("api_secret", sa.String(length=255), nullable=True),
        sa.Column("created_at", alliance.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", alliance.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_webhook_integrations_program_id_programs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_integrations")),
        sa.UniqueConstraint(
            "program_id", "platform", name=op.f("uq_webhook_integrations_program_id_platform")
        ),
    )
    op.create_table(
        "order_refunds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("program_id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=128), nullable=False),
        sa.Column("refund_key", sa.String(length=128), nullable=False),
        sa.Column("amount", alliance.db.base.Amount(precision=20, scale=6), nullable=False),
        sa.Column("inbound_event_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", alliance.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_order_refunds_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_refunds")),
        sa.UniqueConstraint(
            "program_id",
            "order_id",
            "refund_key",
            name=op.f("uq_order_refunds_program_id_order_id_refund_key"),
        ),
    )
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedup_key", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("order_id", sa.String(length=128), nullable=True))
        batch_op.create_index(
            "uq_inbound_events_program_id_source_dedup_key",
            ["program_id", "source", "dedup_key"],
            unique=True,
        )
        batch_op.create_index(
            batch_op.f("ix_inbound_events_program_id_order_id_status"),
            ["program_id", "order_id", "status"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_events_program_id_order_id_status"))
        batch_op.drop_index("uq_inbound_events_program_id_source_dedup_key")
        batch_op.drop_column("order_id")
        batch_op.drop_column("dedup_key")
    op.drop_table("order_refunds")
    op.drop_table("webhook_integrations")
