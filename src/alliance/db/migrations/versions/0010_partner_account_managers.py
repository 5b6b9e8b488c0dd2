"""partner account managers: partners.account_manager_id references operators

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_manager_id", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_partners_account_manager_id_operators"),
            "operators",
            ["account_manager_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_partners_account_manager_id_operators"), type_="foreignkey"
        )
        batch_op.drop_column("account_manager_id")
