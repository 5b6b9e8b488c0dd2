"""/api/v1 product feeds: the advertiser uploads CSV, partners search products and deep-link them.

`POST /programs/{id}/feed` takes the CSV as the raw request body (Content-Type: text/csv), so
a 20 MB catalogue needs no multipart wrapper: `curl --data-binary @feed.csv`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from alliance.accounts.service import Principal
from alliance.api.deps import Anyone, Manager, ReadDB
from alliance.api.fields import Currency, ProgramId, ShortText, amount_text, plain_text
from alliance.api.pagination import Page, PageQuery, fetch_page
from alliance.api.scoping import get_visible, visible_programs
from alliance.db.engine import transaction
from alliance.errors import AllianceError, InvalidInput, PayloadTooLarge
from alliance.money import MoneyError, minor_units, parse_amount
from alliance.programs import creatives, feeds
from alliance.programs.models import (
    FeedProduct,
    FeedUpload,
    FeedUploadStatus,
    ProductStatus,
    Program,
)

router = APIRouter(prefix="/api/v1", tags=["product feeds"])


CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})
MAX_QUERY_TERMS = 10
# How many row errors a refused upload's problem answer lists (the upload keeps up to 1000).
PROBLEM_ERRORS = 100


class UnsupportedMediaType(AllianceError):
    status = 415
    type_slug = "unsupported-media-type"
    title = "Unsupported media type"


# --- shapes -----------------------------------------------------------------------------------


class RowErrorOut(BaseModel):
    row: int = Field(description="Row number in the file; the header is row 1")
    field: str = Field(description="The column at fault, or `row` for the whole line")
    reason: str


class FeedUploadSummaryOut(BaseModel):
    id: str
    program_id: str
    status: FeedUploadStatus
    sha256: str
    size_bytes: int
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    products_created: int
    products_updated: int
    products_unchanged: int
    products_removed: int
    errors_total: int
    ignored_columns: list[str]
    uploaded_by: str | None
    created_at: datetime

    @classmethod
    def fields_of(cls, row: FeedUpload) -> dict[str, Any]:
        return {
            "id": row.id,
            "program_id": row.program_id,
            "status": FeedUploadStatus(row.status),
            "sha256": row.sha256,
            "size_bytes": row.size_bytes,
            "rows_read": row.rows_read,
            "rows_accepted": row.rows_accepted,
            "rows_rejected": row.rows_rejected,
            "products_created": row.products_created,
            "products_updated": row.products_updated,
            "products_unchanged": row.products_unchanged,
            "products_removed": row.products_removed,
            "errors_total": row.errors_total,
            "ignored_columns": list(row.ignored_columns or []),
            "uploaded_by": row.uploaded_by,
            "created_at": row.created_at,
        }

    @classmethod
    def of(cls, row: FeedUpload) -> FeedUploadSummaryOut:
        return cls(**cls.fields_of(row))


class FeedUploadOut(FeedUploadSummaryOut):
    errors: list[RowErrorOut] = Field(
        description=f"The first {feeds.MAX_REPORTED_ERRORS} row errors, in file order"
    )
    duplicate: bool = Field(
        default=False,
        description="True when the bytes equal the latest applied upload: nothing changed, "
        "and this is that upload",
    )

    @classmethod
    def full(cls, row: FeedUpload, *, duplicate: bool = False) -> FeedUploadOut:
        errors = [RowErrorOut(**error) for error in row.errors or []]
        return cls(**cls.fields_of(row), errors=errors, duplicate=duplicate)


class CategoryCount(BaseModel):
    category: str
    products: int


class FeedOut(BaseModel):
    program_id: str
    currency: str
    products_active: int
    products_removed: int
    categories: list[CategoryCount] = Field(description="Active products per category")
    latest_upload: FeedUploadSummaryOut | None = Field(description="The latest applied upload")


class ProductOut(BaseModel):
    id: str
    program_id: str
    product_id: str = Field(description="The advertiser's id: the sku order lines carry")
    title: str
    url: str
    price: str = Field(description="Decimal string in `currency`")
    currency: str
    category: str
    image_url: str | None
    status: ProductStatus
    updated_at: datetime
    tracking_url: str | None = Field(
        description="Partners: your tracking link deep-linking this product; null otherwise"
    )

    @classmethod
    def of(cls, row: FeedProduct, tracking_url: str | None = None) -> ProductOut:
        return cls(
            id=row.id,
            program_id=row.program_id,
            product_id=row.product_id,
            title=row.title,
            url=row.url,
            price=amount_text(row.price, row.currency),
            currency=row.currency,
            category=row.category,
            image_url=row.image_url,
            status=ProductStatus(row.status),
            updated_at=row.updated_at,
            tracking_url=tracking_url,
        )


# --- helpers ----------------------------------------------------------------------------------


def _managed_program(session: Session, program_id: str, caller: Principal) -> Program:
    return get_visible(
        session, Program, program_id, visible_programs(caller), prefix="prg", what="program"
    )


def _check_media_type(content_type: str | None) -> None:
    media, _, params = (content_type or "").partition(";")
    if media.strip().lower() not in CSV_TYPES:
        raise UnsupportedMediaType(
            "send the feed as the request body with Content-Type: text/csv", field="Content-Type"
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise UnsupportedMediaType(
                "the feed must be UTF-8 (charset=utf-8)", field="Content-Type"
            )


async def _read_body(request: Request) -> bytes:
    """The body, refused as soon as it passes the feed size limit (not after buffering it)."""
    too_large = PayloadTooLarge(f"a feed is at most {feeds.MAX_FEED_BYTES} bytes", field="body")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > feeds.MAX_FEED_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > feeds.MAX_FEED_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _apply_upload(program_id: str, raw: bytes, caller: Principal) -> tuple[FeedUpload, bool]:
    with transaction() as session:
        program = _managed_program(session, program_id, caller)
        upload, is_new = feeds.upload_feed(session, program, raw, caller.id)
    if upload.status == FeedUploadStatus.rejected:
        errors = upload.errors or []
        raise InvalidInput(
            f"no row of the feed is usable ({upload.errors_total} problems); the feed was "
            "left unchanged",
            field=str(errors[0]["field"]) if errors else "body",
            upload_id=upload.id,
            errors_total=upload.errors_total,
            errors=errors[:PROBLEM_ERRORS],
        )
    return upload, is_new


def _price_bound(raw: str | None, currency: str, name: str) -> int | None:
    """A price filter in integer minor units of `currency` (stored prices are exact there)."""
    if raw is None:
        return None
    try:
        value = parse_amount(raw, currency, field=name)
    except MoneyError as exc:
        raise InvalidInput(f"{name}: {exc}", field=name) from None
    return int(value.scaleb(minor_units(currency)))


def _like_terms(q: str) -> list[str]:
    """`q` as LIKE patterns on the casefolded title: every word must appear, in any order."""
    terms = q.casefold().split()[:MAX_QUERY_TERMS]
    escaped = (t.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for t in terms)
    return [f"%{term}%" for term in escaped]


def _products_out(db: Session, caller: Principal, rows: Sequence[FeedProduct]) -> list[ProductOut]:
    if not caller.is_partner or not rows:
        return [ProductOut.of(row) for row in rows]
    program_ids = sorted({row.program_id for row in rows})
    programs = {p.id: p for p in db.scalars(select(Program).where(Program.id.in_(program_ids)))}
    links = creatives.partner_links(db, caller.id, list(programs.values()))
    views = {program_id: creatives.redirect_view(p) for program_id, p in programs.items()}
    return [
        ProductOut.of(
            row,
            creatives.tracking_url(
                links[row.program_id], programs[row.program_id], row.url, views[row.program_id]
            ),
        )
        for row in rows
    ]


# --- the advertiser's feed --------------------------------------------------------------------


_CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "UTF-8 CSV with a header row: id,title,url,price,currency,category,image",
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "id,title,url,price,currency,category,image\n"
                "TENT-2P,Trail tent 2P,https://shop.example/p/tent-2p,2499.00,SEK,tents,"
                "https://cdn.shop.example/tent-2p.jpg\n",
            }
        },
    }
}


@router.post(
    "/programs/{program_id}/feed",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedUploadOut,
    openapi_extra=_CSV_BODY,
    responses={
        200: {"description": "The same file as the latest upload: nothing changed"},
        413: {"description": "More than 20 MB or 50,000 rows"},
        415: {"description": "Not text/csv, or a charset other than UTF-8"},
        422: {"description": "A file-level problem, or no usable row (feed unchanged)"},
    },
)
async def post_feed(
    program_id: str, request: Request, response: Response, caller: Manager
) -> FeedUploadOut:
    """Replace the program's product feed. Bad rows are skipped and reported; good rows are
    kept. Products no longer listed are marked removed."""
    _check_media_type(request.headers.get("content-type"))
    raw = await _read_body(request)
    upload, is_new = await run_in_threadpool(_apply_upload, program_id, raw, caller)
    if not is_new:
        response.status_code = status.HTTP_200_OK
    return FeedUploadOut.full(upload, duplicate=not is_new)


@router.get("/programs/{program_id}/feed", response_model=FeedOut)
def get_feed(program_id: str, db: ReadDB, caller: Manager) -> FeedOut:
    program = _managed_program(db, program_id, caller)
    counts = dict(
        db.execute(
            select(FeedProduct.status, func.count())
            .where(FeedProduct.program_id == program.id)
            .group_by(FeedProduct.status)
        ).all()
    )
    categories = db.execute(
        select(FeedProduct.category, func.count())
        .where(
            FeedProduct.program_id == program.id,
            FeedProduct.status == ProductStatus.active.value,
        )
        .group_by(FeedProduct.category)
        .order_by(func.count().desc(), FeedProduct.category)
    ).all()
    latest = feeds.latest_applied(db, program.id)
    return FeedOut(
        program_id=program.id,
        currency=program.currency,
        products_active=counts.get(ProductStatus.active.value, 0),
        products_removed=counts.get(ProductStatus.removed.value, 0),
        categories=[CategoryCount(category=c, products=n) for c, n in categories],
        latest_upload=FeedUploadSummaryOut.of(latest) if latest is not None else None,
    )


@router.get("/programs/{program_id}/feed/uploads", response_model=Page[FeedUploadSummaryOut])
def list_feed_uploads(
    program_id: str, db: ReadDB, caller: Manager, page: PageQuery
) -> Page[FeedUploadSummaryOut]:
    """Upload history, newest first; the row errors are in each upload's detail."""
    program = _managed_program(db, program_id, caller)
    statement = select(FeedUpload).where(FeedUpload.program_id == program.id)
    rows, cursor = fetch_page(db, statement, FeedUpload.id, page)
    return Page(data=[FeedUploadSummaryOut.of(row) for row in rows], next_cursor=cursor)


