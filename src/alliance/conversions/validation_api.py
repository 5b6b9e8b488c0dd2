"""/api/v1/programs/{program_id}/validations and /api/v1/validations: bulk order validation.

Thin: read the body, check the caller may validate this program, hand the rows to
conversions/validation.py, serialise its report. Only the program's advertiser and the
operator validate or read uploads; partners get 403 (the file carries the store's order ids
and its reasons), a program or upload of another advertiser is 404 like a missing one.

The body is read here, not by a Pydantic model, because it is CSV or JSON by Content-Type,
and because a refusal must name the CSV line or the JSON row at fault (docs/validation.md).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.api.deps import Manager, ReadDB
from alliance.api.fields import is_public_id
from alliance.api.pagination import Page, PageQuery, fetch_page
from alliance.api.problems import problem_response
from alliance.api.scoping import get_visible, programs_of, visible_programs
from alliance.conversions import validation
from alliance.conversions.models import (
    OrderValidation,
    OrderValidationRow,
    ValidationResult,
    ValidationStatus,
)
from alliance.db.engine import reading
from alliance.errors import InvalidInput, NotFound, PayloadTooLarge
from alliance.programs.models import Program
from alliance.reports.export import csv_lines

router = APIRouter(prefix="/api/v1", tags=["order validation"])


_CSV_TYPES = frozenset(
    {
        "text/csv",
        "application/csv",
        "text/plain",
        "text/tab-separated-values",
        "application/vnd.ms-excel",  # what browsers on Windows send for a .csv file
    }
)
_ROWS_CURSOR = "v1:row:"
_EXAMPLE_CSV = (
    "order_id,status,refund_amount,reason\r\n"
    "1001,completed,,\r\n"
    "1002,declined,,test order\r\n"
    "1003,refunded,19.90,one item returned\r\n"
    "1004,refunded,,\r\n"
)
_UPLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["rows"],
    "additionalProperties": False,
    "properties": {
        "rows": {
            "type": "array",
            "minItems": 1,
            "maxItems": validation.MAX_ROWS,
            "items": {
                "type": "object",
                "required": ["order_id", "status"],
                "additionalProperties": False,
                "properties": {
                    "order_id": {"type": "string", "maxLength": 128},
                    "status": {"type": "string", "enum": list(validation.STATUSES)},
                    "refund_amount": {
                        "type": ["string", "number", "null"],
                        "description": "refunded only: the cumulative gross amount refunded "
                        "so far, in the order currency; empty or null = the whole order",
                    },
                    "reason": {
                        "type": ["string", "null"],
                        "maxLength": validation.MAX_REASON,
                        "description": "free text; a declined order's decline reason",
                    },
                    "kind": {
                        "type": ["string", "null"],
                        "enum": [*validation.KINDS, None],
                        "description": "only needed when a sale and a lead share the order id",
                    },
                },
            },
        }
    },
}
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "CSV with a header row (order_id,status,refund_amount,reason; `,` `;` "
        "or TAB separated; UTF-8 unless the charset says otherwise), or JSON. At most "
        f"{validation.MAX_ROWS} rows and {validation.MAX_UPLOAD_BYTES} bytes.",
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": _EXAMPLE_CSV},
            "application/json": {"schema": _UPLOAD_SCHEMA},
        },
    }
}


# --- shapes ----------------------------------------------------------------------------------


class ValidationCounts(BaseModel):
    """How many rows had each result."""

    applied: int = Field(description="The order moved: completed, declined or refunded more")
    unchanged: int = Field(description="The order was in that state already: nothing to do")
    unknown_order: int = Field(description="No order with this id in the program")
    illegal_transition: int = Field(description="The order's state forbids it")
    bad_amount: int = Field(description="refund_amount unreadable, too large or misplaced")
    bad_status: int = Field(description="Not completed, declined or refunded")
    duplicate_row: int = Field(description="The order appears again later; the later row won")


class ValidationOut(BaseModel):
    id: str
    program_id: str
    status: ValidationStatus
    source: Literal["csv", "json"]
    content_sha256: str = Field(description="sha256 of the canonical rows: the idempotency key")
    row_count: int
    rows_done: int = Field(description="Rows with a result so far (= row_count when done)")
    counts: ValidationCounts
    replayed: bool = Field(
        description="True when this answer is the report of an earlier identical upload: "
        "nothing was applied by this request"
    )
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    rows_url: str = Field(description="The per-row report (add ?format=csv for a file)")

    @classmethod
    def of(cls, row: OrderValidation, *, replayed: bool = False) -> ValidationOut:
        counts = {
            result.value: int((row.counts or {}).get(result.value, 0))
            for result in ValidationResult
        }
        return cls(
            id=row.id,
            program_id=row.program_id,
            status=ValidationStatus(row.status),
            source="json" if row.source == "json" else "csv",
            content_sha256=row.content_sha256,
            row_count=row.row_count,
            rows_done=row.rows_done,
            counts=ValidationCounts(**counts),
            replayed=replayed,
            created_by=row.created_by,
            created_at=row.created_at,
            finished_at=row.finished_at,
            rows_url=f"/api/v1/validations/{row.id}/rows",
        )


class ValidationRowOut(BaseModel):
    index: int = Field(description="0-based position in the upload (rows[index] in JSON)")
    line: int | None = Field(description="CSV: the line the row starts on (the header is 1)")
    order_id: str
    kind: str | None
    status: str = Field(description="As uploaded, lower-cased")
    refund_amount: str | None = Field(description="As uploaded")
    reason: str | None
    result: ValidationResult
    detail: str = Field(description="What happened, or why not, in one sentence")
    conversion_id: str | None = Field(description="The order's conversion, when it was found")

    @classmethod
    def of(cls, row: OrderValidationRow) -> ValidationRowOut:
        return cls(**validation.row_record(row))


class ValidationRowsPage(BaseModel):
    data: list[ValidationRowOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


# --- the upload ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawUpload:
    media_type: str
    charset: str | None
    body: bytes


async def raw_upload(request: Request) -> RawUpload:
    """The request body, refused (413) as soon as it passes the limit, never held whole."""
    limit = validation.MAX_UPLOAD_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes", field="body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes", field="body")
        chunks.append(chunk)
    media_type, _, params = request.headers.get("content-type", "").partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip() or None
    return RawUpload(media_type.strip().lower(), charset, b"".join(chunks))


def parse_upload(raw: RawUpload) -> validation.Upload:
    if raw.media_type in _CSV_TYPES:
        return validation.read_csv(raw.body, raw.charset)
    if raw.media_type == "application/json" or raw.media_type.endswith("+json"):
        return validation.read_json(raw.body)  # JSON is UTF-8 (RFC 8259): charset ignored
    raise validation.UnsupportedMediaType(
        "send the rows as text/csv or as application/json", field="content-type"
    )


def _program(db: Session, caller: Principal, program_id: str) -> Program:
    return get_visible(
        db, Program, program_id, visible_programs(caller), prefix="prg", what="program"
    )


@router.post(
    "/programs/{program_id}/validations",
    status_code=201,
    response_model=ValidationOut,
    responses={
        200: {
            "model": ValidationOut,
            "description": "The same rows were uploaded before: "
            "their report, nothing applied (`replayed`: true)",
        },
        409: {"description": "The same rows are being applied right now; retry shortly"},
        413: {"description": "More than 20 MB or 100,000 rows"},
        415: {"description": "Neither CSV nor JSON, or an unsupported charset"},
        422: {"description": "A broken file: `field` names the line or row and the column"},
    },
    openapi_extra=_UPLOAD_BODY,
)
def create_validation(
    program_id: str,
    request: Request,
    caller: Manager,
    raw: Annotated[RawUpload, Depends(raw_upload)],
) -> Response:
    """Validate orders in bulk: each row completes, declines or refunds one order.

    Rows apply in order, each on its own: a refused row is reported and the others still
    apply. Uploading the same rows again (as CSV or JSON) applies nothing and answers the
    first upload's report with 200 and `replayed: true`. An upload of more rows than the
    operator's `validation_inline_rows` (2,000) is answered 202 at once and applied by
    `alliance jobs run`; follow `Location` for its progress (`status`, `rows_done`)."""
    with reading() as db:
        _program(db, caller, program_id)
    upload = parse_upload(raw)
    try:
        outcome = validation.validate(program_id, upload, caller.id)
    except validation.ValidationInProgress as busy:
        answer = problem_response(busy.status, busy.problem(request.url.path))
        answer.headers["Retry-After"] = "2"
        answer.headers["Location"] = f"/api/v1/validations/{busy.validation_id}"
        return answer
    with reading() as db:
        row = db.get(OrderValidation, outcome.validation_id)
        assert row is not None  # committed before validate() returned
        report = ValidationOut.of(row, replayed=outcome.verdict == "replayed")
    headers = {"Location": f"/api/v1/validations/{report.id}"}
    if report.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(
        report.model_dump(mode="json"),
        # 202: a large upload is queued for the jobs worker; its report fills in as it runs.
        status_code={"created": 201, "queued": 202}.get(outcome.verdict, 200),
        headers=headers,
    )


# --- reading ---------------------------------------------------------------------------------


def _visible(who: Principal) -> ColumnElement[bool]:
    if who.is_operator:
        return true()
    return OrderValidation.program_id.in_(programs_of(who.id))


def _get(db: Session, who: Principal, validation_id: str) -> OrderValidation:
    row = None
    if is_public_id(validation_id, validation.PREFIX):
        row = db.scalars(
            select(OrderValidation).where(OrderValidation.id == validation_id, _visible(who))
        ).first()
    if row is None:
        raise NotFound(f"no validation {validation_id[:40]!r}")
    return row


@router.get("/programs/{program_id}/validations", response_model=Page[ValidationOut])
def list_validations(
    program_id: str, db: ReadDB, caller: Manager, page: PageQuery
) -> Page[ValidationOut]:
    """The program's uploads, newest first."""
    _program(db, caller, program_id)
    statement = select(OrderValidation).where(OrderValidation.program_id == program_id)
    rows, cursor = fetch_page(db, statement, OrderValidation.id, page)
    return Page(data=[ValidationOut.of(row) for row in rows], next_cursor=cursor)


