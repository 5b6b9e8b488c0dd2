"""Links, coupons and creatives: what a partner shares.

Links are created by the tracking service the REST API uses (POST /api/v1/links), after the
same validation (`LinkCreate`), so a landing page off the program's hosts or a sub-id with a
control character is refused here exactly as there. Each link is shown with its tracking URL
in a copy field and a QR code of that URL (segno, as a `data:` SVG image: the CSP allows it).

A link's landing variants (docs/link-variants.md) are added and deleted here through the same
validation and service as /api/v1/links/{id}/variants, and a link that has any shows them in
a table with the last VARIANT_REPORT_DAYS days of the variants report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.api.fields import is_public_id
from alliance.api.scoping import get_visible, visible_coupons, visible_links, visible_programs
from alliance.clock import utcnow
from alliance.crosspromo import variants_service
from alliance.crosspromo.variant_models import LinkVariant
from alliance.crosspromo.variants import DEVICES, VISITOR_KINDS
from alliance.crosspromo.variants_api import VariantCreate
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError, InvalidInput
from alliance.programs import creatives
from alliance.programs.models import Coupon, Creative, CreativeKind, Program
from alliance.tracking import service as tracking
from alliance.tracking.models import Link
from alliance.tracking.schemas import LinkCreate
from alliance.web.i18n import _
from alliance.web.partner_common import invalid_from, on_this_site, qr_img, query_url, redirect
from alliance.web.sessions import PartnerAction, PartnerPage, Viewer
from alliance.web.templating import render

router = APIRouter()

LINKS_PER_PAGE = 20
SUB_IDS = ("sub1", "sub2", "sub3", "sub4", "sub5")
VARIANT_REPORT_DAYS = 30


def approved_programs(session: Session, viewer: Viewer) -> list[Program]:
    """Programs the partner may promote (approved enrollment), by name."""
    return list(
        session.scalars(
            select(Program)
            .where(
                Program.id.in_(creatives.approved_program_ids(viewer.account_id)),
                visible_programs(viewer.principal),
            )
            .order_by(Program.name, Program.id)
        )
    )


def parse_country_lines(text: str) -> dict[str, str]:
    """`DE https://shop.example/de` per line (or `DE=...`) -> {"DE": url}. The codes and URLs
    are validated by LinkCreate like the API's `country_urls`; a line without both parts is
    refused here, naming the line."""
    urls: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        code, _, url = line.replace("=", " ", 1).partition(" ")
        if not url.strip():
            raise InvalidInput(
                f"country_urls line {number}: expected a country code and a URL, "
                "such as DE https://shop.example/de",
                field="country_urls",
            )
        urls[code.strip()] = url.strip()
    return urls


@dataclass(frozen=True, slots=True)
class ShownVariant:
    """One row of a link's variants table: the variant, what it targets and its figures."""

    row: LinkVariant
    target: str  # the landing URL, or the offer's name
    figures: variants_service.VariantFigures
    comparison: variants_service.Comparison | None  # None for the control


@dataclass(frozen=True, slots=True)
class ShownLink:
    link: Link
    program: str
    url: str
    qr: str
    program_countries: tuple[str, ...] = ()  # empty: the program takes every country
    variants: list[ShownVariant] = field(default_factory=list)
    no_variant: variants_service.VariantFigures | None = None  # set when it has variants


def shown_variants(
    session: Session, links: list[Link]
) -> dict[str, tuple[list[ShownVariant], variants_service.VariantFigures]]:
    """link id -> its variants with the last VARIANT_REPORT_DAYS days of figures, for the
    links of the page that have live variants (two reads of raw clicks and orders each)."""
    if not links:
        return {}
    having = set(
        session.scalars(
            select(LinkVariant.link_id)
            .where(
                LinkVariant.link_id.in_([link.id for link in links]),
                LinkVariant.deleted_at.is_(None),
            )
            .distinct()
        )
    )
    end = utcnow()
    start = end - timedelta(days=VARIANT_REPORT_DAYS)
    found: dict[str, tuple[list[ShownVariant], variants_service.VariantFigures]] = {}
    for link in links:
        if link.id not in having:
            continue
        report = variants_service.variant_report(session, link, start, end)
        rows = {
            r.id: r
            for r in session.scalars(select(LinkVariant).where(LinkVariant.link_id == link.id))
        }
        offers = variants_service.offer_names(session, rows.values())
        comparisons = {c.variant_id: c for c in report.comparisons}
        shown = []
        for figures in report.variants:
            assert figures.variant_id is not None
            row = rows[figures.variant_id]
            target = row.landing_url or _(
                "Offer: %(name)s", name=offers.get(row.creative_id or "", "")
            )
            shown.append(ShownVariant(row, target, figures, comparisons.get(row.id)))
        found[link.id] = (shown, report.no_variant)
    return found


def parse_countries(text: str) -> list[str]:
    """`DE, AT` or `DE AT` -> ["DE", "AT"]; each code is then checked like the API's."""
    return [code for code in re.split(r"[\s,;]+", text.strip()) if code]


