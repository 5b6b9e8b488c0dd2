"""Migrations from an empty database, on the engine under test, match the models exactly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from alliance.db.engine import make_engine
from alliance.db.migrate import downgrade, upgrade
from alliance.db.models import Base


@pytest.fixture()
def empty_url(tmp_path: Path, db_url: str) -> str:
    if db_url.startswith("postgresql"):
        from tests.conftest import _fresh_postgres

        return _fresh_postgres(os.environ["ALLIANCE_TEST_DATABASE_URL"], "migrations")
    return f"sqlite:///{tmp_path / 'empty.db'}"


def test_upgrade_from_empty_matches_the_models_and_downgrades_cleanly(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url, readonly=True)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            differences = compare_metadata(context, Base.metadata)
            tables = set(inspect(connection).get_table_names())
        assert differences == []
        assert set(Base.metadata.tables) <= tables
        downgrade(empty_url)
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        upgrade(empty_url)
    finally:
        engine.dispose()
