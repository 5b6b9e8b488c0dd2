"""Creatives: the banners, text links and product teasers an advertiser publishes for a program.

Advertisers (and the operator) create, change and deactivate them; a partner approved in the
program gets each active one with its own tracking URL and a ready-to-paste HTML snippet.

Where a creative may send people is decided by the redirect itself: a landing URL is accepted
only if `/c/{code}?url=<landing>` would follow it (tracking/redirect.py `safe_deep_link`, whose
host rule is `is_allowed_host`). Checking with the redirect's own code, not a copy of it,
guarantees that a tracking URL handed to a partner lands exactly where the advertiser meant;
the product feed (programs/feeds.py) checks product URLs the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy import ColumnElement, Select, false, select, true
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.api.scoping import programs_of
from alliance.clock import utcnow
from alliance.db.engine import transaction
from alliance.errors import InvalidInput
from alliance.ids import new_id
from alliance.programs.models import (
    Creative,
    CreativeKind,
    Enrollment,
    EnrollmentStatus,
    Program,
)
from alliance.tracking.link_cache import CachedLink, build_entry
from alliance.tracking.models import Link
from alliance.tracking.redirect import DEEP_LINK_MAX, is_allowed_host, safe_deep_link
from alliance.tracking.service import create_link, link_url

CREATIVE_PREFIX = "crv"
MAX_IMAGE_SIDE = 4000  # pixels; a banner wider or taller than this is a mistake, not an ad
# The label of the link made for a partner who asks for creatives before having one.
AUTO_LINK_LABEL = "Creatives and product feed"

# Which optional fields each kind uses; the others must stay empty, so a text link cannot
# carry a forgotten image URL that nobody ever sees.
_KIND_FIELDS: dict[CreativeKind, frozenset[str]] = {
    CreativeKind.banner: frozenset({"image_url", "width", "height", "alt_text"}),
    CreativeKind.text_link: frozenset({"anchor_text"}),
    CreativeKind.product: frozenset({"title", "description", "image_url"}),
}
_REQUIRED: dict[CreativeKind, tuple[str, ...]] = {
    CreativeKind.banner: ("image_url", "width", "height"),
    CreativeKind.text_link: ("anchor_text",),
    CreativeKind.product: ("title",),
}
_OPTIONAL_FIELDS = (
    "image_url",
    "width",
    "height",
    "alt_text",
    "anchor_text",
    "title",
    "description",
)
_NOT_NULL = frozenset({"name", "landing_url", "active"})
_EMPTY_WHEN_NULL = frozenset({"alt_text", "description"})  # text columns: null clears them


# --- where a program's links may land ---------------------------------------------------------


def redirect_view(program: Program) -> CachedLink:
    """The program as the redirect sees it when it judges a `url=` deep link.

    Built by the link cache's own `build_entry` from a link that lands on the program's
    default, so the hosts (landing host, normalised deep-link domains) are exactly the ones
    `/c/{code}` will compare against. The link is transient: it is never added to a session.
    """
    template = Link(
        id="",
        code="",
        program_id=program.id,
        partner_id="",
        landing_url=None,
        country_urls={},
        default_subs={},
        label="",
    )
    return build_entry(template, program)


def landing_problem(view: CachedLink, url: str) -> str | None:
    """Why the redirect would not follow `url` as a deep link of this program; None if it would."""
    if safe_deep_link(url, view) is not None:
        return None
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    if host and not is_allowed_host(host, view):
        allowed = ", ".join(sorted({view.landing_host, *view.deeplink_domains}))
        return (
            f"host {host!r} is not the program's landing host or one of its deep-link "
            f"domains ({allowed})"
        )
    return (
        f"must be an http(s) URL of at most {DEEP_LINK_MAX} characters, without spaces, "
        "user info or backslashes"
    )


def check_landing(view: CachedLink, url: str, field: str) -> None:
    problem = landing_problem(view, url)
    if problem is not None:
        raise InvalidInput(f"{field}: {problem}", field=field)


# --- the partner's tracking URL ---------------------------------------------------------------


def tracking_url(link: Link, program: Program, landing: str, view: CachedLink) -> str:
    """The partner's `/c/{code}` URL that lands on `landing`.

    Bare when the link lands there by itself; otherwise with `url=<landing>`, a deep link the
    redirect follows because `landing` passed the same check when it was stored. Should the
    program's hosts have changed since, the deep link is left out rather than handed out:
    the redirect would ignore it anyway and send the visitor to the link's default landing.
    """
    base = link_url(link.code)
    default = link.landing_url or program.landing_url
    if landing == default and not link.country_urls:
        return base
    if landing_problem(view, landing) is not None:
        return base
    return f"{base}?url={quote(landing, safe='')}"


def approved_program_ids(partner_id: str) -> Select[str]:
    return select(Enrollment.program_id).where(
        Enrollment.partner_id == partner_id,
        Enrollment.status == EnrollmentStatus.approved.value,
    )


def programs_with_material(who: Principal) -> ColumnElement[bool]:
    """Programs whose creatives and products the caller may read.

    Narrower than `visible_programs` for partners: the marketplace shows every active program,
    but its material is for the partners approved in it. Anyone else asking gets a 404.
    """
    if who.is_operator:
        return true()
    if who.is_advertiser:
        return Program.advertiser_id == who.id
    if who.is_partner:
        return Program.id.in_(approved_program_ids(who.id))
    return false()


def _pick(links: Sequence[Link]) -> Link:
    """The link creatives go through: the oldest plain one (program landing, no per-country
    pages), whose bare URL lands on the program landing; else the oldest."""
    plain = [link for link in links if link.landing_url is None and not link.country_urls]
    return min(plain or links, key=lambda link: link.id)


def _links_by_program(
    session: Session, partner_id: str, program_ids: Iterable[str]
) -> dict[str, Link]:
    ids = sorted(set(program_ids))
    if not ids:
        return {}
    rows = session.scalars(
        select(Link).where(Link.partner_id == partner_id, Link.program_id.in_(ids))
    ).all()
    grouped: dict[str, list[Link]] = {}
    for row in rows:
        grouped.setdefault(row.program_id, []).append(row)
    return {program_id: _pick(links) for program_id, links in grouped.items()}


def ensure_links(session: Session, partner_id: str, programs: Sequence[Program]) -> dict[str, Link]:
    """The partner's link in each program, creating one where it has none (writing session).

    The partner's enrollments are locked first (PostgreSQL; SQLite serialises writers), so two
    concurrent first requests of the same partner create one link, not two.
    """
    ids = sorted({program.id for program in programs})
    session.scalars(
        select(Enrollment.id)
        .where(Enrollment.partner_id == partner_id, Enrollment.program_id.in_(ids))
        .order_by(Enrollment.id)
        .with_for_update()
    ).all()
    found = _links_by_program(session, partner_id, ids)
    for program in sorted(programs, key=lambda p: p.id):
        if program.id not in found:
            found[program.id] = create_link(
                session,
                program,
                partner_id,
                landing_url=None,
                label=AUTO_LINK_LABEL,
                default_subs={},
                country_urls={},
            )
    return found


def partner_links(db: Session, partner_id: str, programs: Sequence[Program]) -> dict[str, Link]:
    """The partner's link in each program; a missing one is created.

    Reads through `db`. Only when a link is missing does it open its own short writing
    transaction, so the common case (the partner has links) never takes a write lock.
    """
    found = _links_by_program(db, partner_id, (program.id for program in programs))
    missing = [program for program in programs if program.id not in found]
    if missing:
        with transaction() as session:
            found.update(ensure_links(session, partner_id, missing))
    return found


# --- creatives --------------------------------------------------------------------------------


def visible_creatives(who: Principal) -> ColumnElement[bool]:
    """Operator: all; advertiser: its programs' creatives; partner: the active creatives of
    programs it is approved in."""
    if who.is_operator:
        return true()
    if who.is_advertiser:
        return Creative.program_id.in_(programs_of(who.id))
    if who.is_partner:
        return Creative.active.is_(True) & Creative.program_id.in_(approved_program_ids(who.id))
    return false()


def _check_shape(creative: Creative) -> None:
    """Every field the kind needs is there, and none it does not use."""
    kind = CreativeKind(creative.kind)
    for name in _REQUIRED[kind]:
        if getattr(creative, name) in (None, ""):
            raise InvalidInput(f"{name} is required for a {kind.value} creative", field=name)
    for name in _OPTIONAL_FIELDS:
        if name not in _KIND_FIELDS[kind] and getattr(creative, name) not in (None, ""):
            uses = ", ".join(sorted(_KIND_FIELDS[kind]))
            raise InvalidInput(
                f"{name} is not used by a {kind.value} creative (it takes {uses})", field=name
            )
    for name in ("width", "height"):
        value = getattr(creative, name)
        if value is not None and not 1 <= value <= MAX_IMAGE_SIDE:
            raise InvalidInput(f"{name} must be 1 to {MAX_IMAGE_SIDE} pixels", field=name)
    image = creative.image_url
    if image is not None and urlsplit(image).scheme != "https":
        # Partner sites are https: an http image is blocked or flagged as mixed content.
        raise InvalidInput("image_url must be an https URL", field="image_url")


def create_creative(
    session: Session, program: Program, kind: CreativeKind, fields: Mapping[str, Any]
) -> Creative:
    """A new creative; `landing_url` defaults to the program's landing page."""
    landing = fields.get("landing_url") or program.landing_url
    check_landing(redirect_view(program), landing, "landing_url")
    now = utcnow()
    creative = Creative(
        id=new_id(CREATIVE_PREFIX),
        program_id=program.id,
        kind=kind.value,
        name=fields["name"],
        landing_url=landing,
        image_url=fields.get("image_url"),
        width=fields.get("width"),
        height=fields.get("height"),
        alt_text=fields.get("alt_text") or "",
        anchor_text=fields.get("anchor_text"),
        title=fields.get("title"),
        description=fields.get("description") or "",
        active=fields.get("active", True),
        created_at=now,
        updated_at=now,
    )
    _check_shape(creative)
    session.add(creative)
    session.flush()
    return creative


