"""bundles: offers of several programs at one price, their parties, and the allocation of
every bundle line's revenue and commission to the parties

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alliance.db.base import Amount, UTCDateTime

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bundles",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("program_id", sa.String(length=32), nullable=False),
        sa.Column("advertiser_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=128), nullable=False),
        sa.Column("open_sku", sa.String(length=128), nullable=True),
        sa.Column("price", Amount(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("activated_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["advertiser_id"], ["advertisers.id"], name=op.f("fk_bundles_advertiser_id_advertisers")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_bundles_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bundles")),
        sa.UniqueConstraint("program_id", "open_sku", name=op.f("uq_bundles_program_id_open_sku")),
    )
    op.create_index(op.f("ix_bundles_advertiser_id"), "bundles", ["advertiser_id"])
    op.create_index(op.f("ix_bundles_program_id_status"), "bundles", ["program_id", "status"])
    op.create_table(
        "bundle_parties",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("bundle_id", sa.String(length=32), nullable=False),
        sa.Column("program_id", sa.String(length=32), nullable=False),
        sa.Column("advertiser_id", sa.String(length=32), nullable=False),
        sa.Column("weight", Amount(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["advertiser_id"],
            ["advertisers.id"],
            name=op.f("fk_bundle_parties_advertiser_id_advertisers"),
        ),
        sa.ForeignKeyConstraint(
            ["bundle_id"], ["bundles.id"], name=op.f("fk_bundle_parties_bundle_id_bundles")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_bundle_parties_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bundle_parties")),
        sa.UniqueConstraint(
            "bundle_id", "program_id", name=op.f("uq_bundle_parties_bundle_id_program_id")
        ),
    )
    op.create_index(op.f("ix_bundle_parties_advertiser_id"), "bundle_parties", ["advertiser_id"])
    op.create_index(op.f("ix_bundle_parties_program_id"), "bundle_parties", ["program_id"])
    op.create_table(
        "bundle_allocations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("bundle_id", sa.String(length=32), nullable=False),
        sa.Column("party_id", sa.String(length=32), nullable=False),
        sa.Column("program_id", sa.String(length=32), nullable=False),
        sa.Column("party_program_id", sa.String(length=32), nullable=False),
        sa.Column("conversion_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("revenue", Amount(), nullable=False),
        sa.Column("revenue_units", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("commission", Amount(), nullable=False),
        sa.Column("commission_units", sa.BigInteger(), nullable=False),
        sa.Column("commission_currency", sa.String(length=3), nullable=False),
        sa.Column("line_revenue", Amount(), nullable=False),
        sa.Column("line_commission", Amount(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bundle_id"], ["bundles.id"], name=op.f("fk_bundle_allocations_bundle_id_bundles")
        ),
        sa.ForeignKeyConstraint(
            ["conversion_id"],
            ["conversions.id"],
            name=op.f("fk_bundle_allocations_conversion_id_conversions"),
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["bundle_parties.id"],
            name=op.f("fk_bundle_allocations_party_id_bundle_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bundle_allocations")),
        sa.UniqueConstraint(
            "conversion_id",
            "event_key",
            "party_id",
            name=op.f("uq_bundle_allocations_conversion_id_event_key_party_id"),
        ),
    )
    op.create_index(
        op.f("ix_bundle_allocations_bundle_id_id"), "bundle_allocations", ["bundle_id", "id"]
    )
    op.create_index(
        op.f("ix_bundle_allocations_party_id_id"), "bundle_allocations", ["party_id", "id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_bundle_allocations_party_id_id"), table_name="bundle_allocations")
    op.drop_index(op.f("ix_bundle_allocations_bundle_id_id"), table_name="bundle_allocations")
    op.drop_table("bundle_allocations")
    op.drop_index(op.f("ix_bundle_parties_program_id"), table_name="bundle_parties")
    op.drop_index(op.f("ix_bundle_parties_advertiser_id"), table_name="bundle_parties")
    op.drop_table("bundle_parties")
    op.drop_index(op.f("ix_bundles_program_id_status"), table_name="bundles")
    op.drop_index(op.f("ix_bundles_advertiser_id"), table_name="bundles")
    op.drop_table("bundles")
