"""Product feeds: an advertiser's catalogue, uploaded as CSV, searched and deep-linked by partners.

An upload replaces the program's feed in one transaction: products are upserted by
(program, product id), products the upload no longer lists are marked `removed` (never
deleted: an older order's line can still find its category), and a per-row report says which
rows were skipped and why. Good rows are kept even when others are bad; an upload with no
usable row at all is refused and leaves the feed as it was (a broken export must not wipe a
catalogue). The same bytes as the latest applied upload are a no-op, recognised by sha256.

Format (docs/creatives-and-feeds.md): UTF-8 (a BOM is tolerated), CRLF or LF, a header row
naming the columns `id,title,url,price,currency,category,image` in any order and any case
(`category` and `image` may be left out; unknown columns are ignored and reported). A header
with semicolons or tabs and no comma is read with that separator, as spreadsheets export it
in many locales. Row numbers count the header as row 1, like a spreadsheet.

The product id is the `sku` order lines carry: `categories_for` gives a conversion's lines
without a category the one the feed knows, so category commission overrides apply to them.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, false, insert, select, true, update
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.api.fields import http_url, plain_text
from alliance.api.scoping import programs_of
from alliance.clock import utcnow
from alliance.errors import InvalidInput, PayloadTooLarge
from alliance.ids import new_id
from alliance.money import MoneyError, minor_units, normalize_currency, parse_amount
from alliance.programs.creatives import approved_program_ids, landing_problem, redirect_view
from alliance.programs.models import (
    FeedProduct,
    FeedUpload,
    FeedUploadStatus,
    ProductStatus,
    Program,
)
from alliance.tracking.link_cache import CachedLink

PRODUCT_PREFIX = "prd"
UPLOAD_PREFIX = "fdu"
MAX_FEED_BYTES = 20 * 1024 * 1024
MAX_FEED_ROWS = 50_000
# Stored and returned per upload; `errors_total` keeps the full count.
MAX_REPORTED_ERRORS = 1000
COLUMNS = ("id", "title", "url", "price", "currency", "category", "image")
REQUIRED_COLUMNS = ("id", "title", "url", "price", "currency")
MAX_ID = 128
MAX_TITLE = 500
MAX_CATEGORY = 64  # commission overrides match categories of at most 64 characters
MAX_URL = 2048
# Order lines are few; this only bounds the IN list of one query (SQLite's parameter limit).
_SKU_CHUNK = 500
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # 1 = the header row
    field: str  # a column name, or "row" for the line as a whole
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ProductRow:
    """One valid feed line."""

    row: int
    product_id: str
    title: str
    url: str
    price: Decimal
    price_minor: int
    currency: str
    category: str
    image_url: str | None


@dataclass(slots=True)
class ParsedFeed:
    products: list[ProductRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0
    rows_rejected: int = 0
    ignored_columns: list[str] = field(default_factory=list)


def sha256_hex(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def decode_feed(raw: bytes) -> str:
    """The upload as text: strict UTF-8, a leading BOM dropped. Binary uploads (a spreadsheet
    file instead of its CSV export) are refused with a hint."""
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM) :]
    if not raw.strip():
        raise InvalidInput(
            "the feed is empty: expected a header row (id,title,url,price,currency,...)",
            field="body",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"the feed is not UTF-8 text (byte {exc.start}): export it as 'CSV UTF-8'",
            field="body",
        ) from None
    if "\x00" in text:
        raise InvalidInput(
            "the feed contains NUL bytes: upload the CSV export, not a spreadsheet file",
            field="body",
        )
    return text


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    if "," not in header:
        for candidate in (";", "\t"):
            if candidate in header:
                return candidate
    return ","


def _records(text: str, delimiter: str) -> Iterator[list[str] | csv.Error]:
    """Each CSV record, or the csv.Error it raised (the reader carries on at the next line)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield exc


