"""partner referrals: recruit codes, referrals, override terms, sign-in fingerprints,
partner applications from the public sign-up page

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-22 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alliance.db.base import UTCDateTime

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE (as 0013): a batch copy of commissions on SQLite would break the
    # report triggers of 0009 that name it.
    op.add_column("commissions", sa.Column("funded_by", sa.String(length=16), nullable=True))
    op.create_table(
        "recruit_codes",
        sa.Column("partner_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_recruit_codes_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("partner_id", name=op.f("pk_recruit_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_recruit_codes_code")),
    )
    op.create_table(
        "partner_referrals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("recruit_id", sa.String(length=32), nullable=False),
        sa.Column("recruiter_id", sa.String(length=32), nullable=False),
        sa.Column("recruited_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recruit_id"], ["partners.id"], name=op.f("fk_partner_referrals_recruit_id_partners")
        ),
        sa.ForeignKeyConstraint(
            ["recruiter_id"],
            ["partners.id"],
            name=op.f("fk_partner_referrals_recruiter_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_referrals")),
        sa.UniqueConstraint("recruit_id", name=op.f("uq_partner_referrals_recruit_id")),
    )
    op.create_index(
        op.f("ix_partner_referrals_recruiter_id_recruited_at"),
        "partner_referrals",
        ["recruiter_id", "recruited_at"],
    )
    op.create_table(
        "referral_terms",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("program_id", sa.String(length=32), nullable=True),
        sa.Column("percents", sa.JSON(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("funded_by", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_referral_terms_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_terms")),
        sa.UniqueConstraint("scope", name=op.f("uq_referral_terms_scope")),
    )
    op.create_table(
        "account_fingerprints",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("partner_id", sa.String(length=32), nullable=False),
        sa.Column("ip_hash", sa.String(length=32), nullable=False),
        sa.Column("device_hash", sa.String(length=32), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_account_fingerprints_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_fingerprints")),
        sa.UniqueConstraint(
            "partner_id",
            "ip_hash",
            "device_hash",
            name=op.f("uq_account_fingerprints_partner_id_ip_hash_device_hash"),
        ),
    )
    op.create_table(
        "partner_applications",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("payout_currency", sa.String(length=3), nullable=False),
        sa.Column("website", sa.String(length=2048), nullable=True),
        sa.Column("audience", sa.String(length=2000), nullable=False),
        sa.Column("recruit_code", sa.String(length=16), nullable=True),
        sa.Column("ip_hash", sa.String(length=32), nullable=False),
        sa.Column("device_hash", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("partner_id", sa.String(length=32), nullable=True),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_applications_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_applications")),
    )
    op.create_index(
        op.f("ix_partner_applications_status_created_at"),
        "partner_applications",
        ["status", "created_at"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_partner_applications_status_created_at"), table_name="partner_applications"
    )
    op.drop_table("partner_applications")
    op.drop_table("account_fingerprints")
    op.drop_table("referral_terms")
    op.drop_index(
        op.f("ix_partner_referrals_recruiter_id_recruited_at"), table_name="partner_referrals"
    )
    op.drop_table("partner_referrals")
    op.drop_table("recruit_codes")
    op.execute("ALTER TABLE commissions DROP COLUMN funded_by")
