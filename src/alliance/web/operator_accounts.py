"""/operator/advertisers and /operator/partners: the network's accounts and who manages them.

Creating an account goes through what POST /api/v1/advertisers and /partners use (the same
Pydantic schemas, so the same checks and the same refusals naming the field); its API key is
shown once, in the answer to the form, and never stored readable. The first user of an
account is invited with a one-time link, as on the team page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from alliance.accounts import api as accounts_api
from alliance.accounts import people
from alliance.accounts.models import (
    AccountKind,
    Advertiser,
    Partner,
    PartnerType,
    ServiceLevel,
)
from alliance.accounts.schemas import AdvertiserCreate, PartnerCreate
from alliance.accounts.service import create_partner, manage_advertiser, manage_partner
from alliance.accounts.users import Role
from alliance.clock import utcnow
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError, InvalidInput, NotFound
from alliance.programs.models import Enrollment, EnrollmentStatus, Program
from alliance.reports import queries
from alliance.reports.schemas import DEFAULT_PERIOD_DAYS, OrdersGroup
from alliance.web import sessions
from alliance.web.i18n import N_, _, options
from alliance.web.operator_common import PAGE_SIZE, operators, page_url
from alliance.web.sessions import OperatorAction, OperatorPage, Viewer
from alliance.web.templating import render

router = APIRouter()

SERVICE_LEVELS = [
    (ServiceLevel.self_service.value, N_("Self-service")),
    (ServiceLevel.managed.value, N_("Managed")),
]
PARTNER_TYPES = [(t.value, t.value.capitalize()) for t in PartnerType]
NO_MANAGER = "none"  # the manager filter's value for "no account manager"


@dataclass(frozen=True, slots=True)
class Listing:
    """What the list pages are filtered by; echoed in the forms and the pager's links."""

    q: str = ""
    manager: str = ""
    type: str = ""
    page: int = 1

    def params(self, **override: Any) -> dict[str, str | int | None]:
        values: dict[str, str | int | None] = {
            "q": self.q,
            "manager": self.manager,
            "partner_type": self.type,
            "page": self.page if self.page > 1 else None,
        }
        values.update(override)
        return values


@dataclass(slots=True)
class Row:
    account: Advertiser | Partner
    manager_name: str | None = None
    programs: int = 0
    money: list[tuple[str, Decimal]] = field(default_factory=list)


def _error_of(exc: ValidationError) -> InvalidInput:
    errors = exc.errors()
    if not errors:
        return InvalidInput("invalid input")
    name = ".".join(str(p) for p in errors[0]["loc"])
    message = str(errors[0]["msg"]).removeprefix("Value error, ")
    return InvalidInput(f"{name}: {message}" if name else message, field=name or None)


def _blank(value: str) -> str | None:
    value = value.strip()
    return value or None


def _last_days(viewer: Viewer, program_ids: tuple[str, ...] | None) -> queries.ReportQuery:
    """The report query of the last 30 UTC days (today included) over these programs."""
    today = utcnow().date()
    scope = queries.Scope(program_ids, None, AccountKind.operator, viewer.account_id)
    return queries.ReportQuery(today - timedelta(days=DEFAULT_PERIOD_DAYS - 1), today, scope)


def _money(pairs: dict[str, Decimal]) -> list[tuple[str, Decimal]]:
    return sorted(pairs.items())


def _manager_filter(column: Any, manager: str) -> list[ColumnElement[bool]]:
    if manager == NO_MANAGER:
        return [column.is_(None)]
    if manager:
        return [column == manager]
    return []


def _search(id_column: Any, name_column: Any, q: str) -> list[ColumnElement[bool]]:
    if not q:
        return []
    return [or_(name_column.icontains(q, autoescape=True), id_column == q)]


