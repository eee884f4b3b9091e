"""Database rows, engine and repositories of the service (SQLAlchemy 2, Alembic migrations)."""
