"""validation queue: large bulk validations keep their rows for the jobs worker

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 15:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("order_validations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rows_input", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order_validations", schema=None) as batch_op:
        batch_op.drop_column("rows_input")
