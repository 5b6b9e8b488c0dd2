"""Bulk order validation: an advertiser's verdicts on many orders at once (docs/validation.md).

An upload is a list of rows (order_id, status, refund_amount, reason; optionally kind), from a
CSV file or a JSON body. Reading it (`read_csv`, `read_json`) refuses a broken *file* as a
whole, naming the line or row and the column: a wrong header, invalid UTF-8, a row with more
fields than the header, an empty order id. Nothing is applied then. What a row *says* is judged
per row when it is applied: an unknown order, an illegal move, a bad amount or status is that
row's result, and every other row still applies.

Rows apply in upload order through the conversion lifecycle everyone else uses
(`complete_conversion`, `decline_conversion`, `refund_conversion`), so the ledger effects are
the postback's: completing starts the lock period, declining zeroes the pending commission, a
refund (the cumulative gross amount, empty = all of it) reduces it in proportion or reverses it.
Each row runs in its own SAVEPOINT, so a refused row leaves nothing behind.

The same order twice in one upload: the **last** row wins (a correction appended to an export
is the advertiser's latest word; refund amounts are cumulative, so the later one is the larger
one). The earlier rows are reported `duplicate_row` and apply nothing.

Idempotency, as a whole: the sha256 of the canonical rows is unique per program
(`order_validations`). The claim is committed before any row applies, so of two identical
uploads racing (in any processes) exactly one inserts it; the other finds it and replays its
report when it is done, or is told to retry (409) while it still runs. Rows are applied in
chunks, each its own transaction committing the effects, the row results and the progress
together: SQLite's single write lock is never held for a whole 100,000-row file (clicks and
postbacks wait at most one chunk), and an upload interrupted by a crash resumes after its last
committed chunk when the same content is uploaded again (a claim idle for STALE_AFTER, or one
that failed, is taken over).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from hashlib import sha256
from typing import Any, Literal, cast

import orjson
from sqlalchemy import CursorResult, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from alliance.api.fields import amount_text, is_public_id
from alliance.clock import utcnow
from alliance.conversions.models import (
    VALIDATION_TRANSITIONS,
    Conversion,
    ConversionStatus,
    OrderValidation,
    OrderValidationRow,
    ValidationResult,
    ValidationStatus,
)
from alliance.conversions.postback import MAX_ORDER_ID, Rejected
from alliance.conversions.service import (
    complete_conversion,
    decline_conversion,
    refund_conversion,
)
from alliance.db.engine import get_engine, reading, transaction
from alliance.errors import AllianceError, Conflict, InvalidInput, NotFound, PayloadTooLarge
from alliance.ids import new_id
from alliance.money import MoneyError, parse_amount
from alliance.programs.models import Program
from alliance.settings import get_settings

log = logging.getLogger(__name__)

# Public id prefix of a validation (val_...). Kept here rather than in ids.PREFIXES, which
# other capabilities edit; the id format is the same.
PREFIX = "val"

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
MAX_REASON = 500
MAX_STATUS_KEPT = 32  # a longer "status" is junk: refused as bad_status, stored cut
MAX_AMOUNT_KEPT = 40  # as money.parse_amount's longest readable amount
# Rows per transaction: a row costs ~5-10 ms (the lifecycle and its ledger writes), so a
# chunk holds SQLite's single write lock for a quarter of a second at most and clicks and
# postbacks keep flowing; commits are still a small part of the cost.
CHUNK_ROWS = 25
# SQLite: a pause between chunks, so writers waiting on busy_timeout (which retries every few
# ms, then every 100 ms) get the lock instead of this loop taking it back at once.
SQLITE_PAUSE_SECONDS = 0.02
# Tries of one chunk that failed on a transient database error (deadlock, busy, reconnect).
CHUNK_ATTEMPTS = 3
# A running claim without a committed chunk for this long belongs to a dead process.
STALE_AFTER = timedelta(minutes=5)

COLUMNS = ("order_id", "status", "refund_amount", "reason", "kind")
REQUIRED_COLUMNS = ("order_id", "status")
STATUSES = ("completed", "declined", "refunded")
KINDS = ("sale", "lead")
DEFAULT_DECLINE_REASON = "declined by the advertiser"

# Declared charsets a CSV upload may use, by Python codec name (Excel on Windows saves
# windows-1252 "CSV" and tab-separated UTF-16 "Unicode text").
_CHARSETS = frozenset({"utf-8", "ascii", "iso8859-1", "cp1252", "utf-16"})
_DELIMITERS = (",", ";", "\t")

Source = Literal["csv", "json"]


class UnsupportedMediaType(AllianceError):
    status = 415
    type_slug = "unsupported-media-type"
    title = "Unsupported media type"


# --- reading an upload -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowInput:
    """One row as uploaded, structurally valid; what it says is judged when it is applied."""

    index: int  # 0-based position in the upload: rows[index] of a JSON body
    line: int | None  # CSV: the line the row starts on (the header is line 1)
    order_id: str
    status: str  # trimmed, lower-cased; may be anything (bad_status is a row result)
    refund_amount: str | None  # trimmed text as given; None when empty
    reason: str | None
    kind: str | None  # sale | lead; None = the sale if the order id has both

    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else f"rows[{self.index}]"


@dataclass(frozen=True, slots=True)
class Upload:
    source: Source
    rows: tuple[RowInput, ...]

    @property
    def digest(self) -> str:
        return content_digest(self.rows)


def _invalid(detail: str, field: str, **extra: Any) -> InvalidInput:
    return InvalidInput(detail, field=field, reason="bad_upload", **extra)


def _too_large(detail: str, field: str) -> PayloadTooLarge:
    return PayloadTooLarge(detail, field=field, reason="upload_too_large")


def _has_controls(text: str, allowed: str = "") -> bool:
    # C0 controls, DEL and C1: they split CSV rows downstream and PostgreSQL refuses NUL.
    return any((c < " " or "\x7f" <= c <= "\x9f") and c not in allowed for c in text)


def _printable(text: str) -> str:
    """A refused value as it can be stored and shown: control characters made visible."""
    return "".join("\ufffd" if _has_controls(c) else c for c in text)


def _row(
    index: int,
    line: int | None,
    values: dict[str, str | None],
    name: Callable[[str], str],
    *,
    decimal_comma: bool = False,
) -> RowInput:
    """Check one row's structure; `name(column)` is how a refusal names the field."""
    order_id = (values.get("order_id") or "").strip()
    if not order_id:
        raise _invalid(f"{name('order_id')} is empty", name("order_id"), line=line)
    if len(order_id) > MAX_ORDER_ID or _has_controls(order_id):
        raise _invalid(
            f"{name('order_id')} must be at most {MAX_ORDER_ID} characters without control "
            "characters",
            name("order_id"),
            line=line,
        )
    reason = (values.get("reason") or "").strip() or None
    if reason is not None and (len(reason) > MAX_REASON or _has_controls(reason, "\t\r\n")):
        raise _invalid(
            f"{name('reason')} must be at most {MAX_REASON} characters of text",
            name("reason"),
            line=line,
        )
    kind = (values.get("kind") or "").strip().lower() or None
    if kind is not None and kind not in KINDS:
        raise _invalid(f"{name('kind')} must be sale or lead (or empty)", name("kind"), line=line)
    amount = (values.get("refund_amount") or "").strip() or None
    if amount is not None and decimal_comma and amount.count(",") == 1 and "." not in amount:
        # `;`-separated files come from spreadsheets in locales that write 40,00.
        amount = amount.replace(",", ".")
    status = (values.get("status") or "").strip().lower()
    return RowInput(index, line, order_id, status, amount, reason, kind)