def _header(record: list[str]) -> tuple[dict[str, int], list[str]]:
    """Column name -> position, and the ignored column names."""
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for i, raw in enumerate(record):
        name = raw.strip().lower()
        if name in positions:
            raise InvalidInput(f"the header names column {name!r} twice", field="header")
        if name in COLUMNS:
            positions[name] = i
        elif name:
            ignored.append(raw.strip()[:64])
    missing = [name for name in REQUIRED_COLUMNS if name not in positions]
    if missing:
        raise InvalidInput(
            f"the header lacks column(s) {', '.join(missing)}; expected "
            f"{','.join(COLUMNS)} (category and image optional)",
            field="header",
            missing_columns=missing,
        )
    return positions, ignored


Problems = list[tuple[str, str]]  # (field, reason)


def _text(value: str, name: str, limit: int, errors: Problems, *, required: bool) -> str:
    value = value.strip()
    if required and not value:
        errors.append((name, "is required"))
    elif len(value) > limit:
        errors.append((name, f"is longer than {limit} characters"))
    elif not _printable(value):
        try:
            plain_text(value)
        except ValueError as exc:
            errors.append((name, str(exc)))
    return value


def _printable(value: str) -> bool:
    """A fast pass for the common case, 50,000 rows at a time: printable text has no control
    or format characters, so `plain_text` would accept it (U+FFFD aside, which it refuses as
    undecodable input). Anything else gets `plain_text`'s full verdict and message."""
    return value.isprintable() and "\ufffd" not in value


def _url(value: str, name: str, errors: Problems, *, required: bool) -> str | None:
    value = value.strip()
    if not value:
        if required:
            errors.append((name, "is required"))
        return None
    if len(value) > MAX_URL:
        errors.append((name, f"is longer than {MAX_URL} characters"))
        return None
    # Printable and without spaces, the text checks of http_url hold already; what remains is
    # its URL check. Whatever fails that goes through http_url itself, for its message.
    if _printable(value) and " " not in value and _scheme_and_host(value):
        return value
    try:
        return http_url(value)
    except ValueError as exc:
        errors.append((name, str(exc)))
        return None


def _scheme_and_host(value: str) -> bool:
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a non-numeric port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def parse_row(
    values: dict[str, str], row: int, program: Program, view: CachedLink
) -> ProductRow | list[RowError]:
    """Validate one line: a product, or every problem found in it (one per field)."""
    problems: Problems = []
    product_id = _text(values.get("id", ""), "id", MAX_ID, problems, required=True)
    title = _text(values.get("title", ""), "title", MAX_TITLE, problems, required=True)
    category = _text(values.get("category", ""), "category", MAX_CATEGORY, problems, required=False)
    url = _url(values.get("url", ""), "url", problems, required=True)
    if url is not None:
        problem = landing_problem(view, url)
        if problem is not None:
            problems.append(("url", problem))
    image = _url(values.get("image", ""), "image", problems, required=False)
    if image is not None and not image.lower().startswith("https://"):
        problems.append(("image", "must be an https URL (partner pages are https)"))
    currency = program.currency
    raw_currency = values.get("currency", "").strip()
    try:
        if normalize_currency(raw_currency) != program.currency:
            problems.append(
                (
                    "currency",
                    f"this program's products are priced in {program.currency}, "
                    f"not {raw_currency.upper()}",
                )
            )
    except MoneyError as exc:
        problems.append(("currency", str(exc)))
    raw_price = values.get("price", "").strip()
    price = Decimal(0)
    try:
        price = parse_amount(raw_price, currency, field="price")
    except MoneyError as exc:
        hint = " (use a dot for decimals, no thousands separator)" if "," in raw_price else ""
        problems.append(("price", f"{exc}{hint}"))
    if problems:
        return [RowError(row, name, reason) for name, reason in problems]
    return ProductRow(
        row=row,
        product_id=product_id,
        title=title,
        url=url or "",
        price=price,
        price_minor=int(price.scaleb(minor_units(currency))),
        currency=currency,
        category=category,
        image_url=image,
    )


