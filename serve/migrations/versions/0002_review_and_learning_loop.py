"""Review and learning loop: adjusters' box corrections, closing reviews, and shadow quotes of candidates.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "box_corrections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_id", sa.String(length=32), nullable=False),
        sa.Column("photo_id", sa.String(length=32), nullable=False),
        sa.Column("quote_id", sa.String(length=32), nullable=True),
        sa.Column("boxes", sa.JSON(), nullable=False),
        sa.Column("author_key_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"]),
        sa.ForeignKeyConstraint(["photo_id"], ["photos.id"]),
        sa.ForeignKeyConstraint(["quote_id"], ["quotes.id"]),
        sa.ForeignKeyConstraint(["author_key_id"], ["api_keys.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("box_corrections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_box_corrections_claim_id"), ["claim_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_box_corrections_photo_id"), ["photo_id"], unique=False)

    op.create_table(
        "claim_reviews",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("claim_id", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("quote_id", sa.String(length=32), nullable=True),
        sa.Column("author_key_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"]),
        sa.ForeignKeyConstraint(["quote_id"], ["quotes.id"]),
        sa.ForeignKeyConstraint(["author_key_id"], ["api_keys.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("claim_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_reviews_claim_id"), ["claim_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_claim_reviews_created_at"), ["created_at"], unique=False)

    op.create_table(
        "shadow_quotes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("claim_id", sa.String(length=32), nullable=False),
        sa.Column("main_quote_id", sa.String(length=32), nullable=True),
        sa.Column("decision", sa.String(length=24), nullable=False),
        sa.Column("total", sa.Float(), nullable=True),
        sa.Column("low", sa.Float(), nullable=True),
        sa.Column("high", sa.Float(), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("line_items", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"]),
        sa.ForeignKeyConstraint(["main_quote_id"], ["quotes.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("shadow_quotes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shadow_quotes_claim_id"), ["claim_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shadow_quotes_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    for table, columns in (
        ("shadow_quotes", ("created_at", "claim_id")),
        ("claim_reviews", ("created_at", "claim_id")),
        ("box_corrections", ("photo_id", "claim_id")),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
        op.drop_table(table)