def _decode(body: bytes, charset: str | None) -> str:
    try:
        encoding = codecs.lookup((charset or "utf-8").strip().strip('"')).name
    except LookupError:
        encoding = "unknown"
    if encoding not in _CHARSETS:
        raise UnsupportedMediaType(
            f"charset {charset!r} is not supported: send UTF-8 (or declare windows-1252, "
            "iso-8859-1 or utf-16)",
            field="content-type",
        )
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise _invalid(
            f"line {line} is not valid {encoding.upper()}: save the file as UTF-8 (or declare "
            "its charset in Content-Type)",
            f"line {line}",
            line=line,
        ) from None
    return text.removeprefix("\ufeff")  # Excel's UTF-8 byte order mark


def _header(record: list[str], line: int) -> list[str]:
    names = [c.strip().lower().replace(" ", "_").replace("-", "_") for c in record]
    expected = ",".join(COLUMNS[:4])
    for position, column in enumerate(names):
        if column not in COLUMNS:
            # Strict on purpose: a misspelt refund_amount column silently ignored would turn
            # partial refunds into full ones.
            raise _invalid(
                f"unknown column {_printable(record[position][:40])!r} in the header (line "
                f"{line}): expected {expected} (and optionally kind)",
                "header",
                line=line,
            )
        if names.index(column) != position:
            raise _invalid(f"column {column} appears twice in the header", "header", line=line)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise _invalid(
            f"the header has no {' or '.join(missing)} column: expected {expected}",
            "header",
            line=line,
        )
    return names