def _page(
    session: Session,
    listing: Listing,
    model: type[Advertiser] | type[Partner],
    conditions: list[ColumnElement[bool]],
) -> tuple[list[Row], bool]:
    """One page of accounts by name matching the search, and whether another page follows."""
    statement = (
        select(model)
        .where(*_search(model.id, model.name, listing.q), *conditions)
        .order_by(model.name, model.id)
        .offset((listing.page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    )
    found: list[Advertiser | Partner] = list(session.scalars(statement))
    return [Row(account) for account in found[:PAGE_SIZE]], len(found) > PAGE_SIZE


# --- advertisers -----------------------------------------------------------------------------


def _advertiser_rows(session: Session, viewer: Viewer, listing: Listing) -> tuple[list[Row], bool]:
    rows, more = _page(
        session,
        listing,
        Advertiser,
        _manager_filter(Advertiser.account_manager_id, listing.manager),
    )
    ids = [r.account.id for r in rows]
    if not ids:
        return rows, more
    program_of: dict[str, str] = dict(
        session.execute(
            select(Program.id, Program.advertiser_id).where(Program.advertiser_id.in_(ids))
        )
        .tuples()
        .all()
    )
    counts: dict[str, int] = defaultdict(int)
    for advertiser_id in program_of.values():
        counts[advertiser_id] += 1
    sales: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    if program_of:
        report = queries.orders_report(
            session, _last_days(viewer, tuple(sorted(program_of))), OrdersGroup.program
        )
        for line in report.rows:
            if line.group in program_of:
                sales[program_of[line.group]][line.currency] += line.sales
    names = dict(operators(session))
    for r in rows:
        adv = r.account
        assert isinstance(adv, Advertiser)
        r.manager_name = names.get(adv.account_manager_id or "")
        r.programs = counts[adv.id]
        r.money = _money(sales[adv.id])
    return rows, more


def _accounts_page(
    request: Request,
    viewer: Viewer,
    kind: AccountKind,
    listing: Listing,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    """The advertisers or the partners list, with whatever the last action left to show."""
    path = f"/operator/{kind.value}s"
    with reading() as session:
        if kind is AccountKind.advertiser:
            rows, more = _advertiser_rows(session, viewer, listing)
            choices = {"service_levels": options(SERVICE_LEVELS)}
        else:
            rows, more = _partner_rows(session, viewer, listing)
            choices = {"partner_types": PARTNER_TYPES}
        staff = operators(session)
    context = {
        "rows": rows,
        "listing": listing,
        "operators": staff,
        "manager_options": [(NO_MANAGER, _("No account manager")), *staff],
        **choices,
        "prev_url": page_url(path, listing.params(page=listing.page - 1))
        if listing.page > 1
        else None,
        "next_url": page_url(path, listing.params(page=listing.page + 1)) if more else None,
        "here": page_url(path, listing.params()),
        "form": {},
        **extra,
    }
    return render(request, f"operator/{kind.value}s.html", context, status=status)


PageNumber = Annotated[int, Query(ge=1, le=10_000)]
Search = Annotated[str, Query(max_length=200)]


@router.get("/operator/advertisers", response_class=HTMLResponse)
def advertisers(
    request: Request,
    viewer: OperatorPage,
    q: Search = "",
    manager: Annotated[str, Query(max_length=32)] = "",
    page: PageNumber = 1,
) -> Response:
    return _accounts_page(
        request, viewer, AccountKind.advertiser, Listing(q.strip(), manager, "", page)
    )


@router.post("/operator/advertisers")
def create_advertiser(
    request: Request,
    viewer: OperatorAction,
    name: Annotated[str, Form(max_length=400)] = "",
    country: Annotated[str, Form(max_length=10)] = "",
    currency: Annotated[str, Form(max_length=10)] = "",
    service_level: Annotated[str, Form(max_length=20)] = ServiceLevel.self_service.value,
    account_manager_id: Annotated[str, Form(max_length=40)] = "",
    website: Annotated[str, Form(max_length=2100)] = "",
) -> Response:
    form = {
        "name": name,
        "country": country,
        "currency": currency,
        "service_level": service_level,
        "account_manager_id": account_manager_id,
        "website": website,
    }

    def create() -> tuple[str, str, str]:
        try:
            body = AdvertiserCreate(
                name=name.strip(),
                country=country,
                currency=currency,
                service_level=service_level,
                account_manager_id=_blank(account_manager_id),
                website=_blank(website),
            )
        except ValidationError as exc:
            raise _error_of(exc) from None
        # Exactly what POST /api/v1/advertisers does, with the operator as the caller.
        created = accounts_api.post_advertiser(body, viewer.principal)
        return created.id, created.name, created.api_key

    return _created_page(request, viewer, AccountKind.advertiser, form, create)


def _created_page(
    request: Request,
    viewer: Viewer,
    kind: AccountKind,
    form: dict[str, str],
    create: Callable[[], tuple[str, str, str]],
) -> Response:
    """Run `create` (id, name, API key of the new account) and show the list: the new
    account with its key shown once (201), or the form again with the refusal."""
    try:
        account_id, account_name, api_key = create()
    except AllianceError as exc:
        return _accounts_page(
            request,
            viewer,
            kind,
            Listing(),
            status=exc.status,
            error=exc.detail,
            error_field=exc.field,
            create_field=exc.field,
            form=form,
        )
    return _accounts_page(
        request,
        viewer,
        kind,
        Listing(q=account_id),
        status=201,
        created={"kind": kind.value, "id": account_id, "name": account_name},
        api_key=api_key,
    )


def _redirect(back: str, default: str, message: str, kind: str = "ok") -> Response:
    response = RedirectResponse(sessions.local_path(back, default), status_code=303)
    sessions.flash(response, message, kind)
    return response


@router.post("/operator/advertisers/{advertiser_id}/manage")
def manage(
    viewer: OperatorAction,
    advertiser_id: str,
    service_level: Annotated[ServiceLevel, Form()],
    account_manager_id: Annotated[str, Form(max_length=40)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    with transaction() as session:
        advertiser = session.get(Advertiser, advertiser_id, with_for_update=True)
        if advertiser is None:
            raise NotFound("no such advertiser", field="advertiser")
        manage_advertiser(
            session,
            advertiser,
            service_level=service_level,
            account_manager_id=_blank(account_manager_id),
            acting_operator_id=viewer.account_id,
        )
        name = advertiser.name
    return _redirect(
        back, "/operator/advertisers", _("Saved the management of %(name)s.", name=name)
    )


def _invite(
    request: Request, viewer: Viewer, kind: AccountKind, account_id: str, email: str
) -> Response:
    """Invite the account's first (or next) owner: the link is mailed (in the language of the
    account's country, people.invite) and shown here once too."""
    try:
        with transaction() as session:
            account: Advertiser | Partner | None = (
                session.get(Advertiser, account_id)
                if kind is AccountKind.advertiser
                else session.get(Partner, account_id)
            )
            if account is None:
                raise NotFound(f"no such {kind.value}", field=kind.value)
            _invitation, token = people.invite(
                session, kind.value, account_id, email, Role.owner, viewer.user_id
            )
            name = account.name
    except AllianceError as exc:
        if exc.status == 404:
            raise
        return _accounts_page(
            request,
            viewer,
            kind,
            Listing(q=account_id),
            status=exc.status,
            error=_("Inviting %(email)s: %(error)s", email=email, error=exc.detail),
            error_field=exc.field,
        )
    link = people.invitation_link(token)
    return _accounts_page(
        request,
        viewer,
        kind,
        Listing(q=account_id),
        invite={"email": email, "account": name, "link": link},
    )


@router.post("/operator/advertisers/{advertiser_id}/invite")
def invite_advertiser_user(
    request: Request,
    viewer: OperatorAction,
    advertiser_id: str,
    email: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    return _invite(request, viewer, AccountKind.advertiser, advertiser_id, email)


# --- partners --------------------------------------------------------------------------------


def _partner_rows(session: Session, viewer: Viewer, listing: Listing) -> tuple[list[Row], bool]:
    rows, more = _page(
        session,
        listing,
        Partner,
        [
            *_manager_filter(Partner.account_manager_id, listing.manager),
            *([Partner.type == listing.type] if listing.type else []),
        ],
    )
    ids = [r.account.id for r in rows]
    if not ids:
        return rows, more
    joined: dict[str, int] = {
        r[0]: int(r[1])
        for r in session.execute(
            select(Enrollment.partner_id, func.count())
            .where(
                Enrollment.partner_id.in_(ids),
                Enrollment.status == EnrollmentStatus.approved.value,
            )
            .group_by(Enrollment.partner_id)
        )
    }
    # The report scope narrows to one partner at most: one network-wide query grouped by
    # partner answers the whole page at once.
    report = queries.orders_report(session, _last_days(viewer, None), OrdersGroup.partner)
    wanted = set(ids)
    commission: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for line in report.rows:
        if line.group in wanted and (line.commission.value or line.orders):
            commission[line.group][line.currency] += line.commission.value
    names = dict(operators(session))
    for r in rows:
        partner = r.account
        assert isinstance(partner, Partner)
        r.manager_name = names.get(partner.account_manager_id or "")
        r.programs = joined.get(partner.id, 0)
        r.money = _money(commission[partner.id])
    return rows, more


@router.get("/operator/partners", response_class=HTMLResponse)
def partners(
    request: Request,
    viewer: OperatorPage,
    q: Search = "",
    manager: Annotated[str, Query(max_length=32)] = "",
    partner_type: Annotated[str, Query(max_length=16)] = "",
    page: PageNumber = 1,
) -> Response:
    return _accounts_page(
        request, viewer, AccountKind.partner, Listing(q.strip(), manager, partner_type, page)
    )


@router.post("/operator/partners")
def create_partner_account(
    request: Request,
    viewer: OperatorAction,
    name: Annotated[str, Form(max_length=400)] = "",
    type: Annotated[str, Form(max_length=20)] = "",
    country: Annotated[str, Form(max_length=10)] = "",
    payout_currency: Annotated[str, Form(max_length=10)] = "",
    website: Annotated[str, Form(max_length=2100)] = "",
    email: Annotated[str, Form(max_length=400)] = "",
    categories: Annotated[str, Form(max_length=2000)] = "",
    audience: Annotated[str, Form(max_length=2100)] = "",
    account_manager_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    form = {
        "name": name,
        "type": type,
        "country": country,
        "payout_currency": payout_currency,
        "website": website,
        "email": email,
        "categories": categories,
        "audience": audience,
        "account_manager_id": account_manager_id,
    }

    def create() -> tuple[str, str, str]:
        try:
            body = PartnerCreate(
                name=name.strip(),
                type=type,
                country=country,
                payout_currency=payout_currency,
                categories=[c.strip() for c in categories.split(",") if c.strip()],
                audience=audience,
                website=_blank(website),
                email=_blank(email),
            )
        except ValidationError as exc:
            raise _error_of(exc) from None
        with transaction() as session:
            # What POST /api/v1/partners does, plus the account manager in the same commit.
            partner, key = create_partner(session, **body.account_fields())
            manage_partner(session, partner, account_manager_id=_blank(account_manager_id))
            return partner.id, partner.name, key

    return _created_page(request, viewer, AccountKind.partner, form, create)


@router.post("/operator/partners/{partner_id}/manage")
def manage_partner_account(
    viewer: OperatorAction,
    partner_id: str,
    account_manager_id: Annotated[str, Form(max_length=40)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    with transaction() as session:
        partner = session.get(Partner, partner_id, with_for_update=True)
        if partner is None:
            raise NotFound("no such partner", field="partner")
        manage_partner(session, partner, account_manager_id=_blank(account_manager_id))
        name = partner.name
    return _redirect(
        back, "/operator/partners", _("Saved the account manager of %(name)s.", name=name)
    )


@router.post("/operator/partners/{partner_id}/invite")
def invite_partner_user(
    request: Request,
    viewer: OperatorAction,
    partner_id: str,
    email: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    return _invite(request, viewer, AccountKind.partner, partner_id, email)
