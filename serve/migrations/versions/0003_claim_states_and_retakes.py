"""Claim states and retakes: retake rounds per claim, withdrawn and replacing photos, one photo per position.

Claims uploaded concurrently before this revision may hold several photos at one position; they are
renumbered in upload order before the unique index is made.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

IN_FORCE = sa.text("withdrawn_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retake_rounds", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("replaces_id", sa.String(length=32), nullable=True))

    connection = op.get_bind()
    photos = sa.table(
        "photos",
        sa.column("id", sa.String()),
        sa.column("claim_id", sa.String()),
        sa.column("position", sa.Integer()),
        sa.column("created_at", sa.DateTime()),
    )
    rows = connection.execute(
        sa.select(photos.c.id, photos.c.claim_id).order_by(
            photos.c.claim_id, photos.c.position, photos.c.created_at, photos.c.id
        )
    ).all()
    claim, position = None, 0
    for photo_id, claim_id in rows:
        position = position + 1 if claim_id == claim else 0
        claim = claim_id
        connection.execute(photos.update().where(photos.c.id == photo_id).values(position=position))

    op.create_index(
        "uq_photos_claim_position_in_force",
        "photos",
        ["claim_id", "position"],
        unique=True,
        sqlite_where=IN_FORCE,
        postgresql_where=IN_FORCE,
    )


def downgrade() -> None:
    op.drop_index("uq_photos_claim_position_in_force", table_name="photos")
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.drop_column("replaces_id")
        batch_op.drop_column("withdrawn_at")
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_column("retake_rounds")
