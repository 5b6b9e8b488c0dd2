"""Programs, versioned terms, enrollments and coupons: the writes behind the REST API.

Functions take an open session (the caller owns the transaction) and rows the caller has
already checked it may see (api/scoping.py); they enforce the domain rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alliance.accounts.models import Advertiser, Partner
from alliance.clock import utcnow
from alliance.commissions.terms import parse_terms, terms_to_json
from alliance.errors import Conflict, Forbidden, InvalidInput, NotFound
from alliance.ids import PREFIXES, new_id, new_token
from alliance.programs.models import (
    ENROLLMENT_TRANSITIONS,
    CommissionTerms,
    Coupon,
    Enrollment,
    EnrollmentStatus,
    Program,
)
from alliance.programs.schemas import ProgramCreate, ProgramUpdate

# --- programs ----------------------------------------------------------------------------------


def create_program(
    session: Session, advertiser: Advertiser, data: ProgramCreate
) -> tuple[Program, CommissionTerms]:
    """A program with version 1 of its terms, validated in the program currency."""
    currency = data.currency or advertiser.currency
    document = parse_terms(data.commission, currency, field="commission")
    program = Program(
        id=new_id(PREFIXES["program"]),
        advertiser_id=advertiser.id,
        name=data.name,
        currency=currency,
        landing_url=data.landing_url,
        cookie_window_days=data.cookie_window_days,
        lock_period_days=data.lock_period_days,
        allowed_countries=_unique(data.allowed_countries),
        fallback_url=data.fallback_url,
        deeplink_domains=_unique(data.deeplink_domains),
        store_wide=data.store_wide,
        attribution_priority=data.attribution_priority.value,
        postback_token=new_token(24),
        description=data.description,
        category=data.category,
        status="active",
        created_at=utcnow(),
    )
    session.add(program)
    session.flush()  # the terms row references the program
    terms = CommissionTerms(
        id=new_id(PREFIXES["terms"]),
        program_id=program.id,
        version=1,
        rules=terms_to_json(document),
        created_at=utcnow(),
    )
    session.add(terms)
    session.flush()
    return program, terms


# Fields of ProgramUpdate whose null is a value, not a mistake.
NULLABLE_UPDATES = frozenset({"fallback_url"})


def update_program(session: Session, program: Program, data: ProgramUpdate) -> Program:
    """Apply the fields the client sent; an explicit null is refused, not stored (except for
    the optional fallback URL, where null means "none: use the landing URL")."""
    for name in sorted(data.model_fields_set):
        value: Any = getattr(data, name)
        if value is None and name not in NULLABLE_UPDATES:
            raise InvalidInput(f"{name} cannot be null", field=name)
        if name in ("allowed_countries", "deeplink_domains"):
            value = _unique(value)
        elif name == "attribution_priority":
            value = value.value
        setattr(program, name, value)
    session.flush()
    return program


def add_terms_version(session: Session, program: Program, raw: dict[str, Any]) -> CommissionTerms:
    """A new version of the terms. Earlier versions stay: conversions point at theirs.

    The version number comes from the highest existing one; two concurrent updates collide on
    the (program_id, version) unique key and the loser answers 409 instead of overwriting.
    """
    document = parse_terms(raw, program.currency, field="commission")
    latest = session.scalar(
        select(func.max(CommissionTerms.version)).where(CommissionTerms.program_id == program.id)
    )
    terms = CommissionTerms(
        id=new_id(PREFIXES["terms"]),
        program_id=program.id,
        version=(latest or 0) + 1,
        rules=terms_to_json(document),
        created_at=utcnow(),
    )
    session.add(terms)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("the terms were changed at the same time; read them and retry") from None
    return terms


def current_terms(session: Session, program_ids: Iterable[str]) -> dict[str, CommissionTerms]:
    """The highest terms version of each program, in one query."""
    ids = list(program_ids)
    if not ids:
        return {}
    latest = (
        select(CommissionTerms.program_id, func.max(CommissionTerms.version).label("version"))
        .where(CommissionTerms.program_id.in_(ids))
        .group_by(CommissionTerms.program_id)
        .subquery()
    )
    rows = session.scalars(
        select(CommissionTerms).join(
            latest,
            (CommissionTerms.program_id == latest.c.program_id)
            & (CommissionTerms.version == latest.c.version),
        )
    ).all()
    return {row.program_id: row for row in rows}


def allowed_hosts(program: Program) -> set[str]:
    """Hosts a link of this program may land on: the landing URL's host and the deep-link
    domains (each with its subdomains)."""
    hosts = {d.lower() for d in program.deeplink_domains or []}
    landing = urlsplit(program.landing_url).hostname
    if landing:
        hosts.add(landing.lower())
    return hosts


def is_allowed_landing(program: Program, url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return any(
        host == allowed or host.endswith("." + allowed) for allowed in allowed_hosts(program)
    )


def check_landing(program: Program, url: str, field: str) -> None:
    if not is_allowed_landing(program, url):
        hosts = ", ".join(sorted(allowed_hosts(program)))
        raise InvalidInput(
            f"{field} must be on the program's landing host or deep-link domains ({hosts})",
            field=field,
        )


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


# --- enrollments -------------------------------------------------------------------------------


def apply_to_program(
    session: Session, program: Program, partner_id: str, message: str
) -> Enrollment:
    """A partner asks to join. One enrollment per partner and program, whatever its status."""
    existing = session.scalars(
        select(Enrollment).where(
            Enrollment.program_id == program.id, Enrollment.partner_id == partner_id
        )
    ).first()
    if existing is not None:
        raise Conflict(
            f"already enrolled in this program (status {existing.status})",
            enrollment_id=existing.id,
        )
    if program.status != "active":
        raise Conflict("the program is paused and takes no applications", field="program_id")
    enrollment = Enrollment(
        id=new_id(PREFIXES["enrollment"]),
        program_id=program.id,
        partner_id=partner_id,
        status=EnrollmentStatus.applied.value,
        message=message,
        created_at=utcnow(),
    )
    session.add(enrollment)
    try:
        session.flush()
    except IntegrityError:  # a concurrent application won the (program, partner) unique key
        raise Conflict("already enrolled in this program") from None
    return enrollment


def decide_enrollment(
    session: Session,
    enrollment: Enrollment,
    target: EnrollmentStatus,
    *,
    reason: str | None,
    group: str | None,
) -> Enrollment:
    """Move an enrollment along ENROLLMENT_TRANSITIONS; anything else is a 409."""
    current = EnrollmentStatus(enrollment.status)
    if target not in ENROLLMENT_TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in ENROLLMENT_TRANSITIONS[current])) or "none"
        raise Conflict(
            f"an enrollment that is {current.value} cannot become {target.value} "
            f"(allowed: {allowed})",
            status_now=current.value,
        )
    if group is not None and target is not EnrollmentStatus.approved:
        raise InvalidInput("group can only be set when approving", field="group")
    enrollment.status = target.value
    enrollment.reason = reason
    enrollment.decided_at = utcnow()
    if group is not None:
        enrollment.group = group or None
    session.flush()
    return enrollment


def approved_enrollment(
    session: Session, program_id: str, partner_id: str, *, field: str
) -> Enrollment:
    """The partner's approved enrollment, or a refusal that says what is missing."""
    enrollment = session.scalars(
        select(Enrollment).where(
            Enrollment.program_id == program_id, Enrollment.partner_id == partner_id
        )
    ).first()
    if enrollment is None:
        raise Forbidden("the partner is not enrolled in this program: apply first", field=field)
    if enrollment.status != EnrollmentStatus.approved:
        raise Forbidden(
            f"the partner's enrollment in this program is {enrollment.status}; "
            "only approved partners can promote it",
            field=field,
        )
    return enrollment


