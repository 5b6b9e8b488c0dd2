"""Creatives and product feeds of the advertiser's programs.

Every action is the REST API's own function called with the viewer's principal
(programs/creatives_api.py, programs/feeds_api.py): the same validation (`CreativeCreate`),
the same landing-URL rule as the redirect, the same feed parser and report. The page only
turns form fields into those calls and their refusals into form errors.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from alliance.api.pagination import PageParams
from alliance.db.engine import reading
from alliance.errors import AllianceError, InvalidInput, PayloadTooLarge
from alliance.programs import creatives_api, feeds, feeds_api
from alliance.programs.creatives import visible_creatives
from alliance.programs.models import Creative, CreativeKind
from alliance.web.advertiser_common import (
    form_error,
    invalid_from,
    own_programs,
    page_params,
    program_filter,
    query_url,
    redirect,
    text,
)
from alliance.web.i18n import N_, _, ngettext, options
from alliance.web.sessions import AdvertiserAction, AdvertiserPage, Viewer
from alliance.web.templating import render

router = APIRouter()

CREATIVES_SHOWN = 200
UPLOADS_SHOWN = 10
PRODUCTS_PAGE = 25
KINDS = [
    (CreativeKind.banner.value, N_("Banner (image, width, height, alt text)")),
    (CreativeKind.text_link.value, N_("Text link (anchor text)")),
    (CreativeKind.product.value, N_("Product teaser (title, description, image)")),
]
_CREATIVE_FIELDS = (
    "name",
    "landing_url",
    "image_url",
    "width",
    "height",
    "alt_text",
    "anchor_text",
    "title",
    "description",
)
# Optional typed fields: empty means "not given", not an empty value.
_NONE_WHEN_EMPTY = ("landing_url", "image_url", "width", "height", "anchor_text", "title")


def _page(
    request: Request,
    viewer: Viewer,
    program_id: str | None,
    *,
    q: str = "",
    category: str = "",
    cursor: str | None = None,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    params = page_params(cursor, PRODUCTS_PAGE)
    with reading() as session:
        programs = own_programs(session, viewer)
        chosen = program_filter(programs, program_id) or (programs[0].id if programs else None)
        program = next((p for p in programs if p.id == chosen), None)
        creatives: list[Creative] = []
        feed = None
        uploads = None
        products = None
        if program is not None:
            creatives = list(
                session.scalars(
                    select(Creative)
                    .where(visible_creatives(viewer.principal), Creative.program_id == program.id)
                    .order_by(Creative.id.desc())
                    .limit(CREATIVES_SHOWN)
                )
            )
            feed = feeds_api.get_feed(program.id, session, viewer.principal)
            uploads = feeds_api.list_feed_uploads(
                program.id, session, viewer.principal, PageParams(UPLOADS_SHOWN, None)
            ).data
            products = feeds_api.list_products(
                session,
                viewer.principal,
                params,
                program_id=program.id,
                q=q or None,
                category=category or None,
                min_price=None,
                max_price=None,
                currency=None,
                product_status=None,
            )
    next_url = None
    if products is not None and products.next_cursor:
        next_url = query_url(
            "/advertiser/creatives",
            program_id=chosen,
            q=q,
            category=category,
            cursor=products.next_cursor,
        )
        next_url += "#products"
    first_url = (
        query_url("/advertiser/creatives", program_id=chosen, q=q, category=category) + "#products"
        if cursor
        else None
    )
    context = {
        "programs": programs,
        "program": program,
        "creatives": creatives,
        "feed": feed,
        "uploads": uploads or [],
        "products": products.data if products is not None else [],
        "q": q,
        "category": category,
        "kinds": options(KINDS),
        "values": extra.pop("values", {"kind": CreativeKind.banner.value}),
        "next_url": next_url,
        "first_url": first_url,
        **extra,
    }
    return render(request, "advertiser/creatives.html", context, status=status)


@router.get("/advertiser/creatives", response_class=HTMLResponse)
def creatives_page(
    request: Request,
    viewer: AdvertiserPage,
    program_id: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str, Query(max_length=200)] = "",
    category: Annotated[str, Query(max_length=64)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    return _page(request, viewer, program_id, q=q.strip(), category=category.strip(), cursor=cursor)


@router.post("/advertiser/creatives")
async def create_creative(request: Request, viewer: AdvertiserAction) -> Response:
    form = await request.form()
    program_id = text(form, "program_id")
    values = {name: text(form, name) for name in ("kind", *_CREATIVE_FIELDS)}
    data: dict[str, Any] = {name: values[name].strip() for name in _CREATIVE_FIELDS}
    data["description"] = values["description"]  # line breaks are kept
    for name in _NONE_WHEN_EMPTY:
        if not data[name]:
            data[name] = None
    data["kind"] = values["kind"]
    try:
        try:
            body = creatives_api.CreativeCreate.model_validate(data)
        except ValidationError as exc:
            raise invalid_from(exc) from None
        created = creatives_api.post_creative(program_id, body, viewer.principal)
    except AllianceError as exc:
        return _page(
            request,
            viewer,
            program_id or None,
            status=exc.status,
            values=values,
            **form_error(exc),
        )
    return redirect(
        query_url("/advertiser/creatives", program_id=created.program_id),
        _("Creative “%(name)s” published to the program's partners.", name=created.name),
    )


@router.post("/advertiser/creatives/{creative_id}/{action}")
def set_active(
    request: Request,
    viewer: AdvertiserAction,
    creative_id: str,
    action: str,
) -> Response:
    if action == "deactivate":
        changed = creatives_api.deactivate_creative(creative_id, viewer.principal)
        message = _("“%(name)s” is deactivated: partners no longer see it.", name=changed.name)
    elif action == "activate":
        changed = creatives_api.activate_creative(creative_id, viewer.principal)
        message = _("“%(name)s” is active again.", name=changed.name)
    else:
        raise InvalidInput(f"unknown action {action[:20]!r}", field="action")
    return redirect(query_url("/advertiser/creatives", program_id=changed.program_id), message)


@router.post("/advertiser/feed")
async def upload_feed(
    request: Request,
    viewer: AdvertiserAction,
    program_id: Annotated[str, Form(max_length=64)],
    file: Annotated[UploadFile, File()],
) -> Response:
    """Replace the program's product feed with a CSV file (the API's upload, as a form)."""
    raw = await file.read(feeds.MAX_FEED_BYTES + 1)
    try:
        if len(raw) > feeds.MAX_FEED_BYTES:
            raise PayloadTooLarge(f"a feed is at most {feeds.MAX_FEED_BYTES} bytes", field="file")
        upload, is_new = await run_in_threadpool(
            feeds_api._apply_upload, program_id, raw, viewer.principal
        )
    except AllianceError as exc:
        return _page(request, viewer, program_id, status=exc.status, **form_error(exc))
    if not is_new:
        message = _("The same file as the latest upload: nothing changed.")
    else:
        message = _(
            "Feed applied: %(read)s products read (%(new)s new, %(changed)s changed,"
            " %(removed)s removed).",
            read=upload.rows_accepted,
            new=upload.products_created,
            changed=upload.products_updated,
            removed=upload.products_removed,
        )
        if upload.rows_rejected:
            message += " " + ngettext(
                "%(num)s row skipped.", "%(num)s rows skipped.", upload.rows_rejected
            )
    kind = "warn" if upload.rows_rejected else "ok"
    return redirect(query_url("/advertiser/creatives", program_id=program_id), message, kind)
