"""Public ids: Crockford base32 of a UUIDv7, sortable by creation time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from alliance.ids import _ALPHABET, _b32, new_id, new_link_code

ID = re.compile(r"[a-z]{3}_[0-9A-HJKMNP-TV-Z]{26}")


def reference_b32(value: int, length: int) -> str:
    """One digit at a time, least significant first: the plain definition."""
    digits = []
    for _ in range(length):
        digits.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(digits))


@given(st.integers(min_value=0, max_value=(1 << 130) - 1), st.integers(min_value=1, max_value=26))
def test_b32_matches_the_digit_by_digit_definition(value: int, length: int) -> None:
    assert _b32(value, length) == reference_b32(value, length)


def test_ids_have_their_prefix_and_26_base32_characters() -> None:
    assert ID.fullmatch(new_id("clk"))
    assert re.fullmatch(r"[0-9a-hjkmnp-tv-z]{8}", new_link_code())


def test_ids_sort_by_creation_time() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    backdated = [new_id("cnv", at=start + timedelta(milliseconds=i)) for i in range(200)]
    assert backdated == sorted(backdated)
    fresh = [new_id("clk") for _ in range(200)]
    # UUIDv7 orders by millisecond; ids made within the same millisecond may tie-break either way.
    assert [i[:14] for i in fresh] == sorted(i[:14] for i in fresh)
    assert len(set(fresh)) == len(fresh)
