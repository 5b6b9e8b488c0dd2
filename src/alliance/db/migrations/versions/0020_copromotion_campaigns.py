"""co-promotion campaigns: campaigns, their parties, slots (each with its tracking link),
deliverables and the reminders sent (crosspromo/campaign_models.py, ADR 0020)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-22 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alliance.db.base import Amount, UTCDateTime

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=True),
        sa.Column("ends_at", UTCDateTime(), nullable=True),
        sa.Column("goal_clicks", sa.Integer(), nullable=True),
        sa.Column("goal_orders", sa.Integer(), nullable=True),
        sa.Column("goal_revenue", Amount(), nullable=True),
        sa.Column("goal_currency", sa.String(length=3), nullable=True),
        sa.Column("tolerance_percent", Amount(), nullable=True),
        sa.Column("tolerance_clicks", sa.Integer(), nullable=True),
        sa.Column("organiser_party_id", sa.String(length=32), nullable=True),
        sa.Column("terms_version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("proposed_at", UTCDateTime(), nullable=True),
        sa.Column("agreed_at", UTCDateTime(), nullable=True),
        sa.Column("live_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=32), nullable=True),
        sa.Column("cancel_reason", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index(op.f("ix_campaigns_status"), "campaigns", ["status"])

    op.create_table(
        "campaign_reminders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("offset_key", sa.String(length=16), nullable=False),
        sa.Column("party_id", sa.String(length=32), nullable=False),
        sa.Column("scheduled_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("mails", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_reminders_campaign_id_campaigns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_reminders")),
        sa.UniqueConstraint(
            "item_id",
            "due_at",
            "offset_key",
            name=op.f("uq_campaign_reminders_item_id_due_at_offset_key"),
        ),
    )
    op.create_index(
        op.f("ix_campaign_reminders_campaign_id"), "campaign_reminders", ["campaign_id"]
    )

    op.create_table(
        "campaign_parties",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("partner_id", sa.String(length=32), nullable=True),
        sa.Column("advertiser_id", sa.String(length=32), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("accepted_version", sa.Integer(), nullable=True),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("declined_version", sa.Integer(), nullable=True),
        sa.Column("declined_at", UTCDateTime(), nullable=True),
        sa.Column("decline_reason", sa.String(length=2000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["advertiser_id"],
            ["advertisers.id"],
            name=op.f("fk_campaign_parties_advertiser_id_advertisers"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_parties_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_campaign_parties_partner_id_partners")
        ),
        sa.CheckConstraint(
            "(partner_id IS NULL) <> (advertiser_id IS NULL)",
            name=op.f("ck_campaign_parties_one_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_parties")),
        sa.UniqueConstraint(
            "campaign_id",
            "advertiser_id",
            name=op.f("uq_campaign_parties_campaign_id_advertiser_id"),
        ),
        sa.UniqueConstraint(
            "campaign_id", "partner_id", name=op.f("uq_campaign_parties_campaign_id_partner_id")
        ),
    )
    op.create_index(
        op.f("ix_campaign_parties_advertiser_id"), "campaign_parties", ["advertiser_id"]
    )
    op.create_index(op.f("ix_campaign_parties_partner_id"), "campaign_parties", ["partner_id"])

    op.create_table(
        "campaign_slots",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("promoter_party_id", sa.String(length=32), nullable=False),
        sa.Column("beneficiary_party_id", sa.String(length=32), nullable=True),
        sa.Column("program_id", sa.String(length=32), nullable=False),
        sa.Column("link_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("done_url", sa.String(length=2048), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["beneficiary_party_id"],
            ["campaign_parties.id"],
            name=op.f("fk_campaign_slots_beneficiary_party_id_campaign_parties"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_slots_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_campaign_slots_link_id_links")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_campaign_slots_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["promoter_party_id"],
            ["campaign_parties.id"],
            name=op.f("fk_campaign_slots_promoter_party_id_campaign_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_slots")),
    )
    op.create_index(
        op.f("ix_campaign_slots_campaign_id_starts_at"),
        "campaign_slots",
        ["campaign_id", "starts_at"],
    )
    op.create_index(op.f("ix_campaign_slots_link_id"), "campaign_slots", ["link_id"])

    op.create_table(
        "campaign_deliverables",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("slot_id", sa.String(length=32), nullable=True),
        sa.Column("party_id", sa.String(length=32), nullable=False),
        sa.Column("reviewer_party_id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("submission_url", sa.String(length=2048), nullable=True),
        sa.Column("submission_note", sa.String(length=2000), nullable=True),
        sa.Column("submissions", sa.Integer(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("review_note", sa.String(length=2000), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_deliverables_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["campaign_parties.id"],
            name=op.f("fk_campaign_deliverables_party_id_campaign_parties"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_party_id"],
            ["campaign_parties.id"],
            name=op.f("fk_campaign_deliverables_reviewer_party_id_campaign_parties"),
        ),
        sa.ForeignKeyConstraint(
            ["slot_id"],
            ["campaign_slots.id"],
            name=op.f("fk_campaign_deliverables_slot_id_campaign_slots"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_deliverables")),
    )
    op.create_index(
        op.f("ix_campaign_deliverables_campaign_id_due_at"),
        "campaign_deliverables",
        ["campaign_id", "due_at"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_campaign_deliverables_campaign_id_due_at"), table_name="campaign_deliverables"
    )
    op.drop_table("campaign_deliverables")
    op.drop_index(op.f("ix_campaign_slots_link_id"), table_name="campaign_slots")
    op.drop_index(op.f("ix_campaign_slots_campaign_id_starts_at"), table_name="campaign_slots")
    op.drop_table("campaign_slots")
    op.drop_index(op.f("ix_campaign_parties_partner_id"), table_name="campaign_parties")
    op.drop_index(op.f("ix_campaign_parties_advertiser_id"), table_name="campaign_parties")
    op.drop_table("campaign_parties")
    op.drop_index(op.f("ix_campaign_reminders_campaign_id"), table_name="campaign_reminders")
    op.drop_table("campaign_reminders")
    op.drop_index(op.f("ix_campaigns_status"), table_name="campaigns")
    op.drop_table("campaigns")
