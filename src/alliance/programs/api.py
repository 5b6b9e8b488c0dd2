"""/api/v1/programs, terms, enrollments and coupons."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, status
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from alliance.accounts.models import Advertiser
from alliance.accounts.service import Principal
from alliance.api.deps import Anyone, Manager, PartnerOnly, ReadDB
from alliance.api.fields import AdvertiserId, PartnerId, ProgramId
from alliance.api.pagination import Page, PageQuery, fetch_page, given
from alliance.api.scoping import (
    get_visible,
    visible_coupons,
    visible_enrollments,
    visible_programs,
)
from alliance.db.engine import transaction
from alliance.errors import InvalidInput
from alliance.programs import service
from alliance.programs.models import (
    CommissionTerms,
    Coupon,
    Enrollment,
    EnrollmentStatus,
    Program,
)
from alliance.programs.schemas import (
    CouponCreate,
    CouponOut,
    EnrollmentApply,
    EnrollmentDecision,
    EnrollmentOut,
    ProgramCreate,
    ProgramOut,
    ProgramUpdate,
    TermsOut,
    TermsUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["programs"])


def _program(
    session: Session, program_id: str, caller: Principal, *, for_update: bool = False
) -> Program:
    return get_visible(
        session,
        Program,
        program_id,
        visible_programs(caller),
        prefix="prg",
        what="program",
        for_update=for_update,
    )


def _program_out(session: Session, program: Program, caller: Principal) -> ProgramOut:
    terms = service.current_terms(session, [program.id]).get(program.id)
    return ProgramOut.of(program, terms, show_secret=not caller.is_partner)


def _owner(session: Session, body: ProgramCreate, caller: Principal) -> Advertiser:
    """Advertisers create programs for themselves; the operator names the advertiser."""
    if caller.is_advertiser:
        if body.advertiser_id not in (None, caller.id):
            raise InvalidInput(
                "advertiser keys create programs for their own account", field="advertiser_id"
            )
        advertiser_id = caller.id
    elif body.advertiser_id is None:
        raise InvalidInput("advertiser_id is required with an operator key", field="advertiser_id")
    else:
        advertiser_id = body.advertiser_id
    advertiser = session.get(Advertiser, advertiser_id)
    if advertiser is None:
        raise InvalidInput(f"no advertiser {advertiser_id!r}", field="advertiser_id")
    return advertiser


# --- programs ----------------------------------------------------------------------------------


@router.post("/programs", status_code=status.HTTP_201_CREATED, response_model=ProgramOut)
def post_program(body: ProgramCreate, caller: Manager) -> ProgramOut:
    with transaction() as session:
        program, terms = service.create_program(session, _owner(session, body, caller), body)
    return ProgramOut.of(program, terms, show_secret=True)


@router.get("/programs", response_model=Page[ProgramOut])
def list_programs(
    db: ReadDB,
    caller: Anyone,
    page: PageQuery,
    enrolled: Annotated[
        bool | None,
        Query(description="Partners: true = programs it is approved in; false = not joined yet"),
    ] = None,
    advertiser_id: AdvertiserId | None = None,
    program_status: Annotated[Literal["active", "paused"] | None, Query(alias="status")] = None,
) -> Page[ProgramOut]:
    conditions: list[ColumnElement[bool]] = [visible_programs(caller)]
    conditions += given((Program.status, program_status), (Program.advertiser_id, advertiser_id))
    if caller.is_partner and enrolled is not None:
        approved = select(Enrollment.program_id).where(
            Enrollment.partner_id == caller.id,
            Enrollment.status == EnrollmentStatus.approved.value,
        )
        any_enrollment = select(Enrollment.program_id).where(Enrollment.partner_id == caller.id)
        conditions.append(
            Program.id.in_(approved) if enrolled else Program.id.not_in(any_enrollment)
        )
    rows, cursor = fetch_page(db, select(Program).where(*conditions), Program.id, page)
    terms = service.current_terms(db, [row.id for row in rows])
    show_secret = not caller.is_partner
    return Page(
        data=[ProgramOut.of(row, terms.get(row.id), show_secret=show_secret) for row in rows],
        next_cursor=cursor,
    )


@router.get("/programs/{program_id}", response_model=ProgramOut)
def get_program(program_id: str, db: ReadDB, caller: Anyone) -> ProgramOut:
    return _program_out(db, _program(db, program_id, caller), caller)


@router.patch("/programs/{program_id}", response_model=ProgramOut)
def patch_program(program_id: str, body: ProgramUpdate, caller: Manager) -> ProgramOut:
    with transaction() as session:
        program = _program(session, program_id, caller, for_update=True)
        program = service.update_program(session, program, body)
        answer = _program_out(session, program, caller)
    return answer


@router.put("/programs/{program_id}/terms", response_model=TermsOut)
def put_terms(program_id: str, body: TermsUpdate, caller: Manager) -> TermsOut:
    """A new version of the program's terms; conversions already priced keep their version."""
    with transaction() as session:
        program = _program(session, program_id, caller)
        terms = service.add_terms_version(session, program, body.commission)
    return TermsOut.of(terms, program.currency)


@router.get("/programs/{program_id}/terms", response_model=Page[TermsOut])
def list_terms(program_id: str, db: ReadDB, caller: Anyone, page: PageQuery) -> Page[TermsOut]:
    program = _program(db, program_id, caller)
    statement = select(CommissionTerms).where(CommissionTerms.program_id == program.id)
    rows, cursor = fetch_page(db, statement, CommissionTerms.id, page)
    return Page(data=[TermsOut.of(row, program.currency) for row in rows], next_cursor=cursor)


