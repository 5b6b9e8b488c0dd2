"""/api/v1/links and /api/v1/clicks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import ColumnElement, select

from alliance.api.deps import Anyone, PartnerOnly, ReadDB
from alliance.api.fields import Country, LinkId, PartnerId, ProgramId, SubId
from alliance.api.pagination import Page, PageQuery, TimeRangeQuery, fetch_page, given
from alliance.api.scoping import get_visible, visible_clicks, visible_links, visible_programs
from alliance.db.engine import transaction
from alliance.programs.models import Program
from alliance.tracking import service
from alliance.tracking.models import Click, InvalidReason, Link
from alliance.tracking.schemas import ClickOut, LinkCreate, LinkOut

router = APIRouter(prefix="/api/v1")


def _out(link: Link) -> LinkOut:
    return LinkOut.of(link, service.link_url(link.code))


@router.post("/links", status_code=status.HTTP_201_CREATED, response_model=LinkOut, tags=["links"])
def post_link(body: LinkCreate, caller: PartnerOnly) -> LinkOut:
    with transaction() as session:
        program = get_visible(
            session,
            Program,
            body.program_id,
            visible_programs(caller),
            prefix="prg",
            what="program",
        )
        link = service.create_link(
            session,
            program,
            caller.id,
            landing_url=body.landing_url,
            label=body.label,
            default_subs=body.default_subs.model_dump(exclude_none=True),
            country_urls=body.country_urls,
        )
    return _out(link)


@router.get("/links", response_model=Page[LinkOut], tags=["links"])
def list_links(
    db: ReadDB,
    caller: Anyone,
    page: PageQuery,
    program_id: ProgramId | None = None,
    partner_id: PartnerId | None = None,
) -> Page[LinkOut]:
    conditions: list[ColumnElement[bool]] = [visible_links(caller)]
    conditions += given((Link.program_id, program_id), (Link.partner_id, partner_id))
    rows, cursor = fetch_page(db, select(Link).where(*conditions), Link.id, page)
    return Page(data=[_out(row) for row in rows], next_cursor=cursor)


@router.get("/links/{link_id}", response_model=LinkOut, tags=["links"])
def get_link(link_id: str, db: ReadDB, caller: Anyone) -> LinkOut:
    return _out(get_visible(db, Link, link_id, visible_links(caller), prefix="lnk", what="link"))


@router.get("/clicks", response_model=Page[ClickOut], tags=["clicks"])
def list_clicks(
    db: ReadDB,
    caller: Anyone,
    page: PageQuery,
    period: TimeRangeQuery,
    program_id: ProgramId | None = None,
    partner_id: PartnerId | None = None,
    link_id: LinkId | None = None,
    is_bot: bool | None = None,
    invalid_reason: Annotated[
        InvalidReason | None, Query(description="Only clicks stored invalid for this reason")
    ] = None,
    country: Annotated[Country | None, Query(description="ISO alpha-2 of the visitor")] = None,
    sub1: SubId | None = None,
) -> Page[ClickOut]:
    conditions: list[ColumnElement[bool]] = [visible_clicks(caller)]
    conditions += period.conditions(Click.occurred_at)
    conditions += given(
        (Click.program_id, program_id),
        (Click.partner_id, partner_id),
        (Click.link_id, link_id),
        (Click.is_bot, is_bot),
        (Click.invalid_reason, invalid_reason),
        (Click.country, country),
        (Click.sub1, sub1),
    )
    rows, cursor = fetch_page(db, select(Click).where(*conditions), Click.id, page)
    return Page(data=[ClickOut.of(row) for row in rows], next_cursor=cursor)


@router.get("/clicks/{click_id}", response_model=ClickOut, tags=["clicks"])
def get_click(click_id: str, db: ReadDB, caller: Anyone) -> ClickOut:
    return ClickOut.of(
        get_visible(db, Click, click_id, visible_clicks(caller), prefix="clk", what="click")
    )
