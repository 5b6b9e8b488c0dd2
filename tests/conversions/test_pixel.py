"""/px and /tag.js through the real server."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from alliance.conversions.endpoints import PIXEL_GIF
from alliance.conversions.models import Conversion, InboundEvent
from alliance.db.engine import reading

from .factories import new_click, world


def is_gif(r: httpx.Response) -> None:
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/gif"
    assert "no-store" in r.headers["cache-control"]
    assert r.content == PIXEL_GIF


def last_event(program_id: str) -> InboundEvent:
    with reading() as session:
        row = session.scalars(
            select(InboundEvent)
            .where(InboundEvent.program_id == program_id, InboundEvent.source == "pixel")
            .order_by(InboundEvent.id.desc())
        ).first()
        assert row is not None
        session.expunge(row)
        return row


def conversions(program_id: str) -> list[Any]:
    with reading() as session:
        return list(
            session.execute(
                select(Conversion.order_id, Conversion.status, Conversion.attributed_by).where(
                    Conversion.program_id == program_id
                )
            ).all()
        )


def test_pixel_creates_a_pending_conversion_from_alclid(http: httpx.Client) -> None:
    w = world()
    click = new_click(w)
    r = http.get(
        "/px",
        params={
            "program": w.program_id,
            "order_id": "PX-1",
            "amount": "20.00",
            "currency": "EUR",
            "alclid": click.id,
        },
    )
    is_gif(r)
    assert conversions(w.program_id) == [("PX-1", "pending", "click_id")]
    assert last_event(w.program_id).status == "accepted"


def test_pixel_uses_the_tracking_cookie(http: httpx.Client) -> None:
    w = world()
    click = new_click(w)
    r = http.get(
        "/px",
        params={"program": w.program_id, "order_id": "PX-C", "amount": "5.00"},
        headers={"cookie": f"alc_{w.program_id}={click.visitor_id}; other=secret"},
    )
    is_gif(r)
    assert conversions(w.program_id) == [("PX-C", "pending", "cookie")]
    event = last_event(w.program_id)
    assert "other" not in event.headers.get("cookie", "")  # only tracking cookies are kept


def test_pixel_refusals_still_answer_the_image(http: httpx.Client) -> None:
    w = world()
    is_gif(
        http.get(
            "/px",
            params={
                "program": w.program_id,
                "order_id": "PX-2",
                "amount": "abc",
                "alclid": new_click(w).id,
            },
        )
    )
    assert last_event(w.program_id).reason == "bad_amount"
    # The pixel is not authenticated: it can never complete or refund an order.
    click = new_click(w)
    http.get(
        "/px",
        params={"program": w.program_id, "order_id": "PX-3", "amount": "1.00", "alclid": click.id},
    )
    is_gif(
        http.get(
            "/px",
            params={
                "program": w.program_id,
                "order_id": "PX-3",
                "amount": "1.00",
                "status": "completed",
            },
        )
    )
    assert last_event(w.program_id).reason == "bad_status"
    is_gif(http.get("/px", params={"program": w.program_id, "order_id": "PX-4", "amount": "1"}))
    assert last_event(w.program_id).reason == "no_attribution"
    assert conversions(w.program_id) == [("PX-3", "pending", "click_id")]
    is_gif(http.get("/px?program=%FF"))


def test_tag_js(http: httpx.Client) -> None:
    r = http.get("/tag.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    assert "max-age" in r.headers["cache-control"]
    text = r.text
    assert "alclid" in text and "samesite=lax" in text and "/px?" in text
    assert "localStorage" in text and len(r.content) < 2048


def test_wrong_methods(http: httpx.Client) -> None:
    assert http.delete("/postback").status_code == 405
    assert http.post("/px").status_code == 405
