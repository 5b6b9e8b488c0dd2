"""Partner sign-ups: the public /join form files an application; the operator approves it
(the partner account is created, its owner invited by mail, and the recruit code it came
with recorded as a referral) or rejects it with a reason (docs/referrals.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alliance.accounts import people
from alliance.accounts.models import ApplicationStatus, PartnerApplication, PartnerType
from alliance.accounts.service import create_partner
from alliance.accounts.users import Role
from alliance.clock import utcnow
from alliance.crosspromo import referral_rules, referrals
from alliance.errors import Conflict, InvalidInput, NotFound
from alliance.ids import PREFIXES, new_id

# A form anyone can post: a handful a day from one address is a family or an office, more
# is a script.
MAX_PENDING_PER_ADDRESS_A_DAY = 5


@dataclass(frozen=True, slots=True)
class Signup:
    """A checked sign-up form (web/join_pages.py validates it with PartnerCreate's rules)."""

    name: str
    email: str
    type: PartnerType
    country: str
    payout_currency: str
    website: str | None
    audience: str
    recruit_code: str | None


def submit(
    session: Session, signup: Signup, fingerprint: referral_rules.Fingerprint
) -> PartnerApplication:
    """File an application, or return the pending one of the same address (a double
    submit). An unknown recruit code is refused (the applicant mistyped it); a sender
    filing too many is refused too."""
    code = signup.recruit_code.strip().upper() if signup.recruit_code else None
    if code and referrals.recruiter_of_code(session, code) is None:
        raise InvalidInput(f"no partner has the recruit code {code!r}", field="recruit_code")
    email = people.normalize_email(signup.email)
    pending = session.scalar(
        select(PartnerApplication).where(
            PartnerApplication.email == email,
            PartnerApplication.status == ApplicationStatus.pending.value,
        )
    )
    if pending is not None:
        return pending
    recent = session.scalar(
        select(func.count()).where(
            PartnerApplication.ip_hash == fingerprint.ip_hash,
            PartnerApplication.created_at >= utcnow() - timedelta(days=1),
        )
    )
    if (recent or 0) >= MAX_PENDING_PER_ADDRESS_A_DAY:
        raise Conflict("too many applications from this address today; try tomorrow")
    application = PartnerApplication(
        id=new_id(PREFIXES["partner_application"]),
        name=signup.name,
        email=email,
        type=signup.type.value,
        country=signup.country,
        payout_currency=signup.payout_currency,
        website=signup.website,
        audience=signup.audience,
        recruit_code=code,
        ip_hash=fingerprint.ip_hash,
        device_hash=fingerprint.device_hash,
        status=ApplicationStatus.pending.value,
        created_at=utcnow(),
    )
    session.add(application)
    session.flush()
    return application


def _pending(session: Session, application_id: str) -> PartnerApplication:
    application = session.scalar(
        select(PartnerApplication)
        .where(PartnerApplication.id == application_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if application is None:
        raise NotFound(f"no application {application_id!r}", field="application_id")
    if application.status != ApplicationStatus.pending:
        raise Conflict(f"the application is {application.status} already", field="status")
    return application


@dataclass(frozen=True, slots=True)
class Approved:
    partner_id: str
    invitation_link: str
    referral_status: str | None  # active, refused (a self-referral) or None: no code


def approve(session: Session, application_id: str, operator_user_id: str | None) -> Approved:
    """Create the partner, invite the applicant as its owner, and record the referral with
    the hashed (IP, device) pair the form came from, as of the day it was filed."""
    application = _pending(session, application_id)
    partner, _key = create_partner(
        session,
        name=application.name,
        type=application.type,
        country=application.country,
        payout_currency=application.payout_currency,
        website=application.website,
        email=application.email,
        audience=application.audience,
        categories=[],
    )
    referral_status = None
    if application.recruit_code:
        referral = referrals.record(
            session,
            partner.id,
            application.recruit_code,
            fingerprint=referral_rules.Fingerprint(application.ip_hash, application.device_hash),
            at=application.created_at,
        )
        referral_status = referral.status
    _invitation, token = people.invite(
        session, "partner", partner.id, application.email, Role.owner, operator_user_id
    )
    application.status = ApplicationStatus.approved.value
    application.partner_id = partner.id
    application.decided_by = operator_user_id
    application.decided_at = utcnow()
    return Approved(partner.id, people.invitation_link(token), referral_status)


def reject(
    session: Session, application_id: str, operator_user_id: str | None, reason: str
) -> PartnerApplication:
    text = reason.strip()
    if not text:
        raise InvalidInput("say why, for the applicant's record", field="reason")
    application = _pending(session, application_id)
    application.status = ApplicationStatus.rejected.value
    application.reason = text[:500]
    application.decided_by = operator_user_id
    application.decided_at = utcnow()
    return application


def pending(session: Session, limit: int = 50) -> list[PartnerApplication]:
    """Oldest first: the queue the operator works through."""
    return list(
        session.scalars(
            select(PartnerApplication)
            .where(PartnerApplication.status == ApplicationStatus.pending.value)
            .order_by(PartnerApplication.created_at, PartnerApplication.id)
            .limit(limit)
        )
    )
