"""GET /api/v1/fx/rate: the ECB rate a conversion on a day uses (docs/exchange-rates.md)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from alliance.api.deps import Anyone, ReadDB
from alliance.api.fields import Currency
from alliance.clock import utcnow
from alliance.payouts import fx

router = APIRouter(prefix="/api/v1/fx", tags=["exchange rates"])


class FxQuote(BaseModel):
    base: str = Field(description="The currency converted from")
    quote: str = Field(description="The currency converted to")
    rate: Decimal = Field(description="Units of quote per unit of base (ten significant digits)")
    rate_day: date = Field(description="The ECB business day the rate is from")
    asked_day: date = Field(description="The day asked for")
    example: str = Field(description="100 units of base converted, rounded to quote's minor unit")


@router.get("/rate", response_model=FxQuote)
def rate(
    session: ReadDB,
    who: Anyone,
    base: Annotated[Currency, Query(description="ISO 4217, e.g. SEK")],
    quote: Annotated[Currency, Query(description="ISO 4217, e.g. USD")],
    on: Annotated[date | None, Query(description="YYYY-MM-DD; default today (UTC)")] = None,
) -> FxQuote:
    """The rate of the last ECB business day on or before `on` that quotes both currencies:
    the rate Alliance stores with every amount it converts on that day. 422 naming `quote`
    or `base` when the ECB does not quote the currency."""
    day = on or utcnow().date()
    try:
        found = fx.quote(session, base, quote, day, field="quote")
    except fx.NoRate as exc:
        exc.field = "base" if exc.currency == base else "quote"
        raise
    return FxQuote(
        base=found.base,
        quote=found.quote,
        rate=found.rate,
        rate_day=found.day,
        asked_day=day,
        example=f"100 {found.base} = {found.convert(Decimal(100))} {found.quote}",
    )
