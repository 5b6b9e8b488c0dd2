"""What each principal may see, as SQL conditions: one function per resource.

Every list and detail endpoint filters through these, so "every account sees only its own
data" (DESIGN.md section 3) is decided in one place:

- the operator sees everything;
- an advertiser sees its own account, its programs and everything that happens in them
  (enrollments, links, coupons, clicks, conversions, commissions) and the partners enrolled
  in them;
- a partner sees its own account, the marketplace (active programs, plus any program it has
  an enrollment in) and only its own enrollments, links, coupons, clicks and money.

A detail endpoint looks the id up *through* the condition, so a foreign id answers 404 exactly
like a missing one: whether an id exists elsewhere is itself information.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, false, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from alliance.accounts.models import Advertiser, Partner
from alliance.accounts.service import Principal
from alliance.api.fields import is_public_id
from alliance.commissions.models import Commission
from alliance.conversions.models import Conversion
from alliance.errors import NotFound
from alliance.programs.models import Coupon, Enrollment, Program
from alliance.tracking.models import Click, Link

M = TypeVar("M")


def programs_of(advertiser_id: str) -> Select[str]:
    return select(Program.id).where(Program.advertiser_id == advertiser_id)


def _program_data(
    who: Principal,
    program_id: InstrumentedAttribute[str],
    partner_id: InstrumentedAttribute[str],
) -> ColumnElement[bool]:
    """Rows that belong to one program and one partner (links, clicks, money...)."""
    if who.is_operator:
        return true()
    if who.is_advertiser:
        return program_id.in_(programs_of(who.id))
    if who.is_partner:
        return partner_id == who.id
    return false()


def visible_advertisers(who: Principal) -> ColumnElement[bool]:
    if who.is_operator:
        return true()
    if who.is_advertiser:
        return Advertiser.id == who.id
    return false()


def visible_partners(who: Principal) -> ColumnElement[bool]:
    if who.is_operator:
        return true()
    if who.is_partner:
        return Partner.id == who.id
    if who.is_advertiser:
        # Applicants included: the advertiser needs to see who asks before approving.
        enrolled = select(Enrollment.partner_id).where(
            Enrollment.program_id.in_(programs_of(who.id))
        )
        return Partner.id.in_(enrolled)
    return false()


def visible_programs(who: Principal) -> ColumnElement[bool]:
    if who.is_operator:
        return true()
    if who.is_advertiser:
        return Program.advertiser_id == who.id
    if who.is_partner:
        mine = select(Enrollment.program_id).where(Enrollment.partner_id == who.id)
        return (Program.status == "active") | Program.id.in_(mine)
    return false()


def visible_enrollments(who: Principal) -> ColumnElement[bool]:
    return _program_data(who, Enrollment.program_id, Enrollment.partner_id)


def visible_links(who: Principal) -> ColumnElement[bool]:
    return _program_data(who, Link.program_id, Link.partner_id)


def visible_coupons(who: Principal) -> ColumnElement[bool]:
    return _program_data(who, Coupon.program_id, Coupon.partner_id)


def visible_clicks(who: Principal) -> ColumnElement[bool]:
    return _program_data(who, Click.program_id, Click.partner_id)


def visible_conversions(who: Principal) -> ColumnElement[bool]:
    return _program_data(who, Conversion.program_id, Conversion.partner_id)


def visible_commissions(who: Principal) -> ColumnElement[bool]:
    condition = _program_data(who, Commission.program_id, Commission.partner_id)
    if who.is_advertiser:
        # A network-funded referral override is the network's cost, not the program's.
        funded = Commission.funded_by
        condition = condition & (funded.is_(None) | (funded != "network"))
    return condition


def get_visible(
    session: Session,
    model: type[M],
    object_id: str,
    condition: ColumnElement[bool],
    *,
    prefix: str,
    what: str,
    for_update: bool = False,
) -> M:
    """The row with this id if the caller may see it; otherwise 404, whatever the reason.

    `for_update` locks the row (PostgreSQL) for a read-modify-write such as a status
    transition, so two concurrent decisions cannot both pass the transition check. SQLite
    needs no lock: writing transactions there are serialised by BEGIN IMMEDIATE.
    """
    if not is_public_id(object_id, prefix):
        raise NotFound(f"no {what} {object_id[:40]!r}")
    id_column: Any = model.id  # type: ignore[attr-defined]
    statement = select(model).where(id_column == object_id, condition)
    if for_update:
        statement = statement.with_for_update(of=model)
    row = session.scalars(statement).first()
    if row is None:
        raise NotFound(f"no {what} {object_id!r}")
    return row
