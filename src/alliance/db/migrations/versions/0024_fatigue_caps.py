"""fatigue caps: fatigue_cap_rules (capped clicks reuse clicks.invalid_reason)

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-22 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alliance.db.base import UTCDateTime

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fatigue_cap_rules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=True),
        sa.Column("slot_id", sa.String(length=32), nullable=True),
        sa.Column("partner_low_id", sa.String(length=32), nullable=True),
        sa.Column("partner_high_id", sa.String(length=32), nullable=True),
        sa.Column("maximum", sa.Integer(), nullable=False),
        sa.Column("window_kind", sa.String(length=16), nullable=False),
        sa.Column("window_hours", sa.Integer(), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "maximum >= 1 AND maximum <= 10000", name=op.f("ck_fatigue_cap_rules_maximum_range")
        ),
        sa.CheckConstraint(
            "scope IN ('network', 'campaign', 'slot', 'pair')",
            name=op.f("ck_fatigue_cap_rules_scope_known"),
        ),
        sa.CheckConstraint(
            "window_kind IN ('rolling', 'calendar_day', 'lifetime')",
            name=op.f("ck_fatigue_cap_rules_window_known"),
        ),
        sa.CheckConstraint(
            "partner_low_id IS NULL OR partner_low_id < partner_high_id",
            name=op.f("ck_fatigue_cap_rules_pair_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_fatigue_cap_rules_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["slot_id"],
            ["campaign_slots.id"],
            name=op.f("fk_fatigue_cap_rules_slot_id_campaign_slots"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_low_id"],
            ["partners.id"],
            name=op.f("fk_fatigue_cap_rules_partner_low_id_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_high_id"],
            ["partners.id"],
            name=op.f("fk_fatigue_cap_rules_partner_high_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fatigue_cap_rules")),
    )
    with op.batch_alter_table("fatigue_cap_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fatigue_cap_rules_scope_deleted_at"), ["scope", "deleted_at"]
        )
        batch_op.create_index(batch_op.f("ix_fatigue_cap_rules_campaign_id"), ["campaign_id"])
        batch_op.create_index(batch_op.f("ix_fatigue_cap_rules_slot_id"), ["slot_id"])
        batch_op.create_index(
            batch_op.f("ix_fatigue_cap_rules_partner_low_id_partner_high_id"),
            ["partner_low_id", "partner_high_id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("fatigue_cap_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fatigue_cap_rules_partner_low_id_partner_high_id"))
        batch_op.drop_index(batch_op.f("ix_fatigue_cap_rules_slot_id"))
        batch_op.drop_index(batch_op.f("ix_fatigue_cap_rules_campaign_id"))
        batch_op.drop_index(batch_op.f("ix_fatigue_cap_rules_scope_deleted_at"))
    op.drop_table("fatigue_cap_rules")
