"""Landing variants of a link: keep them (create, change, delete) and report on them.

Variants are the link's partner's to change, under the same rules as the link's own landing
pages: only pages the redirect would follow as deep links of the program (its landing host
and deep-link domains), or an active creative of the program (an *offer*). Changes reach the
redirect when the link cache next loads the link (`ALLIANCE_LINK_CACHE_TTL_S`, 30 s).

The report reads one link's raw clicks and their attributed orders: the clicks through the
(partner_id, occurred_at) index, filtered by link (docs/adr/0018-link-variants.md).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from alliance.api.fields import is_public_id
from alliance.clock import utcnow
from alliance.conversions.models import Conversion, ConversionKind, ConversionStatus
from alliance.crosspromo.variant_models import LinkVariant
from alliance.crosspromo.variants import (
    MAX_VARIANTS,
    Interval,
    difference_interval,
    wilson_interval,
)
from alliance.errors import InvalidInput, NotFound
from alliance.ids import PREFIXES, new_id
from alliance.programs import creatives
from alliance.programs.models import Creative, Program
from alliance.programs.service import approved_enrollment
from alliance.tracking.models import Click, Link, valid_click

ORDER_KINDS = (ConversionKind.sale.value, ConversionKind.lead.value)


@dataclass(frozen=True, slots=True)
class VariantTerms:
    """What a partner states about one variant; validated shapes (the API's schema)."""

    name: str = ""
    landing_url: str | None = None
    creative_id: str | None = None
    countries: Sequence[str] = ()
    devices: Sequence[str] = ()
    visitor: str | None = None
    weight: int = 1


# --- keeping variants --------------------------------------------------------------------


def live_variants(session: Session, link_id: str) -> list[LinkVariant]:
    """The link's variants that the redirect uses, in creation order (the first is the
    report's control)."""
    return list(
        session.scalars(
            select(LinkVariant)
            .where(LinkVariant.link_id == link_id, LinkVariant.deleted_at.is_(None))
            .order_by(LinkVariant.created_at, LinkVariant.id)
        )
    )


def get_variant(session: Session, link: Link, variant_id: str) -> LinkVariant:
    """A live variant of this link; 404 for anything else (another link's, deleted, made up)."""
    if not is_public_id(variant_id, PREFIXES["variant"]):  # junk never reaches the database
        raise NotFound(f"no variant {variant_id[:40]!r} on link {link.id}")
    row = session.scalars(
        select(LinkVariant).where(
            LinkVariant.id == variant_id,
            LinkVariant.link_id == link.id,
            LinkVariant.deleted_at.is_(None),
        )
    ).first()
    if row is None:
        raise NotFound(f"no variant {variant_id[:40]!r} on link {link.id}")
    return row


def _check_target(session: Session, program: Program, terms: VariantTerms) -> None:
    """Exactly one target, and one the redirect will follow for this program."""
    if (terms.landing_url is None) == (terms.creative_id is None):
        raise InvalidInput(
            "give either landing_url (a page on the program's site) or creative_id (an offer "
            "of the program), not both and not neither",
            field="landing_url" if terms.landing_url is None else "creative_id",
        )
    if terms.landing_url is not None:
        creatives.check_landing(creatives.redirect_view(program), terms.landing_url, "landing_url")
        return
    creative_id = terms.creative_id or ""
    creative = (
        session.get(Creative, creative_id)
        if is_public_id(creative_id, creatives.CREATIVE_PREFIX)
        else None
    )
    if creative is None or creative.program_id != program.id:
        raise InvalidInput(
            f"no creative {terms.creative_id!r} in this link's program", field="creative_id"
        )
    if not creative.active:
        raise InvalidInput(
            f"creative {creative.id} is inactive: the advertiser no longer offers it",
            field="creative_id",
        )


def _apply(row: LinkVariant, terms: VariantTerms) -> None:
    row.name = terms.name
    row.landing_url = terms.landing_url
    row.creative_id = terms.creative_id
    # Sorted and de-duplicated: the same conditions are stored (and shown) the same way.
    row.countries = sorted({c.upper() for c in terms.countries})
    row.devices = sorted(set(terms.devices))
    row.visitor = terms.visitor
    row.weight = terms.weight


def create_variant(
    session: Session, link: Link, program: Program, terms: VariantTerms
) -> LinkVariant:
    """A new variant on `link` (whose row the caller has locked: the count check below
    must not race another create)."""
    approved_enrollment(session, program.id, link.partner_id, field="link_id")
    count = session.scalar(
        select(func.count())
        .select_from(LinkVariant)
        .where(LinkVariant.link_id == link.id, LinkVariant.deleted_at.is_(None))
    )
    if (count or 0) >= MAX_VARIANTS:
        raise InvalidInput(
            f"link {link.id} already has {MAX_VARIANTS} variants, the most a link may have: "
            "delete one first",
            field="variants",
        )
    _check_target(session, program, terms)
    now = utcnow()
    row = LinkVariant(
        id=new_id(PREFIXES["variant"]),
        link_id=link.id,
        program_id=program.id,
        created_at=now,
        updated_at=now,
    )
    _apply(row, terms)
    session.add(row)
    session.flush()
    return row


def terms_of(row: LinkVariant) -> VariantTerms:
    return VariantTerms(
        name=row.name,
        landing_url=row.landing_url,
        creative_id=row.creative_id,
        countries=tuple(row.countries or ()),
        devices=tuple(row.devices or ()),
        visitor=row.visitor,
        weight=row.weight,
    )


def update_variant(
    session: Session, link: Link, program: Program, row: LinkVariant, changes: dict[str, Any]
) -> LinkVariant:
    """Change the given fields. A new landing_url replaces an offer and a new creative_id
    replaces a URL; giving both is refused like on create."""
    approved_enrollment(session, program.id, link.partner_id, field="link_id")
    given: dict[str, Any] = dict(changes)
    if "landing_url" in given and "creative_id" not in given:
        given["creative_id"] = None
    if "creative_id" in given and "landing_url" not in given:
        given["landing_url"] = None
    terms = dataclasses.replace(terms_of(row), **given)
    _check_target(session, program, terms)
    _apply(row, terms)
    row.updated_at = utcnow()
    session.flush()
    return row


def delete_variant(row: LinkVariant) -> None:
    """Stop choosing it. The row stays, so the clicks that landed on it keep their name."""
    row.deleted_at = utcnow()


def offer_names(session: Session, rows: Iterable[LinkVariant]) -> dict[str, str]:
    """creative id -> the advertiser's name for it, for the variants that are offers."""
    ids = {r.creative_id for r in rows if r.creative_id}
    if not ids:
        return {}
    return dict(
        session.execute(select(Creative.id, Creative.name).where(Creative.id.in_(ids))).all()
    )


# --- the report ----------------------------------------------------------------------------


@dataclass(slots=True)
class VariantFigures:
    """One variant's clicks and orders in the period (clicks in it; their orders whenever).

    `converting_clicks`: valid clicks with at least one attributed order that was not
    declined; the conversion rate is converting_clicks / valid_clicks, a binomial proportion,
    so its Wilson interval is well defined even when one click brings several orders.
    """

    variant_id: str | None  # None: clicks that landed on the link's normal landing
    name: str
    deleted: bool
    clicks: int = 0
    valid_clicks: int = 0
    orders: int = 0
    converting_clicks: int = 0
    sales: dict[str, Decimal] = field(default_factory=dict)  # currency -> Σ order amounts

    @property
    def conversion_rate(self) -> float | None:
        return self.converting_clicks / self.valid_clicks if self.valid_clicks else None

    @property
    def interval(self) -> Interval | None:
        if not self.valid_clicks:
            return None
        return wilson_interval(self.converting_clicks, self.valid_clicks)


@dataclass(frozen=True, slots=True)
class Comparison:
    """A variant against the control (the report's first variant)."""

    variant_id: str
    control_id: str
    difference: float | None  # rate - control rate; None when either has no valid click
    difference_interval: Interval | None  # Newcombe's 95% interval of the difference
    intervals_overlap: bool | None  # the two Wilson intervals overlap: no clear winner


@dataclass(frozen=True, slots=True)
class VariantReport:
    link_id: str
    start: datetime
    end_before: datetime
    variants: list[VariantFigures]  # live ones, and deleted ones with clicks in the period
    no_variant: VariantFigures  # the link's normal landing (no variant matched, deep links…)
    comparisons: list[Comparison]


def compare(row: VariantFigures, control: VariantFigures) -> Comparison:
    assert row.variant_id is not None and control.variant_id is not None
    if not row.valid_clicks or not control.valid_clicks:
        return Comparison(row.variant_id, control.variant_id, None, None, None)
    mine, theirs = row.interval, control.interval
    assert mine is not None and theirs is not None
    return Comparison(
        variant_id=row.variant_id,
        control_id=control.variant_id,
        difference=row.converting_clicks / row.valid_clicks
        - control.converting_clicks / control.valid_clicks,
        difference_interval=difference_interval(
            row.converting_clicks, row.valid_clicks, control.converting_clicks, control.valid_clicks
        ),
        intervals_overlap=mine.overlaps(theirs),
    )


def variant_report(
    session: Session, link: Link, start: datetime, end_before: datetime
) -> VariantReport:
    """Per variant of `link`: clicks, valid clicks, orders, conversion rate with its 95%
    Wilson interval, sales by currency, each compared with the first variant."""
    # (partner_id, occurred_at) index on clicks; link_id filters the partner's other links.
    in_link = (
        Click.partner_id == link.partner_id,
        Click.link_id == link.id,
        Click.occurred_at >= start,
        Click.occurred_at < end_before,
    )
    valid = valid_click(Click.is_bot, Click.invalid_reason)
    figures: dict[str | None, VariantFigures] = {}

    def of(variant_id: str | None) -> VariantFigures:
        if variant_id not in figures:
            figures[variant_id] = VariantFigures(variant_id, "", deleted=False)
        return figures[variant_id]

    counts = session.execute(
        select(Click.variant_id, func.count(), func.sum(case((valid, 1), else_=0)))
        .where(*in_link)
        .group_by(Click.variant_id)
    )
    for variant_id, clicks, valid_clicks in counts:
        row = of(variant_id)
        row.clicks, row.valid_clicks = int(clicks), int(valid_clicks or 0)
    # Orders of those clicks (conversions.click_id index), summed in Python: amounts are
    # exact text on SQLite and SQL's SUM would go through float.
    orders = session.execute(
        select(Click.variant_id, Click.id, Conversion.currency, Conversion.amount)
        .join(Conversion, Conversion.click_id == Click.id)
        .where(
            *in_link,
            valid,
            Conversion.kind.in_(ORDER_KINDS),
            Conversion.status != ConversionStatus.declined.value,
        )
    )
    converting: dict[str | None, set[str]] = defaultdict(set)
    for variant_id, click_id, currency, amount in orders:
        row = of(variant_id)
        row.orders += 1
        row.sales[currency] = row.sales.get(currency, Decimal(0)) + amount
        converting[variant_id].add(click_id)
    for variant_id, click_ids in converting.items():
        figures[variant_id].converting_clicks = len(click_ids)

    # Names: every live variant, and the deleted ones that had clicks in the period.
    shown_ids = {k for k in figures if k is not None}
    rows = list(
        session.scalars(
            select(LinkVariant)
            .where(LinkVariant.link_id == link.id)
            .order_by(LinkVariant.created_at, LinkVariant.id)
        )
    )
    offers = offer_names(session, rows)
    listed: list[VariantFigures] = []
    for variant in rows:
        if variant.deleted_at is not None and variant.id not in shown_ids:
            continue
        row = of(variant.id)
        row.name = variant.name or label_of(variant, offers)
        row.deleted = variant.deleted_at is not None
        listed.append(row)
    no_variant = figures.get(None) or VariantFigures(None, "", deleted=False)
    comparisons = [compare(row, listed[0]) for row in listed[1:]] if listed else []
    return VariantReport(link.id, start, end_before, listed, no_variant, comparisons)


def label_of(row: LinkVariant, offers: dict[str, str]) -> str:
    """How a variant without a name is shown: its offer's name or its landing URL."""
    if row.creative_id:
        return offers.get(row.creative_id, row.creative_id)
    return row.landing_url or row.id