def _delimiter(first_line: str) -> str:
    """The separator the header uses: the most frequent of , ; TAB (column names contain none
    of them). Spreadsheets in many European locales write `;`."""
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def read_csv(body: bytes, charset: str | None = None) -> Upload:
    """An upload from CSV bytes: a header row, then one row per order.

    Tolerated: a UTF-8 byte order mark, CRLF or LF line ends, `;` or TAB separators, quoted
    fields (with separators and line breaks inside), blank lines, rows shorter than the header
    (missing trailing cells are empty), columns in any order, header names in any case."""
    if len(body) > MAX_UPLOAD_BYTES:
        raise _too_large(f"the file is larger than {MAX_UPLOAD_BYTES} bytes", "body")
    text = _decode(body, charset)
    first = next((line for line in io.StringIO(text, newline="") if line.strip()), "")
    delimiter = _delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[RowInput] = []
    header: list[str] | None = None
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a stray or unclosed quote: named by the row's first line
            raise _invalid(f"line {start}: {exc}", f"line {start}", line=start) from None
        if not record or not any(cell.strip() for cell in record):
            continue  # blank lines and rows of empty cells (spreadsheets add them at the end)
        if header is None:
            header = _header(record, start)  # the first non-blank line
            continue
        if len(record) > len(header):
            raise _invalid(
                f"line {start}: {len(record)} fields, but the header has {len(header)}",
                f"line {start}",
                line=start,
            )
        if len(rows) >= MAX_ROWS:
            raise _too_large(f"more than {MAX_ROWS} rows: split the file", "rows")
        values: dict[str, str | None] = dict(zip(header, record, strict=False))

        def name(column: str, line: int = start) -> str:
            return f"line {line}: {column}"

        rows.append(_row(len(rows), start, values, name, decimal_comma=delimiter == ";"))
    if header is None:
        raise _invalid(
            f"the file is empty: expected a header row {','.join(COLUMNS[:4])}", "header", line=1
        )
    if not rows:
        raise _invalid("the file has a header but no rows", "rows")
    return Upload("csv", tuple(rows))


def _refuse_constant(name: str) -> Any:
    raise _invalid(f"{name} is not a number", "body")


def read_json(body: bytes) -> Upload:
    """An upload from a JSON body `{"rows": [{"order_id": ..., "status": ..., ...}]}`.

    refund_amount may be a string or a number (read as a decimal, never a float)."""
    if len(body) > MAX_UPLOAD_BYTES:
        raise _too_large(f"the body is larger than {MAX_UPLOAD_BYTES} bytes", "body")
    try:
        data = json.loads(
            body.decode("utf-8"), parse_float=Decimal, parse_constant=_refuse_constant
        )
    except UnicodeDecodeError:
        raise _invalid("the body is not valid UTF-8", "body") from None
    except (ValueError, RecursionError):
        raise _invalid("the body is not valid JSON", "body") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise _invalid('the body must be an object {"rows": [...]}', "rows")
    extra = sorted(set(data) - {"rows"})
    if extra:
        raise _invalid(f"unknown field {extra[0][:40]!r}", extra[0][:64])
    items: list[Any] = data["rows"]
    if not items:
        raise _invalid("rows is empty", "rows")
    if len(items) > MAX_ROWS:
        raise _too_large(f"more than {MAX_ROWS} rows: split the upload", "rows")
    rows: list[RowInput] = []
    for index, item in enumerate(items):
        where = f"rows[{index}]"
        if not isinstance(item, dict):
            raise _invalid(f"{where} must be an object", where)
        for key in item:
            if key not in COLUMNS:
                raise _invalid(f"{where}.{str(key)[:40]} is not a field", f"{where}.{key}"[:64])
        values: dict[str, str | None] = {}
        for key in COLUMNS:
            value = item.get(key)
            if isinstance(value, bool):
                raise _invalid(f"{where}.{key} must be a string", f"{where}.{key}")
            if key == "order_id" and isinstance(value, int):
                value = str(value)  # stores' order numbers, as the postback takes them too
            elif key == "refund_amount" and isinstance(value, int | Decimal):
                value = f"{value:f}" if isinstance(value, Decimal) else str(value)
            if value is not None and not isinstance(value, str):
                raise _invalid(f"{where}.{key} must be a string", f"{where}.{key}")
            values[key] = value

        def name(column: str, where: str = where) -> str:
            return f"{where}.{column}"

        rows.append(_row(index, None, values, name))
    return Upload("json", tuple(rows))


