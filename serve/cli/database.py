"""The configured database for one command: migrated first, its connections closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from serve.settings import Settings


@contextmanager
def database(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions on the configured database, migrated first; its connections are closed afterwards."""
    from serve.db.session import make_engine, make_sessionmaker, run_migrations

    run_migrations(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


def redact(url: str) -> str:
    """The database URL without its password, to print."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
