"""Declarative base with named constraints (so Alembic migrations are stable on both engines)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, Numeric, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

from alliance.clock import as_utc

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes; SQLite hands back naive ones, which we mark as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return as_utc(value) if dialect.name != "sqlite" else as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    # SQLite only: the same text SQLAlchemy's DATETIME writes and reads
    # ("YYYY-MM-DD HH:MM:SS.ffffff", UTC), done by the C-level isoformat/fromisoformat instead
    # of SQLAlchemy's %-formatting and regex. Every row of the ingest path binds several of
    # these: it was ~8% of the postback writer's CPU.
    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            if value.utcoffset():
                value = value.astimezone(UTC)
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def process(value: str | None) -> datetime | None:
            if value is None:
                return None
            return datetime.fromisoformat(value).replace(tzinfo=UTC)

        return process


class Amount(TypeDecorator[Decimal]):
    """Money amounts: NUMERIC(20, 6) on PostgreSQL; exact text on SQLite (no float detour).

    SQLite has no decimal type; SQLAlchemy's Numeric there goes through float. Storing the
    canonical decimal string keeps every cent exact. Sums are done in Python or through
    SQL that casts explicitly (see reports).
    """

    impl = Numeric(20, 6)
    cache_ok = True
    # The PostgreSQL precision and scale (subclasses set their own).
    numeric = (20, 6)

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            from sqlalchemy import String

            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(*self.numeric, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError("Amount columns take Decimal")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)) if not isinstance(value, Decimal) else value


class Rate(Amount):
    """An exchange rate: NUMERIC(32, 20) on PostgreSQL (a cross rate of ten significant
    digits can be as small as 1e-10); exact text on SQLite, like Amount."""

    impl = Numeric(32, 20)
    cache_ok = True
    numeric = (32, 20)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime(),
        Decimal: Amount(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        list[dict[str, Any]]: JSON(),
    }