@router.get("/validations/{validation_id}", response_model=ValidationOut)
def get_validation(validation_id: str, db: ReadDB, caller: Manager) -> ValidationOut:
    return ValidationOut.of(_get(db, caller, validation_id))


def _encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"{_ROWS_CURSOR}{position}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        position = text.removeprefix(_ROWS_CURSOR)
        if text.startswith(_ROWS_CURSOR) and position.isdigit() and len(position) < 10:
            return int(position)
    except (binascii.Error, UnicodeError, ValueError):
        pass
    raise InvalidInput("cursor is not one this API gave out", field="cursor")


_ROWS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON pages, or every row as CSV"}
}


@router.get(
    "/validations/{validation_id}/rows",
    response_model=ValidationRowsPage,
    responses=_ROWS_RESPONSES,
)
def list_validation_rows(
    validation_id: str,
    db: ReadDB,
    caller: Manager,
    result: Annotated[ValidationResult | None, Query(description="Only rows with it")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Rows per page")] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Response:
    """The per-row report in upload order. CSV (`format=csv`) is every row, with cells that
    a spreadsheet would run as formulas defused."""
    found = _get(db, caller, validation_id)
    if format_ == "csv":
        headers = {"Content-Disposition": f'attachment; filename="{found.id}.csv"'}
        return StreamingResponse(
            _stream_csv(found.id, result), media_type="text/csv; charset=utf-8", headers=headers
        )
    statement = select(OrderValidationRow).where(OrderValidationRow.validation_id == found.id)
    if result is not None:
        statement = statement.where(OrderValidationRow.result == result.value)
    if cursor is not None:
        statement = statement.where(OrderValidationRow.position > _decode_cursor(cursor))
    rows = db.scalars(statement.order_by(OrderValidationRow.position).limit(limit + 1)).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _encode_cursor(rows[-1].position)
    page = ValidationRowsPage(
        data=[ValidationRowOut.of(row) for row in rows], next_cursor=next_cursor
    )
    return Response(page.model_dump_json(), media_type="application/json")


def _stream_csv(validation_id: str, result: ValidationResult | None) -> Iterator[str]:
    # Its own session: the request's is closed once the endpoint returns, while the body is
    # still being streamed.
    with reading() as session:
        records = (
            validation.row_record(row)
            for row in validation.iter_rows(session, validation_id, result)
        )
        yield from csv_lines(validation.ROW_COLUMNS, records)