def _links_page(
    request: Request,
    viewer: Viewer,
    *,
    program_id: str = "",
    after: str = "",
    status: int = 200,
    **extra: object,
) -> Response:
    with reading() as session:
        programs = approved_programs(session, viewer)
        names = {p.id: p.name for p in programs}
        countries = {p.id: tuple(p.allowed_countries or ()) for p in programs}
        statement = select(Link).where(visible_links(viewer.principal))
        if program_id:
            statement = statement.where(Link.program_id == program_id)
        if after:
            statement = statement.where(Link.id < after)
        rows = session.scalars(statement.order_by(Link.id.desc()).limit(LINKS_PER_PAGE + 1)).all()
        more = len(rows) > LINKS_PER_PAGE
        rows = rows[:LINKS_PER_PAGE]
        missing = {r.program_id for r in rows} - names.keys()
        if missing:  # links of programs the partner is no longer approved in
            names.update(
                session.execute(
                    select(Program.id, Program.name).where(Program.id.in_(missing))
                ).all()
            )
        coupons = session.execute(
            select(Coupon, Program.name)
            .join(Program, Program.id == Coupon.program_id)
            .where(visible_coupons(viewer.principal))
            .order_by(Program.name, Coupon.code)
        ).all()
        variants = shown_variants(session, list(rows))
    links = []
    for row in rows:
        url = tracking.link_url(row.code)
        shown, no_variant = variants.get(row.id, ([], None))
        links.append(
            ShownLink(
                row,
                names.get(row.program_id, row.program_id),
                url,
                qr_img(url),
                countries.get(row.program_id, ()),
                shown,
                no_variant,
            )
        )
    context = {
        "programs": programs,
        "links": links,
        "coupons": coupons,
        "program_id": program_id,
        "sub_ids": SUB_IDS,
        "form": extra.pop("form", {"program_id": program_id}),
        "variant_form": extra.pop("variant_form", {}),
        "devices": DEVICES,
        "visitor_kinds": VISITOR_KINDS,
        "variant_report_days": VARIANT_REPORT_DAYS,
        "first_url": query_url("/partner/links", program_id=program_id) if after else None,
        "next_url": query_url("/partner/links", program_id=program_id, after=rows[-1].id)
        if more
        else None,
        **extra,
    }
    return render(request, "partner/links.html", context, status=status)