# --- coupons -----------------------------------------------------------------------------------


def create_coupon(
    session: Session, program: Program, partner_id: str, code: str, description: str
) -> Coupon:
    """A partner's coupon code. Codes are matched case-insensitively, so `SUMMER10` and
    `summer10` are the same code and cannot belong to two partners."""
    if session.get(Partner, partner_id) is None:
        raise InvalidInput(f"no partner {partner_id!r}", field="partner_id")
    enrollment = session.scalars(
        select(Enrollment).where(
            Enrollment.program_id == program.id, Enrollment.partner_id == partner_id
        )
    ).first()
    if enrollment is None or enrollment.status != EnrollmentStatus.approved:
        state = "not enrolled" if enrollment is None else f"enrollment is {enrollment.status}"
        raise Conflict(
            f"coupons are for approved partners of the program (this partner: {state})",
            field="partner_id",
        )
    key = code.upper()
    taken = session.scalar(
        select(Coupon.id).where(Coupon.program_id == program.id, Coupon.code_key == key)
    )
    if taken is not None:
        raise Conflict(f"coupon code {code!r} already exists in this program", field="code")
    coupon = Coupon(
        id=new_id(PREFIXES["coupon"]),
        program_id=program.id,
        partner_id=partner_id,
        code=code,
        code_key=key,
        description=description,
        created_at=utcnow(),
    )
    session.add(coupon)
    try:
        session.flush()
    except IntegrityError:  # created concurrently: the unique key decides
        raise Conflict(
            f"coupon code {code!r} already exists in this program", field="code"
        ) from None
    return coupon


def load_program(session: Session, program_id: str) -> Program:
    program = session.get(Program, program_id)
    if program is None:
        raise NotFound(f"no program {program_id!r}")
    return program
