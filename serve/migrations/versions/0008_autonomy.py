"""Autonomy earned from adjusters: each quote's shadow per step and draws, the gradings of decided claims
(append-only), and each step's recorded states and confirmations (append-only).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

APPEND_ONLY = ("gradings", "autonomy_states")


def upgrade() -> None:
    with op.batch_alter_table("quotes") as batch:
        batch.add_column(sa.Column("autonomy", sa.JSON(), nullable=True))
    op.create_table(
        "gradings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_id", sa.String(length=32), sa.ForeignKey("claims.id"), nullable=False),
        sa.Column("review_id", sa.String(length=32), sa.ForeignKey("claim_reviews.id"), nullable=False),
        sa.Column("quote_id", sa.String(length=32), sa.ForeignKey("quotes.id"), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("models", sa.String(length=400), nullable=False),
        sa.Column("detector_version", sa.String(length=120), nullable=False),
        sa.Column("severity_version", sa.String(length=120), nullable=False),
        sa.Column("pricer_version", sa.String(length=120), nullable=False),
        sa.Column("catalogue_version", sa.String(length=120), nullable=False),
        sa.Column("policy_version", sa.String(length=120), nullable=False),
        sa.Column("blind", sa.Boolean(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("proposed_amount", sa.Float(), nullable=False),
        sa.Column("final_amount", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("wrong", sa.Boolean(), nullable=False),
        sa.Column("overpay", sa.Boolean(), nullable=False),
        sa.Column("underpay", sa.Boolean(), nullable=False),
        sa.Column("would_settle", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("autonomous", sa.Boolean(), nullable=False),
        sa.Column("audit_drawn", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("review_id", "kind", name="uq_gradings_review_kind"),
    )
    op.create_index("ix_gradings_claim_id", "gradings", ["claim_id"])
    op.create_index("ix_gradings_models", "gradings", ["models"])
    op.create_index("ix_gradings_policy_version", "gradings", ["policy_version"])
    op.create_table(
        "autonomy_states",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("models", sa.String(length=400), nullable=False),
        sa.Column("policy_version", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("step", sa.String(length=80), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("actor_key_id", sa.String(length=32), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_autonomy_states_models", "autonomy_states", ["models"])
    _append_only()


def _append_only() -> None:
    """Evidence is never rewritten: UPDATE and DELETE are refused at the database (as for audit_events)."""
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        if dialect == "postgresql":
            op.execute(
                f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$ BEGIN "
                f"RAISE EXCEPTION '{table} is append-only'; END; $$ LANGUAGE plpgsql"
            )
        for verb in ("UPDATE", "DELETE"):
            name = f"{table}_no_{verb.lower()}"
            if dialect == "postgresql":
                op.execute(
                    f"CREATE TRIGGER {name} BEFORE {verb} ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
                )
            elif dialect == "sqlite":
                op.execute(
                    f"CREATE TRIGGER {name} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        for verb in ("update", "delete"):
            on = f" ON {table}" if dialect == "postgresql" else ""
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}{on}")
        if dialect == "postgresql":
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
    op.drop_index("ix_autonomy_states_models", table_name="autonomy_states")
    op.drop_table("autonomy_states")
    op.drop_index("ix_gradings_policy_version", table_name="gradings")
    op.drop_index("ix_gradings_models", table_name="gradings")
    op.drop_index("ix_gradings_claim_id", table_name="gradings")
    op.drop_table("gradings")
    with op.batch_alter_table("quotes") as batch:
        batch.drop_column("autonomy")
