"""GET /api/v1/fx/rate through the real server."""

from __future__ import annotations

import httpx

from tests.api.factories import API, auth, expect


def test_the_rate_of_a_day_with_its_ecb_day(http: httpx.Client, operator_key: str) -> None:
    found = expect(
        http.get(
            f"{API}/fx/rate",
            params={"base": "usd", "quote": "JPY", "on": "1999-01-10"},
            headers=auth(operator_key),
        ),
        200,
    )
    # Sunday 10 January 1999: Friday the 8th's rates (USD 1.1659, JPY 130.09 per euro).
    assert found["rate_day"] == "1999-01-08"
    assert found["asked_day"] == "1999-01-10"
    assert found["base"] == "USD" and found["quote"] == "JPY"
    assert found["rate"] == "111.5790377"
    assert found["example"] == "100 USD = 11158 JPY"


def test_refusals_name_the_field(http: httpx.Client, operator_key: str) -> None:
    key = auth(operator_key)
    missing = http.get(f"{API}/fx/rate", params={"base": "EUR", "quote": "KWD"}, headers=key)
    assert missing.status_code == 422
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["field"] == "quote"
    assert "no ECB reference rate for KWD" in missing.json()["detail"]
    before = http.get(
        f"{API}/fx/rate", params={"base": "USD", "quote": "EUR", "on": "1990-01-01"}, headers=key
    )
    assert before.status_code == 422 and before.json()["field"] == "base"
    unknown = http.get(f"{API}/fx/rate", params={"base": "EUR", "quote": "XYZ"}, headers=key)
    assert unknown.status_code == 422
    assert "quote" in str(unknown.json())
    assert http.get(f"{API}/fx/rate", params={"base": "EUR", "quote": "USD"}).status_code == 401
