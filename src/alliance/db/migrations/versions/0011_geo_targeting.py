"""geo-targeting: programs.fallback_url, clicks.invalid_reason

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Both columns are nullable with no default: adding them rewrites no existing row
    # (PostgreSQL only touches the catalogue), and existing clicks stay valid.
    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fallback_url", sa.String(length=2048), nullable=True))
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invalid_reason", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.drop_column("invalid_reason")
    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.drop_column("fallback_url")