@router.get("/programs/{program_id}/feed/uploads/{upload_id}", response_model=FeedUploadOut)
def get_feed_upload(program_id: str, upload_id: str, db: ReadDB, caller: Manager) -> FeedUploadOut:
    program = _managed_program(db, program_id, caller)
    upload = get_visible(
        db,
        FeedUpload,
        upload_id,
        FeedUpload.program_id == program.id,
        prefix=feeds.UPLOAD_PREFIX,
        what="feed upload",
    )
    return FeedUploadOut.full(upload)


# --- products ---------------------------------------------------------------------------------

SearchText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(plain_text)
]
PriceText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]


@router.get("/products", response_model=Page[ProductOut])
def list_products(
    db: ReadDB,
    caller: Anyone,
    page: PageQuery,
    program_id: ProgramId | None = None,
    q: Annotated[
        SearchText | None,
        Query(description="Words that must all appear in the title (any case, any order)"),
    ] = None,
    category: Annotated[ShortText | None, Query(description="Exact category, any case")] = None,
    min_price: Annotated[
        PriceText | None, Query(description="Decimal, inclusive; needs program_id or currency")
    ] = None,
    max_price: Annotated[
        PriceText | None, Query(description="Decimal, inclusive; needs program_id or currency")
    ] = None,
    currency: Currency | None = None,
    product_status: Annotated[
        ProductStatus | None,
        Query(alias="status", description="Advertisers and operator; partners see active ones"),
    ] = None,
) -> Page[ProductOut]:
    """Search the feeds the caller may see. Partners: programs they are approved in, each
    product with `tracking_url` (their own link deep-linking the product)."""
    conditions: list[ColumnElement[bool]] = [feeds.visible_products(caller)]
    price_currency = currency
    if program_id is not None:
        program = get_visible(
            db,
            Program,
            program_id,
            creatives.programs_with_material(caller),
            prefix="prg",
            what="program",
        )
        conditions.append(FeedProduct.program_id == program.id)
        price_currency = price_currency or program.currency
    if currency is not None:
        conditions.append(FeedProduct.currency == currency)
    conditions.append(FeedProduct.status == (product_status or ProductStatus.active).value)
    for pattern in _like_terms(q or ""):
        conditions.append(FeedProduct.title_key.like(pattern, escape="\\"))
    if category:
        escaped = category.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(FeedProduct.category.ilike(escaped, escape="\\"))
    if min_price is not None or max_price is not None:
        if price_currency is None:
            raise InvalidInput(
                "price filters need program_id or currency: prices compare in one currency",
                field="min_price" if min_price is not None else "max_price",
            )
        low = _price_bound(min_price, price_currency, "min_price")
        high = _price_bound(max_price, price_currency, "max_price")
        if low is not None and high is not None and low > high:
            raise InvalidInput("min_price must not exceed max_price", field="min_price")
        if low is not None:
            conditions.append(FeedProduct.price_minor >= low)
        if high is not None:
            conditions.append(FeedProduct.price_minor <= high)
    rows, cursor = fetch_page(db, select(FeedProduct).where(*conditions), FeedProduct.id, page)
    return Page(data=_products_out(db, caller, rows), next_cursor=cursor)


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: str, db: ReadDB, caller: Anyone) -> ProductOut:
    """One product by its `prd_...` id (not the advertiser's product id)."""
    row = get_visible(
        db,
        FeedProduct,
        product_id,
        feeds.visible_products(caller),
        prefix=feeds.PRODUCT_PREFIX,
        what="product",
    )
    return _products_out(db, caller, [row])[0]
