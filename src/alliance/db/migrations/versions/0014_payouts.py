"""payouts: partners' payout settings and tax profiles, payout runs, payouts and their lines,
gap-free document numbers, and the network's legal and paying details

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alliance.db.base import Amount, Rate, UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _partner_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["partner_id"], ["partners.id"], name=op.f(f"fk_{table}_partner_id_partners")
    )


def upgrade() -> None:
    op.create_table(
        "payout_settings",
        sa.Column("partner_id", sa.String(length=32), nullable=False),
        sa.Column("schedule", sa.String(length=16), nullable=False),
        sa.Column("threshold", Amount(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("account_holder", sa.String(length=200), nullable=True),
        sa.Column("iban", sa.String(length=34), nullable=True),
        sa.Column("bic", sa.String(length=11), nullable=True),
        sa.Column("paypal_email", sa.String(length=320), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        _partner_fk("payout_settings"),
        sa.PrimaryKeyConstraint("partner_id", name=op.f("pk_payout_settings")),
    )
    op.create_table(
        "tax_profiles",
        sa.Column("partner_id", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=1000), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("vat_id", sa.String(length=20), nullable=True),
        sa.Column("tax_id", sa.String(length=32), nullable=True),
        sa.Column("vat_rate", Amount(), nullable=True),
        sa.Column("us_tax_form", sa.String(length=10), nullable=True),
        sa.Column("us_tax_form_signed_on", sa.Date(), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        _partner_fk("tax_profiles"),
        sa.PrimaryKeyConstraint("partner_id", name=op.f("pk_tax_profiles")),
    )
    op.create_table(
        "payout_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("through", sa.Date(), nullable=False),
        sa.Column("started_by", sa.String(length=200), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_runs")),
    )
    op.create_table(
        "payouts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("partner_id", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hold_reason", sa.String(length=1000), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("destination", sa.JSON(), nullable=False),
        sa.Column("invoice_number", sa.String(length=32), nullable=True),
        sa.Column("vat_rate", Amount(), nullable=True),
        sa.Column("vat_amount", Amount(), nullable=True),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("failure_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("settled_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("paid_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["payout_runs.id"], name=op.f("fk_payouts_run_id_payout_runs")
        ),
        _partner_fk("payouts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
        # A period is paid once per partner and currency, however many runs start at once.
        sa.UniqueConstraint(
            "partner_id", "period", "currency", name=op.f("uq_payouts_partner_id_period_currency")
        ),
    )
    op.create_index(op.f("ix_payouts_run_id"), "payouts", ["run_id"])
    op.create_index(op.f("ix_payouts_status_created_at"), "payouts", ["status", "created_at"])
    op.create_table(
        "payout_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("payout_id", sa.String(length=32), nullable=False),
        sa.Column("commission_id", sa.String(length=32), nullable=False),
        sa.Column("program_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("payout_amount", Amount(), nullable=False),
        sa.Column("rate", Rate(), nullable=True),
        sa.Column("rate_day", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["payout_id"], ["payouts.id"], name=op.f("fk_payout_lines_payout_id_payouts")
        ),
        sa.ForeignKeyConstraint(
            ["commission_id"],
            ["commissions.id"],
            name=op.f("fk_payout_lines_commission_id_commissions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_lines")),
        sa.UniqueConstraint(
            "payout_id", "commission_id", name=op.f("uq_payout_lines_payout_id_commission_id")
        ),
    )
    op.create_index(op.f("ix_payout_lines_commission_id"), "payout_lines", ["commission_id"])
    op.create_table(
        "document_sequences",
        sa.Column("issuer_id", sa.String(length=32), nullable=False),
        sa.Column("series", sa.String(length=16), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("issuer_id", "series", name=op.f("pk_document_sequences")),
    )
    op.create_table(
        "network_profile",
        sa.Column("key", sa.String(length=16), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=1000), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("vat_id", sa.String(length=20), nullable=True),
        sa.Column("payer_iban", sa.String(length=34), nullable=True),
        sa.Column("payer_bic", sa.String(length=11), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_network_profile")),
    )


def downgrade() -> None:
    op.drop_table("network_profile")
    op.drop_table("document_sequences")
    op.drop_index(op.f("ix_payout_lines_commission_id"), table_name="payout_lines")
    op.drop_table("payout_lines")
    op.drop_index(op.f("ix_payouts_status_created_at"), table_name="payouts")
    op.drop_index(op.f("ix_payouts_run_id"), table_name="payouts")
    op.drop_table("payouts")
    op.drop_table("payout_runs")
    op.drop_table("tax_profiles")
    op.drop_table("payout_settings")
