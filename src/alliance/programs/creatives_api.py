"""/api/v1 creatives: advertisers publish them per program, approved partners take them.

Partners get each creative with `tracking_url` (their own link, deep-linked to the creative's
landing page when it is not the link's default) and `html`, a snippet to paste. Asking for
creatives creates the partner's link in that program if it has none yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.api.deps import Anyone, Manager, ReadDB
from alliance.api.fields import LongText, Name, ProgramId, Url, plain_text
from alliance.api.pagination import Page, PageQuery, fetch_page
from alliance.api.scoping import get_visible, visible_programs
from alliance.db.engine import transaction
from alliance.programs import creatives as service
from alliance.programs.models import Creative, CreativeKind, Program

router = APIRouter(prefix="/api/v1", tags=["creatives"])


Side = Annotated[int, Field(ge=1, le=service.MAX_IMAGE_SIDE, description="Pixels, 1-4000")]
Text500 = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(plain_text)
]


def _https(value: str) -> str:
    if not value.lower().startswith("https://"):
        raise ValueError("must be an https URL (partner pages are https)")
    return value


HttpsUrl = Annotated[Url, AfterValidator(_https)]


class CreativeCreate(BaseModel):
    """Fields by kind: banner = image_url, width, height (alt_text); text_link = anchor_text;
    product = title (description, image_url). Others are refused."""

    model_config = ConfigDict(extra="forbid")

    kind: CreativeKind
    name: Name = Field(description="Your label for it, e.g. 'Summer sale 728x90'")
    landing_url: Url | None = Field(
        default=None,
        description="Default: the program's landing URL. Must be on its host or deep-link domains",
    )
    image_url: HttpsUrl | None = None
    width: Side | None = None
    height: Side | None = None
    alt_text: Text500 = ""
    anchor_text: Text500 | None = None
    title: Name | None = None
    description: LongText = ""
    active: bool = True


class CreativeUpdate(BaseModel):
    """Only the fields sent change; the kind is fixed. null clears an optional field."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    landing_url: Url | None = None
    image_url: HttpsUrl | None = None
    width: Side | None = None
    height: Side | None = None
    alt_text: Text500 | None = None
    anchor_text: Text500 | None = None
    title: Name | None = None
    description: LongText | None = None
    active: bool | None = None


class CreativeOut(BaseModel):
    id: str
    program_id: str
    kind: CreativeKind
    name: str
    landing_url: str
    image_url: str | None
    width: int | None
    height: int | None
    alt_text: str
    anchor_text: str | None
    title: str | None
    description: str
    active: bool
    created_at: datetime
    updated_at: datetime
    tracking_url: str | None = Field(
        description="Partners: your tracking link for this creative; null for other accounts"
    )
    html: str | None = Field(
        description="Partners: ready-to-paste HTML with your tracking link; null otherwise"
    )

    @classmethod
    def of(
        cls, row: Creative, tracking_url: str | None = None, html: str | None = None
    ) -> CreativeOut:
        return cls(
            id=row.id,
            program_id=row.program_id,
            kind=CreativeKind(row.kind),
            name=row.name,
            landing_url=row.landing_url,
            image_url=row.image_url,
            width=row.width,
            height=row.height,
            alt_text=row.alt_text,
            anchor_text=row.anchor_text,
            title=row.title,
            description=row.description,
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
            tracking_url=tracking_url,
            html=html,
        )


def _program(session: Session, program_id: str, caller: Principal) -> Program:
    """A program whose material the caller may read (partners: approved in it), else 404."""
    return get_visible(
        session,
        Program,
        program_id,
        service.programs_with_material(caller),
        prefix="prg",
        what="program",
    )


def _creative(
    session: Session, creative_id: str, caller: Principal, *, for_update: bool = False
) -> Creative:
    return get_visible(
        session,
        Creative,
        creative_id,
        service.visible_creatives(caller),
        prefix=service.CREATIVE_PREFIX,
        what="creative",
        for_update=for_update,
    )


