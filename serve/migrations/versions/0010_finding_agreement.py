"""Each stored finding keeps the part verifier's agreement, so a stored quote shows the second opinion its
decision used (null for findings stored before, or where no verifier ran).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("agreement", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("agreement")
