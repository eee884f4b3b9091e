"""Declared damage: the parts a claim declares, the part each photo is a close-up of, and each quote's check of
the declared parts against what the photos show.

Claims and photos from before this revision declare nothing and are wide shots: they are judged as before.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("claims") as batch:
        batch.add_column(sa.Column("declared_parts", sa.JSON(), server_default="[]", nullable=False))
    with op.batch_alter_table("photos") as batch:
        batch.add_column(sa.Column("part", sa.String(length=80), nullable=True))
    with op.batch_alter_table("quotes") as batch:
        batch.add_column(sa.Column("verification", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quotes") as batch:
        batch.drop_column("verification")
    with op.batch_alter_table("photos") as batch:
        batch.drop_column("part")
    with op.batch_alter_table("claims") as batch:
        batch.drop_column("declared_parts")
