"""List parameters shared by every collection endpoint: cursor pages and time ranges.

Pages walk the primary key downwards. Public ids are UUIDv7-based and sort by creation time,
so "id descending" is "newest first" and a cursor stays valid while new rows arrive (an offset
would shift under them). The cursor is opaque to clients: base64 of the last id seen.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from alliance.api.fields import PUBLIC_ID_PATTERN
from alliance.errors import InvalidInput

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_CURSOR_PREFIX = "v1:"


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first."""

    data: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    after_id: str | None  # the last id of the previous page, decoded from the cursor


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidInput("cursor is not one this API gave out", field="cursor") from None
    last_id = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or not re.match(PUBLIC_ID_PATTERN, last_id):
        raise InvalidInput("cursor is not one this API gave out", field="cursor")
    return last_id


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Items per page, 1 to 200.")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, after_id=decode_cursor(cursor) if cursor else None)


PageQuery = Annotated[PageParams, Depends(page_params)]


def fetch_page(
    session: Session,
    statement: Select[Any],
    id_column: InstrumentedAttribute[str],
    params: PageParams,
) -> tuple[Sequence[Any], str | None]:
    """Run a `select(Model)` one page at a time; returns (rows, next_cursor)."""
    if params.after_id is not None:
        statement = statement.where(id_column < params.after_id)
    rows = session.scalars(statement.order_by(id_column.desc()).limit(params.limit + 1)).all()
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        return rows, encode_cursor(getattr(rows[-1], id_column.key))
    return rows, None


# --- time ranges (`from`, `to`) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeRange:
    """`from` inclusive, `to` inclusive; a bare date `to` covers that whole day (UTC)."""

    start: datetime | None
    end_before: datetime | None  # exclusive upper bound

    def conditions(self, column: InstrumentedAttribute[datetime]) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.start is not None:
            found.append(column >= self.start)
        if self.end_before is not None:
            found.append(column < self.end_before)
        return found


def _parse_instant(raw: str, field: str, *, end: bool) -> datetime:
    text = raw.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.min, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{field} must be an ISO 8601 date (2024-05-31) or date-time (2024-05-31T12:00:00Z)",
            field=field,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # naive times are UTC, like everything stored
    # `to` with a time is inclusive; the smallest step above it makes the bound exclusive.
    return moment + timedelta(microseconds=1) if end else moment


def time_range(
    from_: Annotated[
        str | None,
        Query(alias="from", max_length=40, description="ISO date or date-time, inclusive."),
    ] = None,
    to: Annotated[
        str | None,
        Query(max_length=40, description="ISO date (whole day) or date-time, inclusive."),
    ] = None,
) -> TimeRange:
    start = _parse_instant(from_, "from", end=False) if from_ else None
    end_before = _parse_instant(to, "to", end=True) if to else None
    if start is not None and end_before is not None and start >= end_before:
        raise InvalidInput("`from` must be before `to`", field="from")
    return TimeRange(start=start, end_before=end_before)


TimeRangeQuery = Annotated[TimeRange, Depends(time_range)]


def given(*pairs: tuple[Any, object]) -> list[ColumnElement[bool]]:
    """`column == value` for each optional filter of a list that was given (not None), so
    endpoints state their filters instead of repeating `if x is not None: append(...)`.
    Enum members compare by their value, as the columns store it."""
    return [
        column == (value.value if isinstance(value, enum.Enum) else value)
        for column, value in pairs
        if value is not None
    ]