# --- enrollments -------------------------------------------------------------------------------


@router.post(
    "/programs/{program_id}/enrollments",
    status_code=status.HTTP_201_CREATED,
    response_model=EnrollmentOut,
    tags=["enrollments"],
)
def apply(
    program_id: str,
    caller: PartnerOnly,
    body: Annotated[EnrollmentApply | None, Body()] = None,
) -> EnrollmentOut:
    with transaction() as session:
        program = _program(session, program_id, caller)
        message = body.message if body is not None else ""
        enrollment = service.apply_to_program(session, program, caller.id, message)
    return EnrollmentOut.of(enrollment)


@router.get(
    "/programs/{program_id}/enrollments",
    response_model=Page[EnrollmentOut],
    tags=["enrollments"],
)
def list_program_enrollments(
    program_id: str,
    db: ReadDB,
    caller: Manager,
    page: PageQuery,
    enrollment_status: Annotated[EnrollmentStatus | None, Query(alias="status")] = None,
) -> Page[EnrollmentOut]:
    program = _program(db, program_id, caller)
    return _enrollment_page(db, caller, page, program.id, None, enrollment_status)


@router.get("/enrollments", response_model=Page[EnrollmentOut], tags=["enrollments"])
def list_enrollments(
    db: ReadDB,
    caller: Anyone,
    page: PageQuery,
    program_id: ProgramId | None = None,
    partner_id: PartnerId | None = None,
    enrollment_status: Annotated[EnrollmentStatus | None, Query(alias="status")] = None,
) -> Page[EnrollmentOut]:
    return _enrollment_page(db, caller, page, program_id, partner_id, enrollment_status)


def _enrollment_page(
    db: Session,
    caller: Principal,
    page: PageQuery,
    program_id: str | None,
    partner_id: str | None,
    enrollment_status: EnrollmentStatus | None,
) -> Page[EnrollmentOut]:
    conditions: list[ColumnElement[bool]] = [visible_enrollments(caller)]
    conditions += given(
        (Enrollment.program_id, program_id),
        (Enrollment.partner_id, partner_id),
        (Enrollment.status, enrollment_status),
    )
    rows, cursor = fetch_page(db, select(Enrollment).where(*conditions), Enrollment.id, page)
    return Page(data=[EnrollmentOut.of(row) for row in rows], next_cursor=cursor)


@router.get("/enrollments/{enrollment_id}", response_model=EnrollmentOut, tags=["enrollments"])
def get_enrollment(enrollment_id: str, db: ReadDB, caller: Anyone) -> EnrollmentOut:
    row = get_visible(
        db,
        Enrollment,
        enrollment_id,
        visible_enrollments(caller),
        prefix="enr",
        what="enrollment",
    )
    return EnrollmentOut.of(row)


def _decision_endpoint(
    target: EnrollmentStatus,
) -> Callable[[str, Principal, EnrollmentDecision | None], EnrollmentOut]:
    def decide(
        enrollment_id: str,
        caller: Manager,
        body: Annotated[EnrollmentDecision | None, Body()] = None,
    ) -> EnrollmentOut:
        decision = body or EnrollmentDecision()
        with transaction() as session:
            enrollment = get_visible(
                session,
                Enrollment,
                enrollment_id,
                visible_enrollments(caller),
                prefix="enr",
                what="enrollment",
                for_update=True,
            )
            service.decide_enrollment(
                session, enrollment, target, reason=decision.reason, group=decision.group
            )
        return EnrollmentOut.of(enrollment)

    return decide


for _action, _target in (
    ("approve", EnrollmentStatus.approved),
    ("reject", EnrollmentStatus.rejected),
    ("suspend", EnrollmentStatus.suspended),
    ("ban", EnrollmentStatus.banned),
):
    router.add_api_route(
        f"/enrollments/{{enrollment_id}}/{_action}",
        _decision_endpoint(_target),
        methods=["POST"],
        response_model=EnrollmentOut,
        tags=["enrollments"],
        name=f"{_action}_enrollment",
        summary=f"{_action.capitalize()} an enrollment (advertiser of the program or operator)",
    )


# --- coupons -----------------------------------------------------------------------------------


@router.post(
    "/coupons", status_code=status.HTTP_201_CREATED, response_model=CouponOut, tags=["coupons"]
)
def post_coupon(body: CouponCreate, caller: Manager) -> CouponOut:
    with transaction() as session:
        program = get_visible(
            session,
            Program,
            body.program_id,
            visible_programs(caller),
            prefix="prg",
            what="program",
        )
        coupon = service.create_coupon(
            session, program, body.partner_id, body.code, body.description
        )
    return CouponOut.of(coupon)


@router.get("/coupons", response_model=Page[CouponOut], tags=["coupons"])
def list_coupons(
    db: ReadDB,
    caller: Anyone,
    page: PageQuery,
    program_id: ProgramId | None = None,
    partner_id: PartnerId | None = None,
) -> Page[CouponOut]:
    conditions: list[ColumnElement[bool]] = [visible_coupons(caller)]
    conditions += given((Coupon.program_id, program_id), (Coupon.partner_id, partner_id))
    rows, cursor = fetch_page(db, select(Coupon).where(*conditions), Coupon.id, page)
    return Page(data=[CouponOut.of(row) for row in rows], next_cursor=cursor)


@router.get("/coupons/{coupon_id}", response_model=CouponOut, tags=["coupons"])
def get_coupon(coupon_id: str, db: ReadDB, caller: Anyone) -> CouponOut:
    row = get_visible(db, Coupon, coupon_id, visible_coupons(caller), prefix="cpn", what="coupon")
    return CouponOut.of(row)
