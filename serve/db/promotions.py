"""Promotions in the database: the latest row names the models every replica runs."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serve.db.rows import ModelPromotionRow


def record_promotion(
    session: Session, detector: str | None, severity: str | None, versions: dict[str, str], by: str | None
) -> ModelPromotionRow:
    """Append a promotion (the caller commits); its id orders it after every earlier one."""
    row = ModelPromotionRow(detector=detector, severity=severity, versions=dict(versions), chosen_by=by)
    session.add(row)
    session.flush()
    return row


def latest_promotion_id(session: Session) -> int:
    """The id of the latest promotion (0 when none was ever recorded): one cheap query per poll."""
    return int(session.scalar(select(func.coalesce(func.max(ModelPromotionRow.id), 0))) or 0)


def latest_promotion(session: Session) -> ModelPromotionRow | None:
    """The latest promotion, if any."""
    return session.scalar(select(ModelPromotionRow).order_by(ModelPromotionRow.id.desc()).limit(1))
