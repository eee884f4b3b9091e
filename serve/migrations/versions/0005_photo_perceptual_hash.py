"""Perceptual hash of each photo (and its four indexed bands) to flag near-duplicates across claims.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-28 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

BANDS = ("phash_band0", "phash_band1", "phash_band2", "phash_band3")


def upgrade() -> None:
    with op.batch_alter_table("photos") as batch:
        batch.add_column(sa.Column("phash", sa.String(length=16), nullable=True))
        for band in BANDS:
            batch.add_column(sa.Column(band, sa.Integer(), nullable=True))
    for band in BANDS:
        op.create_index(f"ix_photos_{band}", "photos", [band])


def downgrade() -> None:
    for band in BANDS:
        op.drop_index(f"ix_photos_{band}", table_name="photos")
    with op.batch_alter_table("photos") as batch:
        for band in BANDS:
            batch.drop_column(band)
        batch.drop_column("phash")
