"""fair exchange: the signed entries of what co-promoting partners delivered to each other,
their settlements, and the alerts raised when a pair's balance exceeds the agreed tolerance

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-22 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alliance.db.base import UTCDateTime

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exchange_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("partner_low", sa.String(length=32), nullable=False),
        sa.Column("partner_high", sa.String(length=32), nullable=False),
        sa.Column("crossing", sa.Integer(), nullable=False),
        sa.Column("owed_partner_id", sa.String(length=32), nullable=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("exchanged", sa.Integer(), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_exchange_alerts_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["partner_high"], ["partners.id"], name=op.f("fk_exchange_alerts_partner_high_partners")
        ),
        sa.ForeignKeyConstraint(
            ["partner_low"], ["partners.id"], name=op.f("fk_exchange_alerts_partner_low_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_alerts")),
        sa.UniqueConstraint(
            "campaign_id",
            "partner_low",
            "partner_high",
            "crossing",
            name=op.f("uq_exchange_alerts_pair_crossing"),
        ),
    )
    op.create_index(
        op.f("ix_exchange_alerts_campaign_id_partner_low_partner_high"),
        "exchange_alerts",
        ["campaign_id", "partner_low", "partner_high"],
    )
    op.create_table(
        "exchange_entries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("partner_low", sa.String(length=32), nullable=False),
        sa.Column("partner_high", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("source_key", sa.String(length=120), nullable=False),
        sa.Column("click_id", sa.String(length=32), nullable=True),
        sa.Column("settlement_id", sa.String(length=32), nullable=True),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_exchange_entries_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_high"],
            ["partners.id"],
            name=op.f("fk_exchange_entries_partner_high_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_low"], ["partners.id"], name=op.f("fk_exchange_entries_partner_low_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_entries")),
        sa.UniqueConstraint(
            "campaign_id", "source_key", name=op.f("uq_exchange_entries_campaign_id_source_key")
        ),
    )
    op.create_index(
        op.f("ix_exchange_entries_campaign_id_partner_low_partner_high"),
        "exchange_entries",
        ["campaign_id", "partner_low", "partner_high"],
    )
    op.create_index(op.f("ix_exchange_entries_partner_high"), "exchange_entries", ["partner_high"])
    op.create_index(op.f("ix_exchange_entries_partner_low"), "exchange_entries", ["partner_low"])
    op.create_table(
        "exchange_settlements",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("partner_low", sa.String(length=32), nullable=False),
        sa.Column("partner_high", sa.String(length=32), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("balance_before", sa.Integer(), nullable=False),
        sa.Column("cap", sa.Integer(), nullable=True),
        sa.Column("carried", sa.Integer(), nullable=True),
        sa.Column("forgiven", sa.Integer(), nullable=True),
        sa.Column("slot_id", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_exchange_settlements_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_high"],
            ["partners.id"],
            name=op.f("fk_exchange_settlements_partner_high_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_low"],
            ["partners.id"],
            name=op.f("fk_exchange_settlements_partner_low_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["slot_id"],
            ["campaign_slots.id"],
            name=op.f("fk_exchange_settlements_slot_id_campaign_slots"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_settlements")),
    )
    op.create_index(
        op.f("ix_exchange_settlements_campaign_id_partner_low_partner_high"),
        "exchange_settlements",
        ["campaign_id", "partner_low", "partner_high"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_exchange_settlements_campaign_id_partner_low_partner_high"),
        table_name="exchange_settlements",
    )
    op.drop_table("exchange_settlements")
    op.drop_index(op.f("ix_exchange_entries_partner_low"), table_name="exchange_entries")
    op.drop_index(op.f("ix_exchange_entries_partner_high"), table_name="exchange_entries")
    op.drop_index(
        op.f("ix_exchange_entries_campaign_id_partner_low_partner_high"),
        table_name="exchange_entries",
    )
    op.drop_table("exchange_entries")
    op.drop_index(
        op.f("ix_exchange_alerts_campaign_id_partner_low_partner_high"),
        table_name="exchange_alerts",
    )
    op.drop_table("exchange_alerts")
