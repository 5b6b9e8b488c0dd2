"""GET /api/v1/recommendations/*, through the real server: rankings with their reasons, what
is never recommended, cold starts, who may ask, and bad input.

Every list is narrowed with `category=` to this module's own categories, so programs and
partners other tests leave in the shared database never crowd the answers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from alliance.crosspromo import matching, overlap
from tests.api.factories import API, auth, expect
from tests.crosspromo.matching_factories import (
    Account,
    Tags,
    clicks,
    enrolled,
    orders,
    partner,
    shop,
)

URL = f"{API}/recommendations"
COMPONENTS = {
    "audience_overlap",
    "category_complementarity",
    "performance",
    "stated_fit",
    "popularity",
}


@dataclass(frozen=True)
class Scene:
    tags: Tags
    me: Account  # states trail, approved in home, sells trail and gels
    mate: Account  # states gels, approved in home and gel; shares 100 visitors with me
    newbie: Account  # states trail, no history at all
    refused: Account  # states gels, rejected by gel
    home: str  # trail: me and mate approved
    shoe: str  # trail: nobody in it
    gel_shop: Account
    gel: str  # gels: mate approved, refused rejected
    book: str  # books: nobody enrolled (orders only)
    rejected: str  # trail: me rejected
    applied: str  # trail: me applied
    paused: str  # trail, paused: never recommended

    @property
    def categories(self) -> list[str]:
        return [self.tags(n) for n in ("trail", "gels", "books")]


@pytest.fixture(scope="module")
def scene(db_url: str) -> Scene:
    t = Tags.new()
    trail, gels, books = t("trail"), t("gels"), t("books")
    me = partner(name="Trail Talk", categories=[trail], audience="trail running and marathons")
    mate = partner(name="Gel Guide", categories=[gels], audience="energy for endurance runners")
    newbie = partner(name="New Runner", categories=[trail])
    refused = partner(name="Refused", categories=[gels])
    _, home = shop(trail, name="Trail Home")
    _, shoe = shop(trail, name="Trail Shoes", description="Shoes for trail running")
    gel_shop, gel = shop(gels, name="Energy Gels")
    _, book = shop(books, name="Novels")
    _, rejected = shop(trail, name="Rejected me")
    _, applied = shop(trail, name="Applied")
    _, paused = shop(trail, name="Paused", status="paused")
    mine = enrolled(home, me.id)
    mates = enrolled(home, mate.id)
    enrolled(gel, mate.id)
    enrolled(gel, refused.id, status="rejected")
    enrolled(rejected, me.id, status="rejected")
    enrolled(applied, me.id, status="applied")
    # Co-purchases: 25 baskets of trail and gels, 5 of trail, 10 of gels, 100 of books.
    orders(home, me.id, [trail, gels], count=25)
    orders(home, me.id, [trail], count=5)
    orders(gel, mate.id, [gels], count=10)
    orders(book, refused.id, [books], count=100)
    # Audiences: me and mate share 100 visitors through home.
    clicks(mine, t.tag, range(0, 200))
    clicks(mates, t.tag, range(100, 300))
    overlap.refresh_sketches(partner_ids=[me.id, mate.id, newbie.id, refused.id])
    matching.refresh_co_purchases()
    return Scene(
        t, me, mate, newbie, refused, home, shoe, gel_shop, gel, book, rejected, applied, paused
    )


def get(http: httpx.Client, key: str, path: str, **params: Any) -> httpx.Response:
    return http.get(f"{URL}/{path}", params=params, headers=auth(key))


def ranked(http: httpx.Client, key: str, path: str, scene: Scene, **params: Any) -> dict[str, Any]:
    found: dict[str, Any] = expect(
        get(http, key, path, category=scene.categories, limit=50, **params), 200
    )
    return found


def parts(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in item["components"]}


def check_arithmetic(answer: dict[str, Any]) -> None:
    assert math.fsum(answer["weights"].values()) == pytest.approx(1.0, abs=1e-3)
    for item in answer["items"]:
        assert 0.0 <= item["score"] <= 1.0
        assert item["score"] == pytest.approx(
            math.fsum(c["contribution"] for c in item["components"]), abs=1e-3
        )
        for c in item["components"]:
            assert 0.0 <= c["value"] <= 1.0
            assert c["weight"] == answer["weights"][c["name"]]
            assert c["explanation"]
    scores = [item["score"] for item in answer["items"]]
    assert scores == sorted(scores, reverse=True)


# --- programs for a partner ---------------------------------------------------------------


def test_programs_for_a_partner_with_reasons(http: httpx.Client, scene: Scene) -> None:
    answer = ranked(http, scene.me.key, "programs", scene, partner_id=scene.me.id)
    assert answer["kind"] == "programs" and answer["for_id"] == scene.me.id
    assert answer["basis"] == "personal"
    assert answer["unavailable"] == []
    assert set(answer["weights"]) == COMPONENTS
    check_arithmetic(answer)
    # Never: joined (approved), applied, rejected, nor a paused program.
    ids = [item["id"] for item in answer["items"]]
    assert ids == [scene.gel, scene.shoe, scene.book]
    gel, shoe, book = answer["items"]
    assert gel["name"] == "Energy Gels"
    why = parts(gel)
    assert why["audience_overlap"]["value"] > 0
    assert "1 of the program's approved partners" in why["audience_overlap"]["explanation"]
    assert "co-purchases" in why["category_complementarity"]["explanation"]
    assert why["popularity"]["value"] == 1.0
    shoe_why = parts(shoe)
    assert shoe_why["stated_fit"]["value"] > parts(gel)["stated_fit"]["value"]
    assert shoe_why["audience_overlap"]["value"] == 0.0
    assert parts(book)["category_complementarity"]["value"] == 0.0


def test_the_operator_asks_for_any_partner(
    http: httpx.Client, scene: Scene, operator_key: str
) -> None:
    answer = ranked(http, operator_key, "programs", scene, partner_id=scene.me.id)
    assert [i["id"] for i in answer["items"]] == [scene.gel, scene.shoe, scene.book]


def test_limit_cuts_the_list(http: httpx.Client, scene: Scene) -> None:
    answer = expect(
        get(
            http,
            scene.me.key,
            "programs",
            partner_id=scene.me.id,
            category=scene.categories,
            limit=1,
        ),
        200,
    )
    assert [i["id"] for i in answer["items"]] == [scene.gel]


def test_a_new_partner_gets_category_popularity(http: httpx.Client, scene: Scene) -> None:
    answer = ranked(http, scene.newbie.key, "programs", scene, partner_id=scene.newbie.id)
    assert answer["basis"] == "cold_start"
    assert answer["weights"] == {"stated_fit": 0.5, "popularity": 0.5}
    check_arithmetic(answer)
    ids = [i["id"] for i in answer["items"]]
    # Its stated category first, most approved partners first; the others after.
    trail_programs = {scene.home, scene.shoe, scene.rejected, scene.applied}
    assert ids[0] == scene.home
    assert set(ids[:4]) == trail_programs
    assert ids.index(scene.gel) > 3 and ids.index(scene.book) > 3
    assert scene.paused not in ids
    for item in answer["items"]:
        assert set(parts(item)) == {"stated_fit", "popularity"}


def test_an_unmeasured_audience_is_left_out_and_the_rest_reweighted(
    http: httpx.Client, scene: Scene
) -> None:
    """A partner with history but no audience sketch yet (newer than the last refresh)."""
    late = partner(name="Late", categories=[scene.tags("late")])  # in no other list's filter
    enrolled(scene.home, late.id)
    answer = ranked(http, late.key, "programs", scene, partner_id=late.id)
    assert answer["basis"] == "personal"
    assert answer["unavailable"] == [
        {"name": "audience_overlap", "reason": "no audience sketch of the partner yet"}
    ]
    assert "audience_overlap" not in answer["weights"]
    assert answer["weights"]["popularity"] == pytest.approx(0.30 / 0.75, abs=1e-4)
    check_arithmetic(answer)
    for item in answer["items"]:
        assert "audience_overlap" not in parts(item)


# --- partners for a program --------------------------------------------------------------


def test_partners_for_a_program(http: httpx.Client, scene: Scene) -> None:
    answer = ranked(http, scene.gel_shop.key, "partners", scene, program_id=scene.gel)
    assert answer["kind"] == "partners" and answer["basis"] == "personal"
    check_arithmetic(answer)
    ids = [i["id"] for i in answer["items"]]
    # Never one with an enrollment in it: mate (approved) nor refused (rejected).
    assert ids == [scene.me.id, scene.newbie.id]
    why = parts(answer["items"][0])
    assert why["audience_overlap"]["value"] > 0
    assert why["category_complementarity"]["value"] > 0
    assert why["performance"]["value"] > 0


def test_the_operator_asks_partners_for_any_program(
    http: httpx.Client, scene: Scene, operator_key: str
) -> None:
    answer = ranked(http, operator_key, "partners", scene, program_id=scene.gel)
    assert [i["id"] for i in answer["items"]] == [scene.me.id, scene.newbie.id]


# --- co-promotion ----------------------------------------------------------------------------


def test_co_promotion_partners(http: httpx.Client, scene: Scene) -> None:
    answer = ranked(http, scene.me.key, "co-promotion", scene, partner_id=scene.me.id)
    assert answer["kind"] == "co_promotion"
    check_arithmetic(answer)
    ids = [i["id"] for i in answer["items"]]
    assert scene.me.id not in ids
    assert set(ids) == {scene.mate.id, scene.newbie.id, scene.refused.id}
    assert ids[0] == scene.mate.id
    overlap_part = parts(answer["items"][0])["audience_overlap"]
    assert "about 100 shared visitors" in overlap_part["explanation"]


# --- who may ask, and bad input -------------------------------------------------------------


def test_a_partner_asks_only_about_itself(http: httpx.Client, scene: Scene) -> None:
    for path in ("programs", "co-promotion"):
        problem = expect(get(http, scene.me.key, path, partner_id=scene.mate.id), 404)
        assert problem["field"] == "partner_id"
        expect(get(http, scene.me.key, "partners", program_id=scene.home), 403)


def test_an_advertiser_asks_only_about_its_programs(http: httpx.Client, scene: Scene) -> None:
    problem = expect(get(http, scene.gel_shop.key, "partners", program_id=scene.home), 404)
    assert problem["field"] == "program_id"
    expect(get(http, scene.gel_shop.key, "programs", partner_id=scene.me.id), 403)
    expect(get(http, scene.gel_shop.key, "co-promotion", partner_id=scene.me.id), 403)


def test_unknown_ids_answer_404(http: httpx.Client, scene: Scene, operator_key: str) -> None:
    ghost_partner = "ptn_" + "0" * 26
    ghost_program = "prg_" + "0" * 26
    for path in ("programs", "co-promotion"):
        problem = expect(get(http, operator_key, path, partner_id=ghost_partner), 404)
        assert problem["field"] == "partner_id"
    problem = expect(get(http, operator_key, "partners", program_id=ghost_program), 404)
    assert problem["field"] == "program_id"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("programs", {}, "partner_id"),
        ("programs", {"partner_id": "nope"}, "partner_id"),
        ("programs", {"partner_id": "prg_" + "0" * 26}, "partner_id"),
        ("co-promotion", {"partner_id": "ptn_\x00"}, "partner_id"),
        ("partners", {"program_id": "ptn_" + "0" * 26}, "program_id"),
        ("programs", {"limit": "51"}, "limit"),
        ("programs", {"limit": "0"}, "limit"),
        ("programs", {"limit": "ten"}, "limit"),
        ("programs", {"category": "x" * 65}, "category.0"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    http: httpx.Client,
    scene: Scene,
    operator_key: str,
    path: str,
    params: dict[str, str],
    field: str,
) -> None:
    if "limit" in params or "category" in params:
        params = {"partner_id": scene.me.id, **params}
    problem = expect(get(http, operator_key, path, **params), 422)
    assert problem["field"] == field


def test_no_key_is_401(http: httpx.Client, scene: Scene) -> None:
    response = http.get(f"{URL}/programs", params={"partner_id": scene.me.id})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