def update_creative(
    session: Session, program: Program, creative: Creative, changes: Mapping[str, Any]
) -> Creative:
    """Apply the fields sent (the kind is fixed). `null` clears an optional field the kind
    does not require; required ones refuse it. The result is checked as a whole."""
    for name in sorted(changes):
        value = changes[name]
        if value is None and name in _NOT_NULL:
            raise InvalidInput(f"{name} cannot be null", field=name)
        if value is None and name in _EMPTY_WHEN_NULL:
            value = ""
        setattr(creative, name, value)
    if "landing_url" in changes:
        check_landing(redirect_view(program), creative.landing_url, "landing_url")
    _check_shape(creative)
    creative.updated_at = utcnow()
    session.flush()
    return creative


def creative_html(creative: Creative, href: str) -> str:
    """The snippet a partner pastes into a page. Every value is HTML-escaped (quotes too), so
    an advertiser's alt text or title can never break out of its attribute.

    Links carry rel="sponsored": search engines ask for it on paid links.
    """
    a = f'<a href="{escape(href)}" rel="sponsored">'
    kind = CreativeKind(creative.kind)
    if kind is CreativeKind.banner:
        alt = creative.alt_text or creative.name
        return (
            f'{a}<img src="{escape(creative.image_url or "")}" width="{creative.width}" '
            f'height="{creative.height}" alt="{escape(alt)}"></a>'
        )
    if kind is CreativeKind.text_link:
        return f"{a}{escape(creative.anchor_text or '')}</a>"
    title = escape(creative.title or "")
    parts = ['<div class="alliance-product">']
    if creative.image_url:
        parts.append(f'{a}<img src="{escape(creative.image_url)}" alt="{title}"></a>')
    parts.append(f"{a}{title}</a>")
    if creative.description:
        parts.append(f"<p>{escape(creative.description)}</p>")
    parts.append("</div>")
    return "".join(parts)
