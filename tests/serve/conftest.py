"""Fixtures of the service tests: settings on a temporary folder, fake models, keys, a TestClient.

Database: SQLite in a temporary folder by default; tests marked ``postgres`` run on the server named by
``AUTOQUOTE_TEST_POSTGRES_URL`` and skip with a reason without it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from model.pipeline import Pipeline
from serve.app import create_app
from serve.db import keys
from serve.db.session import make_engine, run_migrations
from serve.settings import Settings
from tests.fakes import fake_pipeline

POSTGRES_URL = os.environ.get("AUTOQUOTE_TEST_POSTGRES_URL")


def reset_postgres(url: str) -> None:
    """Drop everything the migrations made, then migrate again: a clean database per test."""
    from alembic import command

    from serve.db.session import alembic_config

    run_migrations(url)
    command.downgrade(alembic_config(url), "base")
    run_migrations(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated, empty database of each backend."""
    if request.param == "postgres":
        if not POSTGRES_URL:
            pytest.skip("set AUTOQUOTE_TEST_POSTGRES_URL (postgresql+psycopg://...) to run PostgreSQL tests")
        reset_postgres(POSTGRES_URL)
        return POSTGRES_URL
    url = f"sqlite:///{(tmp_path / 'test.db').as_posix()}"
    run_migrations(url)
    return url


@pytest.fixture(autouse=True)
def _restore_pillow_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app sets Pillow's process-wide pixel guard from its settings; undo it after each test."""
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Test settings on a temporary data folder (SQLite), small limits so refusals are cheap to provoke."""
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        max_photo_bytes=3_000_000,
        max_request_bytes=6_000_000,
        max_pixels=4_000_000,
        max_photos_per_claim=4,
        min_side=200,
    )


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback for the whole run (skips without the scale extra)."""
    pytest.importorskip("boto3", reason="the S3 photo store needs the scale extra: pip install -e '.[scale]'")
    pytest.importorskip("moto.server", reason="the S3 tests need moto[server] (the scale extra)")
    from s3_server import moto_server

    with moto_server() as url:
        yield url


@pytest.fixture
def s3_settings(settings: Settings, s3_endpoint: str, request: pytest.FixtureRequest) -> Settings:
    """The test settings on a fresh bucket of the S3 stand-in."""
    import boto3

    bucket = "aq-" + uuid.uuid4().hex[:20]
    boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    return settings.model_copy(
        update={
            "photo_store": "s3",
            "s3_bucket": bucket,
            "s3_endpoint_url": s3_endpoint,
            "s3_access_key_id": "testing",
            "s3_secret_access_key": SecretStr("testing"),
        }
    )


@pytest.fixture
def pipeline() -> Pipeline:
    return fake_pipeline()


@pytest.fixture
def app(settings: Settings, pipeline: Pipeline) -> FastAPI:
    return create_app(settings, pipeline_factory=lambda _s: pipeline)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def new_key(client: TestClient) -> Callable[[str], str]:
    """Create an API key of a role in the app's database; returns the key."""

    def make(role: str = "customer") -> str:
        with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            _row, key = keys.create_key(session, f"test-{role}", role)
            session.commit()
        return key

    return make


def rolled_back_session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back afterwards (commits become savepoints)."""
    if engine.dialect.name == "sqlite":
        # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself.
        @event.listens_for(engine, "connect")
        def _autocommit(dbapi_connection: object, _record: object) -> None:
            dbapi_connection.isolation_level = None  # type: ignore[attr-defined]

        @event.listens_for(engine, "begin")
        def _begin(conn: object) -> None:
            conn.exec_driver_sql("BEGIN")  # type: ignore[attr-defined]

    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@contextmanager
def database_session(url: str) -> Iterator[Session]:
    """A session on the database at ``url`` whose every change is rolled back when the block ends."""
    engine = make_engine(url)
    try:
        yield from rolled_back_session(engine)
    finally:
        engine.dispose()


@pytest.fixture
def db_session(database_url: str) -> Iterator[Session]:
    """A session on a migrated database of each backend, rolled back after the test."""
    with database_session(database_url) as session:
        yield session