def parse_feed(text: str, program: Program) -> ParsedFeed:
    """Validate a whole feed (already decoded). File-level problems raise (422 / 413); row
    problems are collected and their rows skipped."""
    view = redirect_view(program)
    records = _records(text, _delimiter(text))
    first = next(records, None)
    if first is None or isinstance(first, csv.Error):
        raise InvalidInput("the first row must be the header row", field="header")
    positions, ignored = _header(first)
    width = len(first)
    feed = ParsedFeed(ignored_columns=ignored)
    seen: dict[str, int] = {}
    for row, record in enumerate(records, start=2):
        if isinstance(record, csv.Error):
            feed.rows_read += 1
            feed.rows_rejected += 1
            feed.errors.append(RowError(row, "row", f"malformed CSV: {record}"))
            continue
        if not any(value.strip() for value in record):
            continue  # blank lines: spreadsheets leave them at the end
        feed.rows_read += 1
        if feed.rows_read > MAX_FEED_ROWS:
            raise PayloadTooLarge(f"a feed holds at most {MAX_FEED_ROWS} products", field="body")
        if len(record) > width and any(value.strip() for value in record[width:]):
            feed.rows_rejected += 1
            feed.errors.append(
                RowError(row, "row", f"{len(record)} values but the header has {width} columns")
            )
            continue
        values = {name: record[i] if i < len(record) else "" for name, i in positions.items()}
        parsed = parse_row(values, row, program, view)
        if isinstance(parsed, list):
            feed.rows_rejected += 1
            feed.errors.extend(parsed)
            continue
        if parsed.product_id in seen:
            feed.rows_rejected += 1
            feed.errors.append(
                RowError(
                    row,
                    "id",
                    f"duplicate id {parsed.product_id!r}: first on row "
                    f"{seen[parsed.product_id]}; this row was skipped",
                )
            )
            continue
        seen[parsed.product_id] = row
        feed.products.append(parsed)
    return feed


# --- who sees which products ---------------------------------------------------------------


def visible_products(who: Principal) -> ColumnElement[bool]:
    """Operator: all; advertiser: its programs' products (removed ones too); partner: active
    products of programs it is approved in."""
    if who.is_operator:
        return true()
    if who.is_advertiser:
        return FeedProduct.program_id.in_(programs_of(who.id))
    if who.is_partner:
        return (FeedProduct.status == ProductStatus.active.value) & FeedProduct.program_id.in_(
            approved_program_ids(who.id)
        )
    return false()


# --- applying an upload -----------------------------------------------------------------------


def latest_applied(session: Session, program_id: str) -> FeedUpload | None:
    return session.scalars(
        select(FeedUpload)
        .where(
            FeedUpload.program_id == program_id,
            FeedUpload.status == FeedUploadStatus.applied.value,
        )
        .order_by(FeedUpload.id.desc())
        .limit(1)
    ).first()


def _changed(old: Any, new: ProductRow) -> bool:
    """`old` is a row of the columns loaded in upload_feed."""
    return bool(
        old.status != ProductStatus.active
        or old.title != new.title
        or old.url != new.url
        or old.price != new.price  # Decimal: 12.5 == 12.500000 (PostgreSQL's NUMERIC scale)
        or old.currency != new.currency
        or old.category != new.category
        or old.image_url != new.image_url
    )


def _product_values(product: ProductRow) -> dict[str, Any]:
    return {
        "title": product.title,
        "title_key": product.title.casefold(),
        "url": product.url,
        "price": product.price,
        "price_minor": product.price_minor,
        "currency": product.currency,
        "category": product.category,
        "image_url": product.image_url,
        "status": ProductStatus.active.value,
        "removed_at": None,
    }


