"""The audience pages against a real server: the partner's Audience page and the shared-audience
view of the advertiser's Partners page. Numbers from real sketches of real clicks; the
suppression of small counts; no visitor id on any page; nobody reaches what is not theirs.

The world (audiences small enough to be counted exactly, so every number is known):

| partner    | where                           | visitors | shared with Ours |
|------------|---------------------------------|----------|------------------|
| Ours       | approved in the shop            | 300      |                  |
| Twin       | approved in the shop            | 400      | 200              |
| Little     | approved in the shop            | 30       | 10 (< 50)        |
| Applicant  | applied to the shop (not in)    | 120      | 120              |
| Elsewhere  | approved in another shop only   | 150      | 150              |
| Newbie     | approved in the shop, no sketch | none     |                  |
| Dup (x 2)  | approved in another shop        | 60 each  | 0                |

Visitor ids carry a prefix unique to this module, so the partners of other tests (same
database) share no visitor with these and never enter their lists.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from alliance.accounts.models import AccountKind
from alliance.accounts.users import Role
from alliance.crosspromo import overlap
from alliance.db.engine import reading, transaction
from alliance.ids import PREFIXES, new_id
from alliance.jobs.models import JobRun
from alliance.web import advertiser_audience
from alliance.web.sessions import Viewer
from tests.conftest import Server
from tests.crosspromo.overlap_factories import (
    Audience,
    advertiser_with_program,
    partner_in,
    visit,
    visitors,
)
from tests.web.conftest import Browser, signed_in

pytestmark = pytest.mark.xdist_group("overlap-pages")

DASH = "\u2013"
TWIN_CLICKS = 4321  # Twin's own valid clicks: a figure only Twin may see


@dataclass(frozen=True)
class World:
    tag: str
    advertiser_id: str
    ours: Audience
    twin: Audience
    little: Audience
    applicant: Audience
    elsewhere: Audience
    newbie: Audience
    dups: tuple[Audience, Audience]


@pytest.fixture(scope="module")
def world(db_url: str) -> World:
    tag = uuid.uuid4().hex[:8].upper()
    advertiser, shop = advertiser_with_program()
    _, other_shop = advertiser_with_program()
    ours = partner_in(shop, name=f"Ours {tag}")
    twin = partner_in(shop, name=f"Twin {tag}")
    little = partner_in(shop, name=f"Little {tag}")
    applicant = partner_in(shop, status="applied", name=f"Applicant {tag}")
    elsewhere = partner_in(other_shop, name=f"Elsewhere {tag}")
    newbie = partner_in(shop, name=f"Newbie {tag}")
    dups = (partner_in(other_shop, name=f"Dup {tag}"), partner_in(other_shop, name=f"Dup {tag}"))
    people = f"o{tag}"
    visit(ours, visitors(people, range(0, 300)))
    crowd = visitors(people, range(100, 500))
    visit(twin, crowd)
    visit(twin, (crowd * 11)[: TWIN_CLICKS - len(crowd)])  # the same people coming back
    visit(little, visitors(people, range(290, 320)))
    visit(applicant, visitors(people, range(0, 120)))
    visit(elsewhere, visitors(people, range(150, 300)))
    visit(newbie, visitors(people, range(0, 300)))
    for n, dup in enumerate(dups):
        visit(dup, visitors(people, range(1000 + 100 * n, 1060 + 100 * n)))
    measured = [ours, twin, little, applicant, elsewhere, *dups]
    overlap.refresh_sketches(partner_ids=[a.partner.id for a in measured])
    return World(tag, advertiser.id, ours, twin, little, applicant, elsewhere, newbie, dups)


@pytest.fixture(scope="module")
def me(server: Server, world: World) -> Iterator[Browser]:
    browser = signed_in(server, world.ours.partner.id)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def shop_user(server: Server, world: World) -> Iterator[Browser]:
    browser = signed_in(server, world.advertiser_id)
    yield browser
    browser.close()


def text_of(markup: str) -> str:
    text = html.unescape(re.sub(r"<[^>]+>", " ", markup))
    return " ".join(text.split())


def section(body: str, element_id: str) -> str:
    """The text of the <section> holding the element with this id."""
    at = body.index(f'id="{element_id}"')
    start = body.rindex("<section", 0, at)
    return text_of(body[start : body.index("</section>", at)])


def kpis(body: str, element_id: str) -> dict[str, str]:
    """label -> value of the KPI tiles in that section."""
    at = body.index(f'id="{element_id}"')
    part = body[at : body.index("</section>", at)]
    found = re.findall(
        r'<p class="kpi-label">(.*?)</p>\s*<p class="kpi-value">(.*?)</p>', part, re.S
    )
    return {text_of(label): text_of(value) for label, value in found}


def span(low: int, high: int) -> str:
    """Bounds as the pages write them."""
    return f"{low} {DASH} {high}"


def rows(body: str, table_id: str) -> list[list[str]]:
    at = body.index(f'<table id="{table_id}"')
    part = body[at : body.index("</table>", at)]
    return [
        [text_of(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", part.split("<tbody>")[1], re.S)
    ]


# --- the partner's page ----------------------------------------------------------------------


def test_the_partner_sees_its_audience_and_nearest_partners(world: World, me: Browser) -> None:
    page = me.get("/partner/audience")
    assert page.status_code == 200, page.text[:2000]
    own = kpis(page.text, "own-audience")
    assert own["Visitors"] == "300" and own["Window"] == "90 days"
    assert own["Valid clicks"] == "300"
    assert "counted exactly" in section(page.text, "own-audience")
    # Most shared first; Little shares 10, under 50, so it is not listed at all.
    t = world.tag
    assert rows(page.text, "top") == [
        [f"Twin {t}", "400", "200", span(200, 200), "40.00 %", f"Compare with Twin {t}"],
        [f"Elsewhere {t}", "150", "150", span(150, 150), "50.00 %", f"Compare with Elsewhere {t}"],
        [f"Applicant {t}", "120", "120", span(120, 120), "40.00 %", f"Compare with Applicant {t}"],
    ]
    assert f"Little {t}" not in page.text
    assert '<a href="/partner/audience" aria-current="page">' in page.text  # navigation


def test_comparing_by_name_shows_the_pair_with_bounds(world: World, me: Browser) -> None:
    page = me.get("/partner/audience", params={"with": f"twin {world.tag.lower()}"})
    assert page.status_code == 200, page.text[:2000]
    pair = kpis(page.text, "compare-result")
    assert pair == {
        "Shared visitors": "200",
        "Jaccard index": "40.00 %",
        "Your audience": "300",
        f"Audience of Twin {world.tag}": "400",
    }
    by_id = me.get("/partner/audience", params={"with": world.twin.partner.id})
    assert kpis(by_id.text, "compare-result") == pair


def test_a_small_overlap_is_shown_as_under_50_never_as_a_number(world: World, me: Browser) -> None:
    page = me.get("/partner/audience", params={"with": world.little.partner.id})
    assert page.status_code == 200, page.text[:2000]
    pair = kpis(page.text, "compare-result")
    # 10 shared of a union of 320: the Jaccard would give the 10 away (50 / 320 = 0.156).
    assert pair == {
        "Shared visitors": "< 50",
        "Jaccard index": "< 16 %",
        "Your audience": "300",
        f"Audience of Little {world.tag}": "< 50",
    }
    # Nor anywhere else in the result (its last line is the time it was measured: left out,
    # a clock reading 4:30 would contain a 30).
    result = section(page.text, "compare-result").partition("Visitors of the last")[0]
    assert "counted exactly" in result
    assert not re.search(r"\b(10|30|320)\b", result), result


def test_compare_refusals_are_messages_with_their_status(world: World, me: Browser) -> None:
    unknown = me.get("/partner/audience", params={"with": f"Nobody {world.tag}"})
    assert unknown.status_code == 404
    assert "No partner has this id or name." in section(unknown.text, "compare-error")
    itself = me.get("/partner/audience", params={"with": world.ours.partner.id})
    assert itself.status_code == 422 and "That is you" in itself.text
    unmeasured = me.get("/partner/audience", params={"with": world.newbie.partner.id})
    assert unmeasured.status_code == 409
    assert "has not been measured yet" in section(unmeasured.text, "compare-error")
    # Two partners with that name: the page asks which one, by id.
    twice = me.get("/partner/audience", params={"with": f"Dup {world.tag}"})
    assert twice.status_code == 200
    choices = section(twice.text, "compare-choices")
    assert all(dup.partner.id in choices for dup in world.dups)


def test_a_partner_without_a_sketch_sees_when_it_comes(server: Server, world: World) -> None:
    # A successful run long ago: the job is then due now, whatever else ran in this database.
    with transaction() as session:
        started = datetime(2000, 1, 1, 3, 0, tzinfo=UTC)
        session.add(
            JobRun(
                id=new_id(PREFIXES["job_run"]),
                name="refresh_audience_sketches",
                started_at=started,
                finished_at=started,
                ok=True,
                result={},
            )
        )
    newbie = signed_in(server, world.newbie.partner.id)
    try:
        page = newbie.get("/partner/audience")
    finally:
        newbie.close()
    assert page.status_code == 200, page.text[:2000]
    own = section(page.text, "own-audience")
    assert "Your audience has not been measured yet" in own
    assert "The daily refresh is due now" in own or "The next daily refresh is due at" in own
    assert "appears once your audience has been measured" in page.text


def test_another_partners_own_figures_stay_theirs(
    server: Server, world: World, me: Browser
) -> None:
    clicks = f"{TWIN_CLICKS:,}"
    twin = signed_in(server, world.twin.partner.id)
    try:
        theirs = twin.get("/partner/audience")
    finally:
        twin.close()
    assert kpis(theirs.text, "own-audience")["Valid clicks"] == clicks
    # The page has no parameter naming another partner: ours stays ours whatever is asked.
    for params in ({}, {"partner_id": world.twin.partner.id}, {"with": world.twin.partner.id}):
        page = me.get("/partner/audience", params=params)
        assert kpis(page.text, "own-audience")["Visitors"] == "300"
        assert clicks not in page.text


def test_no_page_shows_a_visitor_id(world: World, me: Browser, shop_user: Browser) -> None:
    pages = [
        me.get("/partner/audience"),
        me.get("/partner/audience", params={"with": world.little.partner.id}),
        shop_user.get("/advertiser/partners"),
        shop_user.get("/advertiser/partners", params={"partner_id": world.ours.partner.id}),
    ]
    for page in pages:
        assert page.status_code == 200, page.text[:2000]
        assert "vis_" not in page.text
        assert f"o{world.tag}".lower() not in page.text.lower()


def test_each_dashboard_is_its_roles_own(world: World, me: Browser, shop_user: Browser) -> None:
    assert shop_user.get("/partner/audience").status_code == 403
    assert me.get("/advertiser/partners").status_code == 403


# --- the advertiser's shared-audience view ---------------------------------------------------


def best_match_of(body: str, name: str) -> str:
    for row in rows(body, "partners"):
        if row[0].startswith(name):
            return row[-1]
    raise AssertionError(f"no row for {name}")


def test_each_partner_row_names_its_best_match(world: World, shop_user: Browser) -> None:
    page = shop_user.get("/advertiser/partners")
    assert page.status_code == 200, page.text[:2000]
    t = world.tag
    assert best_match_of(page.text, f"Ours {t}") == f"Twin {t} 200 shared visitors"
    assert best_match_of(page.text, f"Twin {t}") == f"Ours {t} 200 shared visitors"
    # Little shares 10 with Ours and 10 with Twin: under 50, so no best match is named.
    assert best_match_of(page.text, f"Little {t}") == DASH
    assert best_match_of(page.text, f"Newbie {t}") == DASH
    # Only partners approved in the advertiser's programs are compared or offered.
    assert f"Applicant {t}" not in page.text and f"Elsewhere {t}" not in page.text


def test_the_advertiser_compares_two_of_its_partners(world: World, shop_user: Browser) -> None:
    page = shop_user.get(
        "/advertiser/partners",
        params={"partner_id": world.ours.partner.id, "other_partner_id": world.little.partner.id},
    )
    assert page.status_code == 200, page.text[:2000]
    assert kpis(page.text, "compare-result") == {
        "Shared visitors": "< 50",
        "Jaccard index": "< 16 %",
        f"Audience of Ours {world.tag}": "300",
        f"Audience of Little {world.tag}": "< 50",
    }


def test_one_partner_alone_lists_its_closest_among_the_advertisers(
    world: World, shop_user: Browser
) -> None:
    page = shop_user.get("/advertiser/partners", params={"partner_id": world.ours.partner.id})
    assert page.status_code == 200, page.text[:2000]
    # Applicant (120 shared) and Elsewhere (150) are not the advertiser's to compare.
    assert rows(page.text, "closest") == [
        [f"Twin {world.tag}", "400", "200", span(200, 200), "40.00 %"]
    ]


@pytest.mark.parametrize("outsider", ["applicant", "elsewhere", "unknown"])
def test_a_partner_outside_its_programs_is_refused(
    world: World, shop_user: Browser, outsider: str
) -> None:
    other = "ptn_" + "0" * 26 if outsider == "unknown" else getattr(world, outsider).partner.id
    for params in (
        {"partner_id": world.ours.partner.id, "other_partner_id": other},
        {"partner_id": other},
    ):
        page = shop_user.get("/advertiser/partners", params=params)
        assert page.status_code == 404, page.text[:2000]
        error = section(page.text, "compare-error")
        assert "This partner is not approved in any of your programs." in error
        assert "compare-result" not in page.text
        assert "150" not in error and "120" not in error


def test_the_same_partner_twice_is_refused(world: World, shop_user: Browser) -> None:
    page = shop_user.get(
        "/advertiser/partners",
        params={"partner_id": world.ours.partner.id, "other_partner_id": world.ours.partner.id},
    )
    assert page.status_code == 422
    assert "Choose two different partners." in section(page.text, "compare-error")


def test_many_partners_skip_the_per_row_search_but_still_compare(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process: the cap is a constant of the page module (the server's is 50)."""
    monkeypatch.setattr(advertiser_audience, "BEST_PER_ROW_MAX", 1)
    viewer = Viewer(
        user_id="usr_test",
        email="owner@example.com",
        name="Owner",
        membership_id="mbr_test",
        kind=AccountKind.advertiser,
        account_id=world.advertiser_id,
        account_name="Shop",
        role=Role.owner,
        accounts=(),
    )
    with reading() as session:
        view = advertiser_audience.shared_audience(
            session, viewer, world.ours.partner.id, world.twin.partner.id
        )
    assert view.best_skipped and view.best == {}
    assert view.pair is not None and view.pair.numbers["shared"] == 200