def _out(db: Session, caller: Principal, rows: Sequence[Creative]) -> list[CreativeOut]:
    """Creatives as the caller sees them: partners' with their tracking URL and snippet."""
    if not caller.is_partner or not rows:
        return [CreativeOut.of(row) for row in rows]
    program_ids = sorted({row.program_id for row in rows})
    programs = {p.id: p for p in db.scalars(select(Program).where(Program.id.in_(program_ids)))}
    links = service.partner_links(db, caller.id, list(programs.values()))
    views = {program_id: service.redirect_view(p) for program_id, p in programs.items()}
    answer = []
    for row in rows:
        program = programs[row.program_id]
        url = service.tracking_url(
            links[row.program_id], program, row.landing_url, views[row.program_id]
        )
        answer.append(CreativeOut.of(row, url, service.creative_html(row, url)))
    return answer


def _page(
    db: Session,
    caller: Principal,
    page: PageQuery,
    conditions: list[ColumnElement[bool]],
    kind: CreativeKind | None,
    active: bool | None,
) -> Page[CreativeOut]:
    conditions = [service.visible_creatives(caller), *conditions]
    if kind is not None:
        conditions.append(Creative.kind == kind.value)
    if active is not None:
        conditions.append(Creative.active.is_(active))
    rows, cursor = fetch_page(db, select(Creative).where(*conditions), Creative.id, page)
    return Page(data=_out(db, caller, rows), next_cursor=cursor)


ActiveFilter = Annotated[
    bool | None, Query(description="Advertisers: filter by state. Partners only see active ones")
]


@router.post(
    "/programs/{program_id}/creatives",
    status_code=status.HTTP_201_CREATED,
    response_model=CreativeOut,
)
def post_creative(program_id: str, body: CreativeCreate, caller: Manager) -> CreativeOut:
    with transaction() as session:
        program = get_visible(
            session, Program, program_id, visible_programs(caller), prefix="prg", what="program"
        )
        fields = body.model_dump(exclude={"kind"})
        creative = service.create_creative(session, program, body.kind, fields)
    return CreativeOut.of(creative)


@router.get("/programs/{program_id}/creatives", response_model=Page[CreativeOut])
def list_program_creatives(
    program_id: str,
    db: ReadDB,
    caller: Anyone,
    page: PageQuery,
    kind: CreativeKind | None = None,
    active: ActiveFilter = None,
) -> Page[CreativeOut]:
    """The program's creatives. A partner must be approved in the program (else 404)."""
    program = _program(db, program_id, caller)
    return _page(db, caller, page, [Creative.program_id == program.id], kind, active)


@router.get("/creatives", response_model=Page[CreativeOut])
def list_creatives(
    db: ReadDB,
    caller: Anyone,
    page: PageQuery,
    program_id: ProgramId | None = None,
    kind: CreativeKind | None = None,
    active: ActiveFilter = None,
) -> Page[CreativeOut]:
    """Every creative the caller may use or manage, newest first."""
    conditions: list[ColumnElement[bool]] = []
    if program_id is not None:
        conditions.append(Creative.program_id == _program(db, program_id, caller).id)
    return _page(db, caller, page, conditions, kind, active)


@router.get("/creatives/{creative_id}", response_model=CreativeOut)
def get_creative(creative_id: str, db: ReadDB, caller: Anyone) -> CreativeOut:
    return _out(db, caller, [_creative(db, creative_id, caller)])[0]


@router.patch("/creatives/{creative_id}", response_model=CreativeOut)
def patch_creative(creative_id: str, body: CreativeUpdate, caller: Manager) -> CreativeOut:
    with transaction() as session:
        creative = _creative(session, creative_id, caller, for_update=True)
        program = session.get_one(Program, creative.program_id)
        changes = {name: getattr(body, name) for name in body.model_fields_set}
        service.update_creative(session, program, creative, changes)
    return CreativeOut.of(creative)


def _set_active(creative_id: str, caller: Principal, active: bool) -> CreativeOut:
    with transaction() as session:
        creative = _creative(session, creative_id, caller, for_update=True)
        program = session.get_one(Program, creative.program_id)
        service.update_creative(session, program, creative, {"active": active})
    return CreativeOut.of(creative)


@router.post("/creatives/{creative_id}/deactivate", response_model=CreativeOut)
def deactivate_creative(creative_id: str, caller: Manager) -> CreativeOut:
    """Partners stop seeing it; links already pasted keep working (they are tracking links)."""
    return _set_active(creative_id, caller, False)


@router.post("/creatives/{creative_id}/activate", response_model=CreativeOut)
def activate_creative(creative_id: str, caller: Manager) -> CreativeOut:
    return _set_active(creative_id, caller, True)