@router.get("/partner/links", response_class=HTMLResponse)
def links_page(
    request: Request,
    viewer: PartnerPage,
    program_id: Annotated[str, Query(max_length=40)] = "",
    after: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    program_id = program_id if is_public_id(program_id, "prg") else ""
    after = after if is_public_id(after, "lnk") else ""
    return _links_page(request, viewer, program_id=program_id, after=after)


@router.post("/partner/links")
def create_link(
    request: Request,
    viewer: PartnerAction,
    program_id: Annotated[str, Form(max_length=40)] = "",
    label: Annotated[str, Form(max_length=400)] = "",
    landing_url: Annotated[str, Form(max_length=4096)] = "",
    sub1: Annotated[str, Form(max_length=512)] = "",
    sub2: Annotated[str, Form(max_length=512)] = "",
    sub3: Annotated[str, Form(max_length=512)] = "",
    sub4: Annotated[str, Form(max_length=512)] = "",
    sub5: Annotated[str, Form(max_length=512)] = "",
    country_urls: Annotated[str, Form(max_length=60_000)] = "",
) -> Response:
    subs = {"sub1": sub1, "sub2": sub2, "sub3": sub3, "sub4": sub4, "sub5": sub5}
    form = {
        "program_id": program_id,
        "label": label,
        "landing_url": landing_url,
        "country_urls": country_urls,
        **subs,
    }
    try:
        try:
            body = LinkCreate.model_validate(
                {
                    "program_id": program_id,
                    "label": label,
                    "landing_url": landing_url.strip() or None,
                    "default_subs": {k: v for k, v in subs.items() if v != ""},
                    "country_urls": parse_country_lines(country_urls),
                }
            )
        except ValidationError as exc:
            refusal = invalid_from(exc, prefix="default_subs")
            if refusal.field and refusal.field.startswith("country_urls"):
                # One textarea holds every country: point at it, keep the sentence's detail.
                refusal = InvalidInput(refusal.detail, field="country_urls")
            raise refusal from None
        with transaction() as session:
            program = get_visible(
                session,
                Program,
                body.program_id,
                visible_programs(viewer.principal),
                prefix="prg",
                what="program",
            )
            link = tracking.create_link(
                session,
                program,
                viewer.account_id,
                landing_url=body.landing_url,
                label=body.label,
                default_subs=body.default_subs.model_dump(exclude_none=True),
                country_urls=body.country_urls,
            )
            link_id, code = link.id, link.code
    except AllianceError as exc:
        field = exc.field or ("program_id" if exc.status == 404 else None)
        if field and field.startswith("country_urls."):
            field = "country_urls"
        return _links_page(
            request,
            viewer,
            status=exc.status,
            error=exc.detail,
            error_field=field,
            form=form,
        )
    return redirect(
        f"/partner/links?program_id={program_id}#{link_id}",
        _("Link created: %(url)s", url=tracking.link_url(code)),
    )


# --- landing variants --------------------------------------------------------------------


def _own_link(session: Session, viewer: Viewer, link_id: str) -> Link:
    """The partner's link, locked for the change (others' links are 404, as in the API)."""
    return get_visible(
        session,
        Link,
        link_id,
        visible_links(viewer.principal),
        prefix="lnk",
        what="link",
        for_update=True,
    )


@router.post("/partner/links/{link_id}/variants")
def add_variant(
    request: Request,
    viewer: PartnerAction,
    link_id: str,
    name: Annotated[str, Form(max_length=400)] = "",
    landing_url: Annotated[str, Form(max_length=4096)] = "",
    countries: Annotated[str, Form(max_length=2000)] = "",
    devices: Annotated[list[str] | None, Form()] = None,
    visitor: Annotated[str, Form(max_length=20)] = "",
    weight: Annotated[str, Form(max_length=20)] = "1",
) -> Response:
    form = {
        "link_id": link_id,
        "name": name,
        "landing_url": landing_url,
        "countries": countries,
        "devices": devices or [],
        "visitor": visitor,
        "weight": weight,
    }
    try:
        try:
            body = VariantCreate.model_validate(
                {
                    "name": name,
                    "landing_url": landing_url.strip() or None,
                    "countries": parse_countries(countries),
                    "devices": devices or [],
                    "visitor": visitor or None,
                    "weight": weight.strip() or "1",
                }
            )
        except ValidationError as exc:
            raise invalid_from(exc) from None
        with transaction() as session:
            link = _own_link(session, viewer, link_id)
            program = session.get_one(Program, link.program_id)
            variants_service.create_variant(session, link, program, body.terms())
            program_id = link.program_id
    except AllianceError as exc:
        field_name = (exc.field or "").split(".", 1)[0] or None
        return _links_page(
            request,
            viewer,
            status=exc.status,
            error=exc.detail,
            error_field=field_name,
            variant_form=form,
        )
    return redirect(f"/partner/links?program_id={program_id}#{link_id}", _("Variant added"))


@router.post("/partner/links/{link_id}/variants/{variant_id}/delete")
def delete_variant(
    request: Request, viewer: PartnerAction, link_id: str, variant_id: str
) -> Response:
    try:
        with transaction() as session:
            link = _own_link(session, viewer, link_id)
            variants_service.delete_variant(variants_service.get_variant(session, link, variant_id))
            program_id = link.program_id
    except AllianceError as exc:
        return _links_page(request, viewer, status=exc.status, error=exc.detail)
    return redirect(f"/partner/links?program_id={program_id}#{link_id}", _("Variant deleted"))


# --- creatives ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShownCreative:
    creative: Creative
    tracking_url: str | None
    html: str | None
    preview: bool  # the image is on this site, so the CSP lets the page show it


@router.get("/partner/creatives", response_class=HTMLResponse)
def creatives_page(
    request: Request,
    viewer: PartnerPage,
    program_id: Annotated[str, Query(max_length=40)] = "",
    kind: Annotated[CreativeKind | None, Query()] = None,
) -> Response:
    program_id = program_id if is_public_id(program_id, "prg") else ""
    with reading() as session:
        programs = approved_programs(session, viewer)
        shown = [p for p in programs if not program_id or p.id == program_id]
        statement = select(Creative).where(
            creatives.visible_creatives(viewer.principal),
            Creative.program_id.in_([p.id for p in shown]),
        )
        if kind is not None:
            statement = statement.where(Creative.kind == kind.value)
        rows = session.scalars(statement.order_by(Creative.id.desc()).limit(500)).all()
        with_material = [p for p in shown if any(r.program_id == p.id for r in rows)]
        if not viewer.can_write:
            # A read-only member sees creatives through links that exist; making one is a write.
            has_link = set(
                session.scalars(
                    select(Link.program_id)
                    .where(
                        Link.partner_id == viewer.account_id,
                        Link.program_id.in_([p.id for p in with_material]),
                    )
                    .distinct()
                )
            )
            with_material = [p for p in with_material if p.id in has_link]
        links = creatives.partner_links(session, viewer.account_id, with_material)
        views = {p.id: creatives.redirect_view(p) for p in with_material}
        by_id = {p.id: p for p in with_material}
    grouped: dict[str, list[ShownCreative]] = {}
    for row in rows:
        program = by_id.get(row.program_id)
        url = html = None
        if program is not None:
            link, view = links[program.id], views[program.id]
            url = creatives.tracking_url(link, program, row.landing_url, view)
            html = creatives.creative_html(row, url)
        grouped.setdefault(row.program_id, []).append(
            ShownCreative(row, url, html, on_this_site(row.image_url))
        )
    return render(
        request,
        "partner/creatives.html",
        {
            "programs": programs,
            "shown": [p for p in shown if p.id in grouped],
            "grouped": grouped,
            "program_id": program_id,
            "kind": kind.value if kind else "",
            "kinds": [(k.value, k.value.replace("_", " ")) for k in CreativeKind],
        },
    )
