"""Demo creatives and product feeds, so partners in the demo have banners to paste and products
to search, and advertisers have an upload history to look at.

Feeds go in as CSV through `feeds.upload_feed`, the path a real upload takes (validation,
upsert, history); creatives through `creatives.create_creative`. Programs missing from
`runs_by_key` are skipped, so the cast in demo/network.py can change without breaking this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from alliance.programs import creatives, feeds
from alliance.programs.models import CreativeKind, Program


@dataclass(frozen=True)
class _Catalog:
    creatives: tuple[tuple[CreativeKind, dict[str, Any]], ...]
    # (id, title, path on the landing host, price, category); the image is named by the path
    products: tuple[tuple[str, str, str, str, str], ...]
    host: str


def _banner(name: str, width: int, height: int, host: str, alt: str) -> dict[str, Any]:
    return {
        "name": name,
        "image_url": f"https://{host}/media/banners/{width}x{height}.png",
        "width": width,
        "height": height,
        "alt_text": alt,
    }


CATALOGS: dict[str, _Catalog] = {
    "nordic-gear": _Catalog(
        host="nordic-outdoor.example",
        creatives=(
            (
                CreativeKind.banner,
                _banner(
                    "Leaderboard — autumn trail sale",
                    728,
                    90,
                    "nordic-outdoor.example",
                    "Nordic Outdoor: up to 30% off trail gear",
                ),
            ),
            (
                CreativeKind.banner,
                _banner(
                    "Medium rectangle — tents",
                    300,
                    250,
                    "nordic-outdoor.example",
                    "Four-season tents from Nordic Outdoor",
                ),
            ),
            (
                CreativeKind.text_link,
                {
                    "name": "Packing-list guide",
                    "anchor_text": "The complete hiking packing list",
                    "landing_url": "https://blog.nordic-outdoor.example/guides/packing-list",
                },
            ),
            (
                CreativeKind.product,
                {
                    "name": "Fjällstorm 2P teaser",
                    "title": "Fjällstorm 2P four-season tent",
                    "description": "2.1 kg, 20,000 mm hydrostatic head, pitched in 4 minutes.",
                    "image_url": "https://nordic-outdoor.example/media/p/fjallstorm-2p.jpg",
                    "landing_url": "https://nordic-outdoor.example/p/fjallstorm-2p",
                },
            ),
        ),
        products=(
            ("NO-TENT-2P", "Fjällstorm 2P four-season tent", "p/fjallstorm-2p", "4995.00", "tents"),
            ("NO-TENT-3P", "Fjällstorm 3P four-season tent", "p/fjallstorm-3p", "6495.00", "tents"),
            ("NO-PACK-45", "Kebne 45 l trekking backpack", "p/kebne-45", "2195.00", "backpacks"),
            ("NO-PACK-65", "Kebne 65 l expedition backpack", "p/kebne-65", "2895.00", "backpacks"),
            (
                "NO-LAMP-900",
                "Polarljus 900 lm head lamp",
                "p/polarljus-900",
                "649.00",
                "electronics",
            ),
            (
                "NO-GPS-2",
                "Vidde GPS 2 handheld navigator",
                "p/vidde-gps-2",
                "3490.00",
                "electronics",
            ),
            ("NO-JKT-M", "Sarek shell jacket, men's", "p/sarek-shell-m", "2799.00", "clothing"),
            ("NO-JKT-W", "Sarek shell jacket, women's", "p/sarek-shell-w", "2799.00", "clothing"),
        ),
    ),
    "berlin-coffee": _Catalog(
        host="kaffee-berlin.example",
        creatives=(
            (
                CreativeKind.banner,
                _banner(
                    "Skyscraper — subscription",
                    160,
                    600,
                    "kaffee-berlin.example",
                    "Berliner Kaffee: fresh beans every month",
                ),
            ),
            (
                CreativeKind.text_link,
                {
                    "name": "Subscription text link",
                    "anchor_text": "Try a Berliner Kaffee subscription",
                    "landing_url": "https://kaffee-berlin.example/shop/abo",
                },
            ),
        ),
        products=(
            ("BK-ETH-250", "Ethiopia Guji, 250 g whole beans", "shop/p/eth-guji", "12.90", "beans"),
            (
                "BK-COL-250",
                "Colombia Huila, 250 g whole beans",
                "shop/p/col-huila",
                "11.50",
                "beans",
            ),
            (
                "BK-ESP-1K",
                "Kreuzberg espresso blend, 1 kg",
                "shop/p/kreuzberg-1k",
                "34.00",
                "beans",
            ),
            ("BK-V60", "Ceramic pour-over dripper", "shop/p/dripper", "24.00", "equipment"),
            (
                "BK-ABO-M",
                "Monthly subscription, two bags of 250 g",
                "shop/abo",
                "21.00",
                "subscription",
            ),
        ),
    ),
    "kyoto-tea": _Catalog(
        host="kyoto-tea.example",
        creatives=(
            (
                CreativeKind.banner,
                _banner(
                    "Leaderboard — ceremonial matcha",
                    728,
                    90,
                    "kyoto-tea.example",
                    "Kyoto Tea House ceremonial matcha",
                ),
            ),
            (
                CreativeKind.product,
                {
                    "name": "Uji matcha teaser",
                    "title": "Uji ceremonial matcha, 30 g",
                    "description": "Stone-ground first-harvest tencha from Uji.",
                    "image_url": "https://kyoto-tea.example/media/p/uji-30.jpg",
                    "landing_url": "https://kyoto-tea.example/p/uji-30",
                },
            ),
        ),
        products=(
            ("KT-UJI-30", "Uji ceremonial matcha, 30 g", "p/uji-30", "3200", "matcha"),
            ("KT-UJI-100", "Uji ceremonial matcha, 100 g", "p/uji-100", "9800", "matcha"),
            ("KT-CHAWAN", "Raku chawan tea bowl", "p/raku-chawan", "14500", "teaware"),
            ("KT-CHASEN", "Bamboo whisk, 100 tines", "p/chasen", "2800", "teaware"),
        ),
    ),
}


def _feed_csv(program: Program, catalog: _Catalog) -> bytes:
    lines = ["id,title,url,price,currency,category,image"]
    for product_id, title, path, price, category in catalog.products:
        image = path.rsplit("/", 1)[-1]
        quoted = '"' + title.replace('"', '""') + '"'
        lines.append(
            f"{product_id},{quoted},https://{catalog.host}/{path},{price},{program.currency},"
            f"{category},https://{catalog.host}/media/p/{image}.jpg"
        )
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def add_catalog(session: Session, runs_by_key: dict[str, Program]) -> int:
    """Creatives and a product feed for the demo programs that have a catalogue here.

    Returns how many items (creatives plus feed products) it made.
    """
    made = 0
    for key, catalog in CATALOGS.items():
        program = runs_by_key.get(key)
        if program is None:
            continue
        for kind, fields in catalog.creatives:
            creatives.create_creative(session, program, kind, fields)
            made += 1
        upload, _ = feeds.upload_feed(session, program, _feed_csv(program, catalog), None)
        made += upload.products_created
    return made