def _canonical_amount(text: str | None) -> str:
    if text is None:
        return ""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    return f"{value.normalize():f}" if value.is_finite() else text


def content_digest(rows: Sequence[RowInput]) -> str:
    """sha256 of the rows' content, independent of the format: CSV or JSON, line ends, blank
    lines, column order and `40.0` versus `40.00` give the same digest. One JSON array per
    row, so no two different row lists hash alike."""
    digest = sha256()
    for row in rows:
        canonical = [
            row.order_id,
            row.kind or "",
            row.status,
            _canonical_amount(row.refund_amount),
            row.reason or "",
        ]
        digest.update(json.dumps(canonical, ensure_ascii=False, separators=(",", ":")).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def superseded(rows: Sequence[RowInput]) -> dict[int, RowInput]:
    """{index: the later row that wins}, for every row whose order appears again later.
    Decided over the whole upload before anything applies, so a resumed run decides alike."""
    last: dict[tuple[str, str | None], RowInput] = {}
    for row in rows:
        last[(row.order_id, row.kind)] = row
    return {
        row.index: winner
        for row in rows
        if (winner := last[(row.order_id, row.kind)]).index != row.index
    }


# --- applying one row ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowOutcome:
    result: ValidationResult
    detail: str
    conversion_id: str | None = None


def _find(session: Session, program_id: str, row: RowInput) -> Conversion | None:
    """One order, locked and seen as committed (the retry after a lost race)."""
    statement = select(Conversion).where(
        Conversion.program_id == program_id, Conversion.order_id == row.order_id
    )
    if row.kind is not None:
        statement = statement.where(Conversion.kind == row.kind)
    statement = (
        statement.order_by(Conversion.kind.desc())  # "sale" sorts after "lead": sale first
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(statement).first()


class ChunkOrders:
    """The orders a chunk's rows name, loaded and locked (PostgreSQL) in one statement.

    Locked so that a postback about one of them waits for the chunk, and in id order so that
    two uploads (or an upload and a webhook batch) touching the same orders cannot deadlock.
    One query per chunk instead of one per row: the look-up was a tenth of a row's cost."""

    def __init__(self, session: Session, program_id: str, rows: Sequence[RowInput]) -> None:
        self.found: dict[tuple[str, str], Conversion] = {}
        order_ids = sorted({row.order_id for row in rows})
        if not order_ids:
            return
        statement = (
            select(Conversion)
            .where(Conversion.program_id == program_id, Conversion.order_id.in_(order_ids))
            .order_by(Conversion.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        for conversion in session.scalars(statement):
            self.found[(conversion.order_id, conversion.kind)] = conversion

    def get(self, row: RowInput) -> Conversion | None:
        """The row's order; without a kind the sale, else the lead with that id."""
        if row.kind is not None:
            return self.found.get((row.order_id, row.kind))
        return self.found.get((row.order_id, "sale")) or self.found.get((row.order_id, "lead"))


def _judge(row: RowInput) -> RowOutcome | None:
    """What can be said about a row without the database."""
    if row.status not in STATUSES:
        if row.status == "pending":
            detail = "pending is not a verdict: leave orders you have not decided out of the file"
        elif not row.status:
            detail = "status is empty: expected completed, declined or refunded"
        else:
            shown = _printable(row.status[:MAX_STATUS_KEPT])
            detail = f"status {shown!r} is not completed, declined or refunded"
        return RowOutcome(ValidationResult.bad_status, detail)
    if row.refund_amount is not None and row.status != "refunded":
        return RowOutcome(
            ValidationResult.bad_amount,
            f"refund_amount is only for refunded rows, not {row.status}",
        )
    return None


def _move(
    session: Session,
    program: Program,
    conversion: Conversion,
    row: RowInput,
    refund: Decimal | None,
    validation_id: str,
    now: datetime,
) -> RowOutcome:
    """Apply the row's verdict to its order. Raises Rejected for a refused move."""

    # The conversion events written here carry the validation id in `inbound_event_id`: the
    # column names the source of a status change (an inbox event for postbacks and webhooks,
    # this upload here), and a val_ id is as long as an evt_ id.
    def money(amount: Decimal) -> str:
        return amount_text(amount, conversion.currency)  # 12.50, not PostgreSQL's 12.500000

    before = conversion.status
    if row.status == "completed":
        changed = complete_conversion(session, program, conversion, validation_id, now)
        done = f"{before} → completed; approvable after the {program.lock_period_days}-day lock"
    elif row.status == "declined":
        reason = row.reason or DEFAULT_DECLINE_REASON
        changed = decline_conversion(session, conversion, reason, validation_id, now)
        done = f"{before} → declined: {reason[:200]}"
    else:
        cumulative = refund if refund is not None else conversion.amount
        before_refunded = money(conversion.refunded_amount)
        changed = refund_conversion(session, conversion, cumulative, validation_id, now)
        done = (
            f"refunded {money(cumulative)} of {money(conversion.amount)} {conversion.currency} "
            f"in total (was {before_refunded}); the order is {conversion.status}"
        )
    if changed:
        return RowOutcome(ValidationResult.applied, done, conversion.id)
    if row.status == "refunded" and conversion.status != ConversionStatus.refunded:
        unchanged = (
            f"{money(conversion.refunded_amount)} {conversion.currency} is refunded already; "
            "refund_amount is the cumulative total, so a smaller or equal one changes nothing"
        )
    else:
        unchanged = f"the order is {conversion.status} already"
    return RowOutcome(ValidationResult.unchanged, unchanged, conversion.id)


def apply_row(
    session: Session,
    program: Program,
    row: RowInput,
    conversion: Conversion | None,
    validation_id: str,
    now: datetime,
) -> RowOutcome:
    """One row's verdict on its order (found by ChunkOrders), in its own SAVEPOINT: a refused
    row rolls back everything it touched and the chunk goes on."""
    judged = _judge(row)
    if judged is not None:
        return judged
    for attempt in (1, 2):
        if conversion is None:
            what = f"{row.kind} " if row.kind else ""
            return RowOutcome(
                ValidationResult.unknown_order,
                f"no {what}order {row.order_id[:128]!r} in program {program.id}",
            )
        refund = None
        if row.refund_amount is not None:
            try:
                refund = parse_amount(row.refund_amount, conversion.currency, "refund_amount")
            except MoneyError as exc:
                return RowOutcome(ValidationResult.bad_amount, str(exc), conversion.id)
        savepoint = session.begin_nested()
        try:
            outcome = _move(session, program, conversion, row, refund, validation_id, now)
            savepoint.commit()
            return outcome
        except Rejected as exc:
            savepoint.rollback()
            result = (
                ValidationResult.bad_amount
                if exc.reason == "bad_amount"
                else ValidationResult.illegal_transition
            )
            return RowOutcome(result, exc.detail[:500], conversion.id)
        except IntegrityError:
            # A ledger key taken by a concurrent writer of the same order that did not wait
            # for our lock: the state moved under us, so judge the row again on what is now.
            savepoint.rollback()
            if attempt == 2:
                raise
            conversion = _find(session, program.id, row)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


# --- the upload as a whole -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """This process applies the rows (a new upload, or one taken over to be resumed)."""

    validation_id: str
    token: str
    resumed: bool


@dataclass(frozen=True, slots=True)
class Finished:
    """The same content was uploaded before and is done: its report is the answer."""

    validation_id: str


@dataclass(frozen=True, slots=True)
class Running:
    """The same content is being applied by another request right now."""

    validation_id: str


ClaimOutcome = Claimed | Finished | Running


@dataclass(frozen=True, slots=True)
class Outcome:
    validation_id: str
    # created: this request made it; resumed: finished an interrupted one; replayed: nothing
    # was applied, the first upload's report is returned.
    verdict: Literal["created", "resumed", "replayed", "queued"]


def _set_status(validation: OrderValidation, target: ValidationStatus) -> None:
    current = ValidationStatus(validation.status)
    assert target in VALIDATION_TRANSITIONS[current], f"{current} → {target}"
    validation.status = target.value


def claim(
    program_id: str, upload: Upload, created_by: str, now: datetime | None = None
) -> ClaimOutcome:
    """Insert the upload's claim in its own committed transaction, or find who holds it.

    The unique (program_id, content_sha256) decides between identical uploads: on PostgreSQL
    the second INSERT waits for the first transaction and then fails; on SQLite writers are
    serialised by BEGIN IMMEDIATE and the second one sees the row."""
    now = now or utcnow()
    digest = upload.digest
    token = secrets.token_hex(16)
    with transaction() as session:
        validation_id = new_id(PREFIX)
        try:
            with session.begin_nested():
                session.add(
                    OrderValidation(
                        id=validation_id,
                        program_id=program_id,
                        content_sha256=digest,
                        source=upload.source,
                        status=ValidationStatus.running.value,
                        row_count=len(upload.rows),
                        rows_done=0,
                        counts={result.value: 0 for result in ValidationResult},
                        created_by=created_by,
                        claim=token,
                        created_at=now,
                        heartbeat_at=now,
                    )
                )
            return Claimed(validation_id, token, resumed=False)
        except IntegrityError:
            pass
        existing = session.scalars(
            select(OrderValidation)
            .where(
                OrderValidation.program_id == program_id,
                OrderValidation.content_sha256 == digest,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        if existing.status == ValidationStatus.done:
            return Finished(existing.id)
        if existing.status == ValidationStatus.queued:
            return Running(existing.id)  # waiting for `alliance jobs run`
        if (
            existing.status == ValidationStatus.running
            and existing.heartbeat_at > now - STALE_AFTER
        ):
            return Running(existing.id)
        log.warning("resuming validation %s (%s)", existing.id, existing.status)
        _set_status(existing, ValidationStatus.running)
        existing.claim = token
        existing.heartbeat_at = now
        existing.error = None
        return Claimed(existing.id, token, resumed=True)


class LostClaim(Conflict):
    """Another process took the upload over (this one was idle past STALE_AFTER)."""


def _row_values(
    validation_id: str, row: RowInput, outcome: RowOutcome
) -> dict[str, str | int | None]:
    return {
        "validation_id": validation_id,
        "position": row.index,
        "line": row.line,
        "order_id": row.order_id,
        "kind": row.kind,
        "status": _printable(row.status[:MAX_STATUS_KEPT]),
        "refund_amount": None
        if row.refund_amount is None
        else _printable(row.refund_amount[:MAX_AMOUNT_KEPT]),
        "reason": row.reason,
        "result": outcome.result.value,
        "detail": outcome.detail[:500],
        "conversion_id": outcome.conversion_id,
    }


def _chunk(
    session: Session,
    claimed: Claimed,
    program_id: str,
    rows: Sequence[RowInput],
    winners: dict[int, RowInput],
    chunk_rows: int,
) -> bool:
    """Apply the next chunk in the session's transaction; True when the upload is done."""
    validation = session.scalars(
        select(OrderValidation)
        .where(OrderValidation.id == claimed.validation_id)
        .with_for_update()  # a takeover waits for this chunk (PostgreSQL)
        .execution_options(populate_existing=True)
    ).one()
    if validation.claim != claimed.token:
        raise LostClaim(
            f"validation {validation.id} was taken over by another request",
            field="body",
            reason="validation_taken_over",
            validation_id=validation.id,
        )
    program = session.get(Program, program_id)
    assert program is not None  # programs are never deleted
    start = validation.rows_done
    now = utcnow()
    counts = Counter({k: int(v) for k, v in (validation.counts or {}).items()})
    values = []
    chunk = rows[start : start + chunk_rows]
    live = [row for row in chunk if row.index not in winners and _judge(row) is None]
    found = ChunkOrders(session, program_id, live)
    for row in chunk:
        winner = winners.get(row.index)
        if winner is not None:
            outcome = RowOutcome(
                ValidationResult.duplicate_row,
                f"the same order is in {winner.where()}, which wins; this row applied nothing",
            )
        else:
            outcome = apply_row(session, program, row, found.get(row), validation.id, now)
        counts[outcome.result.value] += 1
        values.append(_row_values(validation.id, row, outcome))
    if values:
        session.execute(insert(OrderValidationRow), values)
    validation.rows_done = start + len(values)
    validation.counts = {result.value: counts[result.value] for result in ValidationResult}
    validation.heartbeat_at = now
    finished = validation.rows_done >= validation.row_count
    if finished:
        _set_status(validation, ValidationStatus.done)
        validation.finished_at = now
    return finished


def _mark_failed(claimed: Claimed, error: BaseException) -> None:
    with transaction() as session:
        validation = session.get(OrderValidation, claimed.validation_id, with_for_update=True)
        if validation is not None and validation.claim == claimed.token:
            _set_status(validation, ValidationStatus.failed)
            validation.error = f"{type(error).__name__}: {error}"[:500]


def run(claimed: Claimed, program_id: str, upload: Upload, *, chunk_rows: int = CHUNK_ROWS) -> None:
    """Apply every row not applied yet, one committed chunk at a time."""
    winners = superseded(upload.rows)
    pause = SQLITE_PAUSE_SECONDS if get_engine().dialect.name == "sqlite" else 0.0
    try:
        failures = 0
        while True:
            try:
                with transaction() as session:
                    if _chunk(session, claimed, program_id, upload.rows, winners, chunk_rows):
                        return
                failures = 0
                time.sleep(pause)
            except OperationalError:
                # A deadlock with a webhook batch locking the same orders in another order
                # (PostgreSQL aborts one of the two), SQLite's busy timeout, a dropped
                # connection: the chunk rolled back whole, so running it again is safe.
                failures += 1
                if failures >= CHUNK_ATTEMPTS:
                    raise
                log.warning("validation %s: chunk retried", claimed.validation_id)
                time.sleep(0.05 * failures)
    except LostClaim:
        raise
    except Exception as exc:
        # Left resumable: the committed chunks stay, a re-upload of the same content resumes.
        log.exception("validation %s failed", claimed.validation_id)
        _mark_failed(claimed, exc)
        raise


def validate(
    program_id: str, upload: Upload, created_by: str, *, inline_rows: int | None = None
) -> Outcome:
    """Claim the upload and apply it, or say who did. Raises ValidationInProgress while an
    identical upload is still being applied elsewhere.

    Uploads of more than `inline_rows` rows (setting `validation_inline_rows`) are not applied
    in the request: their rows are stored and the upload is queued for `alliance jobs run`
    (task `apply_queued_validations`), so a big month-end file never holds a request open."""
    limit = get_settings().validation_inline_rows if inline_rows is None else inline_rows
    found = claim(program_id, upload, created_by)
    if isinstance(found, Finished):
        return Outcome(found.validation_id, "replayed")
    if isinstance(found, Running):
        raise ValidationInProgress(found.validation_id)
    if len(upload.rows) > limit:
        _queue(found, upload)
        return Outcome(found.validation_id, "queued")
    run(found, program_id, upload)
    return Outcome(found.validation_id, "resumed" if found.resumed else "created")


# --- queued uploads --------------------------------------------------------------------------


def _rows_blob(rows: Sequence[RowInput]) -> bytes:
    return orjson.dumps([dataclasses.asdict(row) for row in rows])


def _rows_from(blob: bytes) -> tuple[RowInput, ...]:
    return tuple(RowInput(**row) for row in orjson.loads(blob))


def _queue(claimed: Claimed, upload: Upload) -> None:
    """Hand a claimed upload to the jobs worker: its rows stored, its claim released."""
    with transaction() as session:
        validation = session.get(OrderValidation, claimed.validation_id, with_for_update=True)
        if validation is None or validation.claim != claimed.token:
            raise LostClaim("the upload was taken over before it could be queued")
        validation.status = ValidationStatus.queued.value  # from running, our own claim
        validation.rows_input = _rows_blob(upload.rows)
        validation.claim = ""


def apply_queued(now: datetime | None = None, *, limit: int = 10) -> dict[str, int]:
    """The `apply_queued_validations` job: apply queued uploads, oldest first. Each is taken
    with a conditional UPDATE, so two workers never apply the same upload."""
    now = now or utcnow()
    counts = {"applied": 0, "failed": 0}
    # Queued ones, and queued ones whose worker died mid-way (its claim went stale).
    due = or_(
        OrderValidation.status == ValidationStatus.queued.value,
        and_(
            OrderValidation.status == ValidationStatus.running.value,
            OrderValidation.heartbeat_at <= now - STALE_AFTER,
            OrderValidation.rows_input.is_not(None),
        ),
    )
    with reading() as session:
        waiting = session.execute(
            select(OrderValidation.id, OrderValidation.program_id, OrderValidation.source)
            .where(due)
            .order_by(OrderValidation.created_at)
            .limit(limit)
        ).all()
    for validation_id, program_id, source in waiting:
        token = secrets.token_hex(16)
        with transaction() as session:
            taken = session.execute(
                update(OrderValidation)
                .where(OrderValidation.id == validation_id, due)
                .values(status=ValidationStatus.running.value, claim=token, heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )
            if cast(CursorResult[Any], taken).rowcount != 1:
                continue  # another worker took it
            blob = session.scalar(
                select(OrderValidation.rows_input).where(OrderValidation.id == validation_id)
            )
        upload = Upload(cast(Source, source), _rows_from(blob or b"[]"))
        try:
            # resumed: run() starts after the rows already done (none, for a queued one)
            run(Claimed(validation_id, token, resumed=True), program_id, upload)
        except Exception:  # noqa: BLE001 - recorded as failed by run(); the next one still runs
            counts["failed"] += 1
            continue
        with transaction() as session:
            session.execute(
                update(OrderValidation)
                .where(OrderValidation.id == validation_id)
                .values(rows_input=None)
                .execution_options(synchronize_session=False)
            )
        counts["applied"] += 1
    return counts


class ValidationInProgress(Conflict):
    """An identical upload is being applied right now; its report is ready when it finishes."""

    def __init__(self, validation_id: str) -> None:
        super().__init__(
            f"the same rows are being applied right now as {validation_id}; retry shortly "
            "to get its report",
            field="body",
            reason="validation_in_progress",
            validation_id=validation_id,
        )
        self.validation_id = validation_id


def validate_file(program_id: str, file_name: str, body: bytes) -> Outcome:
    """`alliance validate-orders`: a file from disk (JSON if it ends in .json, else CSV),
    applied on the local database like an upload by the operator."""
    with reading() as session:
        found = is_public_id(program_id, "prg") and session.get(Program, program_id) is not None
    if not found:
        raise NotFound(f"no program {program_id[:40]!r}", field="program")
    upload = read_json(body) if file_name.lower().endswith(".json") else read_csv(body)
    # The command waits for its report whatever the size: no queue for a terminal.
    return validate(program_id, upload, "cli", inline_rows=len(upload.rows))


# --- reading results -------------------------------------------------------------------------


def iter_rows(
    session: Session, validation_id: str, result: ValidationResult | None = None
) -> Iterator[OrderValidationRow]:
    """Every row result of an upload in upload order, fetched in batches (exports)."""
    statement = select(OrderValidationRow).where(OrderValidationRow.validation_id == validation_id)
    if result is not None:
        statement = statement.where(OrderValidationRow.result == result.value)
    statement = statement.order_by(OrderValidationRow.position).execution_options(yield_per=1000)
    yield from session.scalars(statement)


ROW_COLUMNS = (
    "index",
    "line",
    "order_id",
    "kind",
    "status",
    "refund_amount",
    "reason",
    "result",
    "detail",
    "conversion_id",
)


def row_record(row: OrderValidationRow) -> dict[str, Any]:
    """A row result as one flat record (CSV export, CLI table)."""
    return {
        "index": row.position,
        "line": row.line,
        "order_id": row.order_id,
        "kind": row.kind,
        "status": row.status,
        "refund_amount": row.refund_amount,
        "reason": row.reason,
        "result": row.result,
        "detail": row.detail,
        "conversion_id": row.conversion_id,
    }
