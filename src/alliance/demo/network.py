"""The demo network's cast: advertisers, programs and partners a newcomer recognises.

Plain data, so the generator (demo/generate.py) stays about *how* traffic happens and this
file about *who* takes part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DemoProgram:
    key: str
    name: str
    landing_url: str
    commission: dict[str, Any]
    category: str
    cookie_window_days: int = 30
    lock_period_days: int = 14
    deeplink_domains: tuple[str, ...] = ()
    allowed_countries: tuple[str, ...] = ()
    # Where visitors from other countries go (geo-targeting); None = the landing URL.
    fallback_url: str | None = None
    # Per-country landing pages of the program's first link (on the program's site).
    country_urls: tuple[tuple[str, str], ...] = ()
    attribution_priority: str = "coupon"
    # Typical order value in the program currency and how often a valid click converts.
    order_value: tuple[int, int] = (300, 1500)
    conversion_rate: float = 0.025
    lead_rate: float = 0.0
    categories: tuple[str, ...] = ()
    description: str = ""
    # Orders arrive as this platform's signed webhooks (demo/stores.py), not as postbacks.
    store: str | None = None


@dataclass(frozen=True)
class DemoAdvertiser:
    key: str
    name: str
    country: str
    currency: str
    service_level: str
    website: str
    programs: tuple[DemoProgram, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class DemoPartner:
    name: str
    type: str
    country: str
    payout_currency: str
    categories: tuple[str, ...]
    audience: str
    # Relative traffic volume and which programs the partner promotes (by program key).
    reach: int
    programs: tuple[str, ...]
    coupon: str | None = None
    group: str | None = None


ADVERTISERS: tuple[DemoAdvertiser, ...] = (
    DemoAdvertiser(
        key="nordic",
        name="Nordic Outdoor AB",
        country="SE",
        currency="SEK",
        service_level="managed",
        website="https://nordic-outdoor.example",
        programs=(
            DemoProgram(
                key="nordic-gear",
                name="Nordic Outdoor — tents, packs and trail gear",
                landing_url="https://nordic-outdoor.example/",
                deeplink_domains=("nordic-outdoor.example", "blog.nordic-outdoor.example"),
                commission={
                    "type": "cps",
                    "percent": "8",
                    "tiers": [{"min_orders": 20, "percent": "10"}],
                    "overrides": [
                        {"when": {"category": "electronics"}, "percent": "4"},
                        {"when": {"customer": "new"}, "percent": "12"},
                    ],
                },
                category="outdoor",
                order_value=(400, 4500),
                conversion_rate=0.03,
                categories=("tents", "backpacks", "electronics", "clothing"),
                description="Premium outdoor equipment shipped across the Nordics and the EU.",
            ),
        ),
    ),
    DemoAdvertiser(
        key="berlin",
        name="Berliner Kaffeerösterei GmbH",
        country="DE",
        currency="EUR",
        service_level="self_service",
        website="https://kaffee-berlin.example",
        programs=(
            DemoProgram(
                key="berlin-coffee",
                name="Berliner Kaffee — specialty coffee subscriptions",
                landing_url="https://kaffee-berlin.example/shop",
                commission={
                    "type": "cps",
                    "percent": "10",
                    "overrides": [
                        {"when": {"partner_group": "vip"}, "percent": "15"},
                        # Austrian buyers: a launch bonus for the new Vienna warehouse.
                        {"when": {"buyer_country": "AT"}, "percent": "12"},
                    ],
                    "cap_per_order": "25.00",
                },
                category="food",
                cookie_window_days=45,
                lock_period_days=30,
                allowed_countries=("DE", "AT", "CH", "NL", "SE", "DK"),
                fallback_url="https://kaffee-berlin.example/international",
                country_urls=(
                    ("AT", "https://kaffee-berlin.example/shop/oesterreich"),
                    ("CH", "https://kaffee-berlin.example/shop/schweiz"),
                ),
                order_value=(18, 140),
                conversion_rate=0.04,
                categories=("beans", "equipment", "subscription"),
                description="Fresh-roasted single-origin beans, subscriptions and brewing kit.",
            ),
            DemoProgram(
                key="berlin-newsletter",
                name="Berliner Kaffee — newsletter sign-ups",
                landing_url="https://kaffee-berlin.example/newsletter",
                commission={"type": "cpl", "amount": "1.50"},
                category="food",
                lock_period_days=7,
                order_value=(0, 0),
                conversion_rate=0.0,
                lead_rate=0.12,
                description="Pays per confirmed newsletter sign-up.",
            ),
        ),
    ),
    DemoAdvertiser(
        key="brooklyn",
        name="Brooklyn Sleep Co.",
        country="US",
        currency="USD",
        service_level="managed",
        website="https://brooklynsleep.example",
        programs=(
            DemoProgram(
                key="brooklyn-mattress",
                name="Brooklyn Sleep — mattresses and bedding",
                landing_url="https://brooklynsleep.example/",
                commission={"type": "cpo", "amount": "60.00"},
                category="home",
                cookie_window_days=30,
                lock_period_days=30,
                attribution_priority="click",
                allowed_countries=("US", "CA"),
                fallback_url="https://brooklynsleep.example/ships-to",
                order_value=(250, 2400),
                conversion_rate=0.012,
                categories=("mattress", "bedding", "pillows"),
                store="shopify",
                description="Mattresses with 100-night trials; high AOV, long consideration.",
            ),
            DemoProgram(
                key="brooklyn-traffic",
                name="Brooklyn Sleep — sleep-guide traffic (CPC)",
                landing_url="https://brooklynsleep.example/guides",
                commission={"type": "cpc", "amount": "0.12"},
                category="home",
                lock_period_days=7,
                order_value=(0, 0),
                conversion_rate=0.0,
                description="Pays per unique valid visitor a day sent to the sleep guides.",
            ),
        ),
    ),
    DemoAdvertiser(
        key="tokyo",
        name="Kyoto Tea House K.K.",
        country="JP",
        currency="JPY",
        service_level="self_service",
        website="https://kyoto-tea.example",
        programs=(
            DemoProgram(
                key="kyoto-tea",
                name="Kyoto Tea House — matcha and teaware",
                landing_url="https://kyoto-tea.example/",
                commission={"type": "cps", "percent": "7.5"},
                category="food",
                order_value=(2500, 28000),
                conversion_rate=0.028,
                categories=("matcha", "teaware"),
                store="stripe",
                description="Ceremonial matcha and handmade teaware; prices in yen.",
            ),
        ),
    ),
)

# 28 partners: every type, eleven countries, several payout currencies.
PARTNERS: tuple[DemoPartner, ...] = (
    DemoPartner(
        "Fjällbloggen",
        "content",
        "SE",
        "SEK",
        ("outdoor", "hiking"),
        "Swedish hikers 25-45, long-form gear reviews",
        9,
        ("nordic-gear",),
    ),
    DemoPartner(
        "TrailTest.de",
        "content",
        "DE",
        "EUR",
        ("outdoor", "reviews"),
        "German gear testers, comparison tables",
        7,
        ("nordic-gear", "berlin-coffee"),
    ),
    DemoPartner(
        "Kaffeeklatsch Magazin",
        "content",
        "DE",
        "EUR",
        ("food", "coffee"),
        "Home baristas in DACH",
        8,
        ("berlin-coffee", "berlin-newsletter"),
        group="vip",
    ),
    DemoPartner(
        "The Sleep Scientist",
        "content",
        "US",
        "USD",
        ("home", "health"),
        "US readers researching sleep and mattresses",
        10,
        ("brooklyn-mattress", "brooklyn-traffic"),
    ),
    DemoPartner(
        "Matcha Monthly",
        "content",
        "GB",
        "GBP",
        ("food", "tea"),
        "UK tea enthusiasts",
        5,
        ("kyoto-tea",),
    ),
    DemoPartner(
        "@wild.anna",
        "influencer",
        "NO",
        "NOK",
        ("outdoor", "lifestyle"),
        "Instagram, 180k followers, Norwegian adventure reels",
        8,
        ("nordic-gear",),
        coupon="ANNA15",
    ),
    DemoPartner(
        "Lukas Brews",
        "influencer",
        "AT",
        "EUR",
        ("coffee", "lifestyle"),
        "YouTube brewing tutorials, 95k subscribers",
        6,
        ("berlin-coffee", "berlin-newsletter"),
        coupon="LUKAS10",
    ),
    DemoPartner(
        "Dream With Dana",
        "influencer",
        "US",
        "USD",
        ("home", "wellness"),
        "TikTok bedtime routines, 1.2M followers",
        9,
        ("brooklyn-mattress",),
        coupon="DANA50",
    ),
    DemoPartner(
        "Tokyo Tea Girl",
        "influencer",
        "JP",
        "JPY",
        ("tea", "japan"),
        "Japanese tea ceremony clips",
        6,
        ("kyoto-tea",),
        coupon="TEAGIRL",
    ),
    DemoPartner(
        "Sofia Camina",
        "influencer",
        "ES",
        "EUR",
        ("travel", "outdoor"),
        "Spanish trekking vlogs",
        4,
        ("nordic-gear",),
    ),
    DemoPartner(
        "Rabattkoder.se",
        "deals",
        "SE",
        "SEK",
        ("coupons",),
        "Swedish coupon portal, high intent at checkout",
        10,
        ("nordic-gear",),
        coupon="RABATT10",
    ),
    DemoPartner(
        "Gutscheinwelt",
        "deals",
        "DE",
        "EUR",
        ("coupons", "cashback"),
        "German voucher and cashback portal",
        9,
        ("berlin-coffee", "nordic-gear"),
        coupon="GUTSCHEIN5",
    ),
    DemoPartner(
        "CashBackRewards US",
        "deals",
        "US",
        "USD",
        ("cashback", "loyalty"),
        "US cashback members",
        10,
        ("brooklyn-mattress", "brooklyn-traffic"),
    ),
    DemoPartner(
        "PointsPlus Loyalty",
        "deals",
        "CA",
        "CAD",
        ("loyalty",),
        "Canadian loyalty program members",
        5,
        ("brooklyn-mattress",),
    ),
    DemoPartner(
        "Deal Digest Mail",
        "deals",
        "US",
        "USD",
        ("email", "deals"),
        "Daily deals e-mail, 400k subscribers",
        7,
        ("brooklyn-mattress", "kyoto-tea"),
    ),
    DemoPartner(
        "Nyhetsbrevet Fynd",
        "deals",
        "SE",
        "SEK",
        ("email",),
        "Swedish bargain newsletter",
        4,
        ("nordic-gear",),
    ),
    DemoPartner(
        "ShopCompare Browser",
        "technology",
        "NL",
        "EUR",
        ("extension",),
        "Price-comparison browser extension",
        8,
        ("nordic-gear", "berlin-coffee", "kyoto-tea"),
    ),
    DemoPartner(
        "CartWise",
        "technology",
        "US",
        "USD",
        ("saas", "checkout"),
        "Post-purchase offers in checkouts",
        6,
        ("brooklyn-mattress",),
    ),
    DemoPartner(
        "Widgetly",
        "technology",
        "FR",
        "EUR",
        ("widgets",),
        "Product widgets for publishers",
        3,
        ("nordic-gear", "berlin-coffee"),
    ),
    DemoPartner(
        "Finanzfuchs",
        "finance",
        "DE",
        "EUR",
        ("finance", "comparison"),
        "German personal-finance comparison site",
        4,
        ("berlin-coffee",),
    ),
    DemoPartner(
        "MoneyMatters US",
        "finance",
        "US",
        "USD",
        ("finance", "credit"),
        "US credit-card and financing comparisons",
        5,
        ("brooklyn-mattress", "brooklyn-traffic"),
    ),
    DemoPartner(
        "Sparkollen",
        "finance",
        "SE",
        "SEK",
        ("finance",),
        "Swedish household budgeting site",
        3,
        ("nordic-gear",),
    ),
    DemoPartner(
        "Outdoor Journal UK",
        "content",
        "GB",
        "GBP",
        ("outdoor",),
        "British hillwalkers",
        5,
        ("nordic-gear",),
    ),
    DemoPartner(
        "Café Cultura",
        "content",
        "ES",
        "EUR",
        ("coffee",),
        "Spanish coffee culture blog",
        3,
        ("berlin-coffee",),
    ),
    DemoPartner(
        "Zen Living",
        "content",
        "JP",
        "JPY",
        ("lifestyle", "tea"),
        "Mindful living, Japanese audience",
        4,
        ("kyoto-tea",),
    ),
    DemoPartner(
        "Sleepy Deals",
        "deals",
        "US",
        "USD",
        ("coupons",),
        "Mattress coupon aggregator",
        6,
        ("brooklyn-mattress",),
        coupon="SLEEPY40",
    ),
    DemoPartner(
        "Polar Pixel",
        "influencer",
        "FI",
        "EUR",
        ("photography", "outdoor"),
        "Finnish landscape photographer, 60k followers",
        3,
        ("nordic-gear",),
    ),
    DemoPartner(
        "BudgetBrew",
        "deals",
        "NL",
        "EUR",
        ("coupons", "coffee"),
        "Dutch coffee deals",
        2,
        ("berlin-coffee",),
    ),
)

# Where visitors come from per advertiser country (weights), and devices.
VISITOR_COUNTRIES: dict[str, tuple[tuple[str, int], ...]] = {
    "SE": (("SE", 60), ("NO", 12), ("FI", 8), ("DK", 8), ("DE", 8), ("GB", 4)),
    "DE": (("DE", 60), ("AT", 15), ("CH", 10), ("NL", 8), ("SE", 4), ("FR", 3)),
    "US": (("US", 82), ("CA", 15), ("GB", 3)),
    "JP": (("JP", 75), ("US", 10), ("GB", 8), ("DE", 7)),
}
USER_AGENTS: tuple[tuple[str, str, int], ...] = (
    (
        "mobile",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        38,
    ),
    (
        "mobile",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0 Mobile Safari/537.36",
        22,
    ),
    (
        "desktop",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/126.0 Safari/537.36",
        22,
    ),
    (
        "desktop",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.5 Safari/605.1.15",
        12,
    ),
    (
        "tablet",
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        6,
    ),
)
BOT_USER_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "python-requests/2.32.3",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
)
