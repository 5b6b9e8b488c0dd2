"""The advertiser's bundles page: the bundles it sells or takes part in, each party's share
and net figures, its answers to invitations, and proposing a new bundle.

Every decision goes through crosspromo/bundles.py with the viewer's `Principal`, the calls
the REST API makes, so who may see, answer or deactivate what is the API's own rule.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.api.pagination import fetch_page
from alliance.clock import utcnow
from alliance.crosspromo import bundles as service
from alliance.crosspromo.bundle_models import Bundle, BundleParty, BundleStatus
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError, InvalidInput
from alliance.programs.models import Program
from alliance.web.advertiser_common import (
    form_error,
    optional,
    own_programs,
    page_params,
    query_url,
    redirect,
    split_list,
    text,
)
from alliance.web.i18n import _
from alliance.web.sessions import AdvertiserAction, AdvertiserPage, Viewer
from alliance.web.templating import render
from alliance.web.terms import status_label

router = APIRouter()

BUNDLES_PAGE = 20
PAGE = "/advertiser/bundles"
SHARE = Decimal("0.0001")


@dataclass(slots=True)
class PartyView:
    party: BundleParty
    program_name: str
    share: Decimal  # weight / Σ weights
    mine: bool  # the viewer's program: it answers for it and sees its figures
    net: list[tuple[str, Decimal, str, Decimal]] = field(default_factory=list)
    # (currency, net revenue, commission currency, net commission) per currency pair


@dataclass(slots=True)
class BundleView:
    bundle: Bundle
    seller_program: str
    selling: bool  # the viewer sells it: may deactivate it and sees every party's figures
    parties: list[PartyView]

    @property
    def open(self) -> bool:
        return self.bundle.status in (BundleStatus.proposed, BundleStatus.active)


def _views(session: Session, viewer: Viewer, rows: list[Bundle]) -> list[BundleView]:
    parties = service.parties_of(session, [b.id for b in rows])
    program_ids = {b.program_id for b in rows} | {
        p.program_id for members in parties.values() for p in members
    }
    names = dict(
        session.execute(select(Program.id, Program.name).where(Program.id.in_(program_ids))).all()
    )
    views = []
    for bundle in rows:
        members = parties.get(bundle.id, [])
        total = sum((p.weight for p in members), Decimal(0))
        figures: dict[str, list[tuple[str, Decimal, str, Decimal]]] = defaultdict(list)
        condition = service.visible_allocations(viewer.principal, bundle)
        for t in service.totals(session, bundle, condition):
            figures[t.party_id].append(
                (t.currency, t.net_revenue, t.commission_currency, t.net_commission)
            )
        views.append(
            BundleView(
                bundle=bundle,
                seller_program=names.get(bundle.program_id, bundle.program_id),
                selling=bundle.advertiser_id == viewer.account_id,
                parties=[
                    PartyView(
                        party=p,
                        program_name=names.get(p.program_id, p.program_id),
                        share=(p.weight / total).quantize(SHARE) if total else Decimal(0),
                        mine=p.advertiser_id == viewer.account_id,
                        net=figures.get(p.id, []),
                    )
                    for p in members
                ],
            )
        )
    return views


def _page(
    request: Request,
    viewer: Viewer,
    cursor: str | None,
    values: dict[str, str] | None = None,
    status: int = 200,
    **error: Any,
) -> Response:
    params = page_params(cursor, BUNDLES_PAGE)
    with reading() as session:
        statement = select(Bundle).where(service.visible_bundles(viewer.principal))
        rows, next_cursor = fetch_page(session, statement, Bundle.id, params)
        views = _views(session, viewer, list(rows))
        programs = own_programs(session, viewer)
    context = {
        "bundles": views,
        "programs": programs,
        "program_options": [(p.id, p.name) for p in programs],
        "values": values or {"program_id": programs[0].id if programs else ""},
        "next_url": query_url(PAGE, cursor=next_cursor) if next_cursor else None,
        "first_url": PAGE if cursor else None,
        **error,
    }
    return render(request, "advertiser/bundles.html", context, status=status)


@router.get(PAGE, response_class=HTMLResponse)
def bundles_page(
    request: Request,
    viewer: AdvertiserPage,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    return _page(request, viewer, cursor)


def parse_parties(raw: str) -> tuple[service.PartyTerms, ...]:
    """The form's parties: one program per line, its id then its weight (`prg_… 3`)."""
    parties = []
    for number, line in enumerate(line for line in raw.splitlines() if line.strip()):
        words = split_list(line)
        if len(words) != 2:
            raise InvalidInput(
                _("line %(line)s: a program id and a weight, e.g. prg_… 3", line=number + 1),
                field="parties",
            )
        weight = service.parse_weight(words[1], "parties")
        parties.append(service.PartyTerms(words[0], weight))
    if not parties:
        raise InvalidInput(_("name at least one program, with its weight"), field="parties")
    return tuple(parties)


@router.post(PAGE)
async def propose(request: Request, viewer: AdvertiserAction) -> Response:
    form = await request.form()
    values = {name: text(form, name) for name in ("program_id", "name", "sku", "price", "currency")}
    values["parties"] = text(form, "parties")
    try:
        terms = service.BundleTerms(
            program_id=values["program_id"],
            name=values["name"],
            sku=values["sku"],
            price=values["price"].strip(),
            currency=optional(form, "currency"),
            parties=parse_parties(values["parties"]),
        )
        with transaction() as session:
            bundle = service.create_bundle(session, viewer.principal, terms, utcnow())
            state = bundle.status
    except AllianceError as exc:
        return _page(request, viewer, None, values, status=exc.status, **form_error(exc))
    return redirect(PAGE, _("Bundle proposed; it is %(status)s.", status=status_label(state)))


@router.post(PAGE + "/{bundle_id}/parties/{party_id}/{answer}")
def answer(
    request: Request, viewer: AdvertiserAction, bundle_id: str, party_id: str, answer: str
) -> Response:
    if answer not in ("accept", "decline"):
        raise InvalidInput(f"unknown answer {answer[:20]!r}", field="answer")
    with transaction() as session:
        bundle = service.get_bundle(session, viewer.principal, bundle_id, lock=True)
        service.decide_party(
            session, viewer.principal, bundle, party_id, answer == "accept", utcnow()
        )
        state = bundle.status
    return redirect(PAGE, _("The bundle is %(status)s.", status=status_label(state)))


@router.post(PAGE + "/{bundle_id}/deactivate")
def deactivate(request: Request, viewer: AdvertiserAction, bundle_id: str) -> Response:
    with transaction() as session:
        bundle = service.get_bundle(session, viewer.principal, bundle_id, lock=True)
        service.deactivate(session, viewer.principal, bundle, utcnow())
    return redirect(PAGE, _("The bundle is %(status)s.", status=status_label("inactive")))
