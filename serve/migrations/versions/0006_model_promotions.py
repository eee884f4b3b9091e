"""Model promotions recorded in the database, so that every replica switches to the promoted models.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_promotions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("detector", sa.String(length=1000), nullable=True),
        sa.Column("severity", sa.String(length=1000), nullable=True),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("chosen_by", sa.String(length=64), nullable=True),
        sa.Column("chosen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("model_promotions")
