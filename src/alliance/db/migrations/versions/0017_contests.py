"""contests: giveaways with a committed seed, partners' referral codes, every entry kept with
its status or refusal reason, and the published record of each draw

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alliance.db.base import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("program_id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("opens_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("closes_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("winners", sa.Integer(), nullable=False),
        sa.Column("bonus_per_referral", sa.Integer(), nullable=False),
        sa.Column("bonus_cap", sa.Integer(), nullable=False),
        sa.Column("per_ip_limit", sa.Integer(), nullable=False),
        sa.Column("external_source", sa.String(length=500), nullable=True),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("commitment", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_contests_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contests")),
    )
    with op.batch_alter_table("contests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contests_closes_at"), ["closes_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_contests_program_id"), ["program_id"], unique=False)

    op.create_table(
        "contest_draws",
        sa.Column("contest_id", sa.String(length=32), nullable=False),
        sa.Column("entries_csv", sa.Text(), nullable=False),
        sa.Column("entries_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("total_weight", sa.BigInteger(), nullable=False),
        sa.Column("external_value", sa.String(length=500), nullable=True),
        sa.Column("randomness", sa.String(length=64), nullable=False),
        sa.Column("winners", sa.JSON(), nullable=False),
        sa.Column("drawn_by", sa.String(length=32), nullable=False),
        sa.Column("drawn_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contest_id"], ["contests.id"], name=op.f("fk_contest_draws_contest_id_contests")
        ),
        sa.PrimaryKeyConstraint("contest_id", name=op.f("pk_contest_draws")),
    )
    op.create_table(
        "contest_entries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("contest_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=True),
        sa.Column("mailbox", sa.String(length=320), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("ip_hash", sa.String(length=32), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("ref_code", sa.String(length=64), nullable=True),
        sa.Column("referrer_partner_id", sa.String(length=32), nullable=True),
        sa.Column("referrer_entry_id", sa.String(length=32), nullable=True),
        sa.Column("referral_code", sa.String(length=16), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("consent_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("verified_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contest_id"], ["contests.id"], name=op.f("fk_contest_entries_contest_id_contests")
        ),
        sa.ForeignKeyConstraint(
            ["referrer_partner_id"],
            ["partners.id"],
            name=op.f("fk_contest_entries_referrer_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contest_entries")),
        sa.UniqueConstraint(
            "contest_id", "mailbox", name=op.f("uq_contest_entries_contest_id_mailbox")
        ),
        sa.UniqueConstraint(
            "contest_id", "referral_code", name=op.f("uq_contest_entries_contest_id_referral_code")
        ),
    )
    with op.batch_alter_table("contest_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contest_entries_contest_id_ip_hash"),
            ["contest_id", "ip_hash"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_contest_entries_contest_id_status"),
            ["contest_id", "status"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_contest_entries_referrer_entry_id"), ["referrer_entry_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contest_entries_referrer_partner_id"),
            ["referrer_partner_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_contest_entries_token_hash"), ["token_hash"], unique=True
        )

    op.create_table(
        "contest_partners",
        sa.Column("contest_id", sa.String(length=32), nullable=False),
        sa.Column("partner_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contest_id"], ["contests.id"], name=op.f("fk_contest_partners_contest_id_contests")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_contest_partners_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("contest_id", "partner_id", name=op.f("pk_contest_partners")),
        sa.UniqueConstraint("contest_id", "code", name=op.f("uq_contest_partners_contest_id_code")),
    )
    with op.batch_alter_table("contest_partners", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contest_partners_partner_id"), ["partner_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("contest_partners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contest_partners_partner_id"))

    op.drop_table("contest_partners")
    with op.batch_alter_table("contest_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contest_entries_token_hash"))
        batch_op.drop_index(batch_op.f("ix_contest_entries_referrer_partner_id"))
        batch_op.drop_index(batch_op.f("ix_contest_entries_referrer_entry_id"))
        batch_op.drop_index(batch_op.f("ix_contest_entries_contest_id_status"))
        batch_op.drop_index(batch_op.f("ix_contest_entries_contest_id_ip_hash"))

    op.drop_table("contest_entries")
    op.drop_table("contest_draws")
    with op.batch_alter_table("contests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contests_program_id"))
        batch_op.drop_index(batch_op.f("ix_contests_closes_at"))

    op.drop_table("contests")