def upload_feed(
    session: Session, program: Program, raw: bytes, uploaded_by: str | None
) -> tuple[FeedUpload, bool]:
    """Replace the program's feed with the upload's good rows; returns (upload, is_new).

    `is_new` is False when the bytes are those of the latest applied upload: nothing is
    written and that upload is returned. The program row is locked first (PostgreSQL), so two
    uploads of one feed apply one after the other, never interleaved; SQLite's writing
    transactions are serialised anyway. A returned upload with status `rejected` changed no
    product: the caller commits it (it is history) and answers 422.
    """
    if len(raw) > MAX_FEED_BYTES:
        raise PayloadTooLarge(f"a feed is at most {MAX_FEED_BYTES} bytes", field="body")
    session.scalars(select(Program.id).where(Program.id == program.id).with_for_update()).all()
    digest = sha256_hex(raw)
    latest = latest_applied(session, program.id)
    if latest is not None and latest.sha256 == digest:
        return latest, False
    feed = parse_feed(decode_feed(raw), program)
    now = utcnow()
    upload = FeedUpload(
        id=new_id(UPLOAD_PREFIX),
        program_id=program.id,
        sha256=digest,
        size_bytes=len(raw),
        status=FeedUploadStatus.applied.value,
        rows_read=feed.rows_read,
        rows_accepted=len(feed.products),
        rows_rejected=feed.rows_rejected,
        products_created=0,
        products_updated=0,
        products_unchanged=0,
        products_removed=0,
        errors=[error.as_json() for error in feed.errors[:MAX_REPORTED_ERRORS]],
        errors_total=len(feed.errors),
        ignored_columns=feed.ignored_columns,
        uploaded_by=uploaded_by,
        created_at=now,
    )
    if not feed.products and feed.errors:
        upload.status = FeedUploadStatus.rejected.value
        session.add(upload)
        session.flush()
        return upload, True

    existing = {
        row.product_id: row
        for row in session.execute(
            select(
                FeedProduct.id,
                FeedProduct.product_id,
                FeedProduct.title,
                FeedProduct.url,
                FeedProduct.price,
                FeedProduct.currency,
                FeedProduct.category,
                FeedProduct.image_url,
                FeedProduct.status,
            ).where(FeedProduct.program_id == program.id)
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for product in feed.products:
        old = existing.get(product.product_id)
        if old is None:
            inserts.append(
                {
                    "id": new_id(PRODUCT_PREFIX),
                    "program_id": program.id,
                    "product_id": product.product_id,
                    **_product_values(product),
                    "last_upload_id": upload.id,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        elif _changed(old, product):
            updates.append(
                {
                    "id": old.id,
                    **_product_values(product),
                    "last_upload_id": upload.id,
                    "updated_at": now,
                }
            )
    listed = {product.product_id for product in feed.products}
    removals = [
        {
            "id": old.id,
            "status": ProductStatus.removed.value,
            "removed_at": now,
            "updated_at": now,
            "last_upload_id": upload.id,
        }
        for product_id, old in existing.items()
        if product_id not in listed and old.status == ProductStatus.active
    ]
    if inserts:
        session.execute(insert(FeedProduct), inserts)
    if updates or removals:
        # ORM bulk UPDATE by primary key: one executemany, not one statement per product.
        session.execute(update(FeedProduct), updates + removals)
    upload.products_created = len(inserts)
    upload.products_updated = len(updates)
    upload.products_unchanged = len(feed.products) - len(inserts) - len(updates)
    upload.products_removed = len(removals)
    session.add(upload)
    session.flush()
    return upload, True


# --- categories for commission overrides ------------------------------------------------------


def categories_for(session: Session, program_id: str, skus: Iterable[str]) -> dict[str, str]:
    """sku -> the category the program's feed gives that product id (exact match).

    For conversion lines that carry a sku but no category. Removed products count: the order
    may predate the product leaving the feed, and its category is still the best fact there
    is. Products with an empty category are left out, so the caller keeps "no category".
    Read-only; served by the (program_id, product_id) unique index.
    """
    wanted = sorted({sku for sku in skus if sku})
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _SKU_CHUNK):
        chunk = wanted[start : start + _SKU_CHUNK]
        rows = session.execute(
            select(FeedProduct.product_id, FeedProduct.category).where(
                FeedProduct.program_id == program_id,
                FeedProduct.product_id.in_(chunk),
                FeedProduct.category != "",
            )
        )
        found.update((product_id, category) for product_id, category in rows)
    return found
