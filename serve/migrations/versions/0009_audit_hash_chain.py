"""A tamper-evident audit log: each event carries the hash of the one before it (in the whole log and in its
claim) and its own; the audit_head row holds the count and the last hash. Existing events are hashed in id
order, so an upgraded database verifies.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serve.db.audit_chain import GENESIS, event_hash
from serve.db.rows import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

VERBS = ("update", "delete")

events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer()),
    sa.column("at", UTCDateTime()),
    sa.column("actor_key_id", sa.String()),
    sa.column("actor_role", sa.String()),
    sa.column("action", sa.String()),
    sa.column("claim_id", sa.String()),
    sa.column("detail", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("claim_prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def upgrade() -> None:
    _drop_triggers()  # the backfill updates rows; SQLite's table rebuild below would drop them anyway
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("claim_prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    count, last = _backfill()
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(
        sa.table("audit_head", sa.column("id", sa.Integer()), sa.column("events", sa.Integer()),
                 sa.column("hash", sa.String())),
        [{"id": 1, "events": count, "hash": last}],
    )
    _create_triggers()


def _backfill() -> tuple[int, str]:
    """Hash every event in id order; returns the count and the last hash."""
    bind = op.get_bind()
    prev, claims, count = GENESIS, dict[str, str](), 0
    rows = bind.execute(sa.select(events).order_by(events.c.id)).mappings().all()
    for row in rows:
        claim_prev = None if row["claim_id"] is None else claims.get(row["claim_id"], GENESIS)
        digest = event_hash(
            row["at"], row["actor_key_id"], row["actor_role"], row["action"], row["claim_id"],
            row["detail"], prev, claim_prev,
        )
        bind.execute(
            events.update().where(events.c.id == row["id"])
            .values(prev_hash=prev, claim_prev_hash=claim_prev, hash=digest)
        )
        if row["claim_id"] is not None:
            claims[row["claim_id"]] = digest
        prev, count = digest, count + 1
    return count, prev


def _create_triggers() -> None:
    """UPDATE and DELETE refused again, as the first migration made them (its function is kept on PostgreSQL)."""
    dialect = op.get_bind().dialect.name
    for verb in VERBS:
        if dialect == "postgresql":
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb} BEFORE {verb.upper()} ON audit_events "
                "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
            )
        elif dialect == "sqlite":
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb} BEFORE {verb.upper()} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )


def _drop_triggers() -> None:
    on = " ON audit_events" if op.get_bind().dialect.name == "postgresql" else ""
    for verb in VERBS:
        op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{verb}{on}")


def downgrade() -> None:
    _drop_triggers()
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("hash")
        batch.drop_column("claim_prev_hash")
        batch.drop_column("prev_hash")
    _create_triggers()
