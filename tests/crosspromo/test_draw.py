"""The verifiable draw (crosspromo/draw.py): the documented algorithm, re-implemented here
from docs/contests.md as an outsider would, agrees with the network's; draws are
deterministic, distinct, fair (chi-square over a fixed set of seeds) and free of modulo bias."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.crosspromo import draw
from alliance.crosspromo.draw import DrawError, Ticket

SEED = bytes(range(32))


def _ids(count: int, start: int = 0) -> list[str]:
    return [f"ent_{index:026d}" for index in range(start, start + count)]


# --- an outsider's re-implementation, straight from the documented steps ---------------------


def reference_draw(seed_hex: str, csv: bytes, external: str, count: int) -> list[str]:
    """docs/contests.md, "Re-running a draw", as plainly as it reads: a linear walk."""
    lines = csv.decode().splitlines()[1:]
    tickets = [(line.split(",")[0], int(line.split(",")[1])) for line in lines]
    list_hash = hashlib.sha256(csv).hexdigest()
    key = hashlib.sha256(
        bytes.fromhex(seed_hex) + bytes.fromhex(list_hash) + external.encode()
    ).digest()

    def numbers() -> Iterator[int]:
        block = 0
        while True:
            digest = hashlib.sha256(key + block.to_bytes(8, "big")).digest()
            for i in range(4):
                yield int.from_bytes(digest[8 * i : 8 * i + 8], "big")
            block += 1

    source = numbers()

    def below(n: int) -> int:
        while True:
            u = next(source)
            if u < 2**64 - (2**64 % n):
                return u % n

    remaining = list(tickets)
    winners = []
    while remaining and len(winners) < count:
        r = below(sum(weight for _, weight in remaining))
        running = 0
        for index, (entry_id, weight) in enumerate(remaining):
            running += weight
            if running > r:
                winners.append(entry_id)
                del remaining[index]
                break
    return winners


tickets_strategy = st.lists(
    st.tuples(st.integers(0, 10**6), st.integers(1, 50)),
    min_size=0,
    max_size=40,
    unique_by=lambda pair: pair[0],
).map(lambda pairs: [Ticket(f"ent_{n:026d}", w) for n, w in pairs])


@settings(max_examples=150, deadline=None)
@given(
    tickets=tickets_strategy,
    seed=st.binary(min_size=32, max_size=32),
    external=st.one_of(st.none(), st.text(max_size=40)),
    count=st.integers(1, 12),
)
def test_the_network_draws_what_the_documented_algorithm_draws(
    tickets: list[Ticket], seed: bytes, external: str | None, count: int
) -> None:
    data, result = draw.run_draw(seed, tickets, external, count)
    assert list(result.winners) == reference_draw(seed.hex(), data, external or "", count)


@settings(max_examples=150, deadline=None)
@given(
    tickets=tickets_strategy,
    seed=st.binary(min_size=32, max_size=32),
    count=st.integers(1, 60),
)
def test_a_draw_is_deterministic_with_distinct_winners_never_more_than_entrants(
    tickets: list[Ticket], seed: bytes, count: int
) -> None:
    first = draw.run_draw(seed, tickets, "round 42", count)
    again = draw.run_draw(seed, list(reversed(tickets)), "round 42", count)
    assert first == again  # input order does not matter: the list is canonical
    winners = first[1].winners
    assert len(set(winners)) == len(winners) == min(count, len(tickets))
    assert set(winners) <= {t.entry_id for t in tickets}


@settings(max_examples=150, deadline=None)
@given(
    tickets=tickets_strategy.filter(bool),
    which=st.integers(0, 10**6),
    change=st.sampled_from(["weight", "id", "drop", "add"]),
)
def test_changing_one_entry_changes_the_list_hash(
    tickets: list[Ticket], which: int, change: str
) -> None:
    original = draw.list_hash(draw.entry_list_csv(tickets))
    index = which % len(tickets)
    changed = list(tickets)
    victim = changed[index]
    if change == "weight":
        changed[index] = Ticket(victim.entry_id, victim.weight + 1)
    elif change == "id":
        changed[index] = Ticket(victim.entry_id + "X", victim.weight)
    elif change == "drop":
        del changed[index]
    else:
        changed.append(Ticket("ent_ZZZZZZZZZZZZZZZZZZZZZZZZZZ", 1))
    assert draw.list_hash(draw.entry_list_csv(changed)) != original


@settings(max_examples=100, deadline=None)
@given(tickets=tickets_strategy, seed=st.binary(min_size=32, max_size=32))
def test_anyone_reruns_the_draw_from_the_published_values(
    tickets: list[Ticket], seed: bytes
) -> None:
    data, result = draw.run_draw(seed, tickets, None, 3)
    assert draw.parse_entry_list(data) == draw.canonical(tickets)
    check = draw.rerun(draw.commitment(seed), seed.hex(), data, None, 3)
    assert check.commitment_matches
    assert check.result == result
    other_seed = bytes(31) + b"\x01" if seed != bytes(31) + b"\x01" else bytes(32)
    assert not draw.rerun(draw.commitment(seed), other_seed.hex(), data, None, 3).commitment_matches


# --- fixed values: the published example in docs/contests.md ------------------------------------


def test_the_documented_example_draws_these_winners() -> None:
    tickets = [Ticket(i, w) for i, w in zip(_ids(5), [1, 3, 1, 2, 1], strict=True)]
    data, result = draw.run_draw(SEED, tickets, "drand 1234", 2)
    assert data == (
        b"entry_id,weight\n"
        b"ent_00000000000000000000000000,1\n"
        b"ent_00000000000000000000000001,3\n"
        b"ent_00000000000000000000000002,1\n"
        b"ent_00000000000000000000000003,2\n"
        b"ent_00000000000000000000000004,1\n"
    )
    assert draw.commitment(SEED) == (
        "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"
    )
    assert (
        result.list_hash
        == hashlib.sha256(data).hexdigest()
        == ("bb794b13ea6e1f82119466034ba93be3b99850f975ff341467c94da5f70b7669")
    )
    assert result.randomness == ("73a603f3a997ca607d2e85eb1b75142da8eb07772dac1fe10c5be4851e1ecbc4")
    numbers = draw.stream(bytes.fromhex(result.randomness))
    assert [next(numbers), next(numbers)] == [6784387342248646210, 15004642194765500621]
    # r = 6784387342248646210 mod 8 = 2 -> entry …01 (running sums 1, 4); then of 5 tickets
    # left, r = 15004642194765500621 mod 5 = 1 -> entry …02 (running sums 1, 2).
    assert result.winners == (
        "ent_00000000000000000000000001",
        "ent_00000000000000000000000002",
    )
    assert list(result.winners) == reference_draw(SEED.hex(), data, "drand 1234", 2)
    # Changing only the external value changes the randomness (and here the winners).
    _, other = draw.run_draw(SEED, tickets, "drand 1235", 2)
    assert other.randomness != result.randomness


def test_no_entries_no_winners_and_one_entry_always_wins() -> None:
    assert draw.run_draw(SEED, [], None, 3)[1].winners == ()
    assert draw.run_draw(SEED, [Ticket("ent_A", 7)], None, 3)[1].winners == ("ent_A",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"id,weight\nent_A,1\n", "starts with"),
        (b"entry_id,weight\nent_A,1", "line feed"),
        (b"entry_id,weight\nent_B,1\nent_A,1\n", "canonical"),
        (b"entry_id,weight\nent_A,0\n", "weight 0"),
        (b"entry_id,weight\nent_A,01\n", "line 2"),
        (b"entry_id,weight\nent_A,-1\n", "line 2"),
        (b"entry_id,weight\nent_A,1\nent_A,2\n", "twice"),
        (b"entry_id,weight\nent A,1\n", "plain id"),
        (b"entry_id,weight\r\nent_A,1\r\n", "starts with"),
        (b"\xff", "UTF-8"),
    ],
)
def test_a_malformed_entry_list_is_refused_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(DrawError, match=message):
        draw.parse_entry_list(data)


def test_a_malformed_seed_is_refused() -> None:
    with pytest.raises(DrawError):
        draw.seed_from_hex("abc")
    assert draw.seed_from_hex(SEED.hex().upper()) == SEED


# --- fairness -----------------------------------------------------------------------------------


def chi2_sf(statistic: float, df: int) -> float:
    """P(X >= statistic) for chi-square with df degrees of freedom (regularized gamma)."""
    a, x = df / 2, statistic / 2
    if x == 0:
        return 1.0
    if x < a + 1:  # series for the lower incomplete gamma
        term = total = 1 / a
        n = 0
        while abs(term) > 1e-15 * abs(total):
            n += 1
            term *= x / (a + n)
            total += term
        return 1 - total * math.exp(-x + a * math.log(x) - math.lgamma(a))
    # continued fraction for the upper one (Lentz)
    b = x + 1 - a
    c = 1 / 1e-300
    d = 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def test_chi2_helper_matches_known_quantiles() -> None:
    assert chi2_sf(9.488, 4) == pytest.approx(0.05, abs=1e-4)
    assert chi2_sf(30.144, 19) == pytest.approx(0.05, abs=1e-4)
    assert chi2_sf(3.84, 1) == pytest.approx(0.05, abs=1e-3)


def _seeds(count: int) -> list[bytes]:
    # A fixed set: the test gives the same answer on every run.
    return [hashlib.sha256(f"fairness seed {n}".encode()).digest() for n in range(count)]


WEIGHTS = [1, 2, 3, 4, 10]
DRAWS = 20_000


def test_win_frequency_is_proportional_to_entries() -> None:
    """First prize over 20,000 seeds: chi-square goodness of fit against w / Σw."""
    tickets = [Ticket(i, w) for i, w in zip(_ids(len(WEIGHTS)), WEIGHTS, strict=True)]
    wins = Counter(draw.run_draw(seed, tickets, None, 1)[1].winners[0] for seed in _seeds(DRAWS))
    total = sum(WEIGHTS)
    expected = {t.entry_id: DRAWS * t.weight / total for t in tickets}
    statistic = sum((wins[k] - e) ** 2 / e for k, e in expected.items())
    p_value = chi2_sf(statistic, len(WEIGHTS) - 1)
    assert p_value > 0.001, f"chi2={statistic:.2f}, p={p_value:.5f}, wins={dict(wins)}"
    # And it has the power to see a wrong rule: a uniform draw over entrants fails the test.
    uniform = sum((DRAWS / len(WEIGHTS) - e) ** 2 / e for e in expected.values())
    assert chi2_sf(uniform, len(WEIGHTS) - 1) < 1e-9


def test_first_and_second_prizes_follow_drawing_without_replacement() -> None:
    """P(first = i, second = j) = w_i / W · w_j / (W - w_i): chi-square over the 20 pairs."""
    weights = WEIGHTS
    tickets = [Ticket(i, w) for i, w in zip(_ids(len(weights)), weights, strict=True)]
    by_id = {t.entry_id: t.weight for t in tickets}
    seen = Counter(draw.run_draw(seed, tickets, "x", 2)[1].winners for seed in _seeds(DRAWS))
    total = sum(weights)
    statistic = 0.0
    for first, w1 in by_id.items():
        for second, w2 in by_id.items():
            if first == second:
                continue
            expected = DRAWS * w1 / total * w2 / (total - w1)
            statistic += (seen[(first, second)] - expected) ** 2 / expected
    assert chi2_sf(statistic, len(weights) * (len(weights) - 1) - 1) > 0.001, statistic


def test_uniform_below_has_no_modulo_bias() -> None:
    """n = 3·2^62: `u mod n` would land in the lowest third half of the time (2^62 values of
    u map there twice); rejection sampling lands there a third of the time."""
    n = 3 * 2**62
    numbers = draw.stream(b"modulo bias")
    samples = [draw.uniform_below(numbers, n) for _ in range(6000)]
    low = sum(1 for s in samples if s < 2**62) / len(samples)
    assert abs(low - 1 / 3) < 0.03, low  # 3.5 sigma
    naive_numbers = draw.stream(b"modulo bias")
    naive = [next(naive_numbers) % n for _ in range(6000)]
    assert abs(sum(1 for s in naive if s < 2**62) / 6000 - 1 / 2) < 0.03


def test_uniform_below_covers_small_ranges_evenly() -> None:
    numbers = draw.stream(b"small")
    counts = Counter(draw.uniform_below(numbers, 7) for _ in range(14_000))
    statistic = sum((c - 2000) ** 2 / 2000 for c in counts.values())
    assert set(counts) == set(range(7))
    assert chi2_sf(statistic, 6) > 0.001
    assert draw.uniform_below(numbers, 1) == 0
    with pytest.raises(DrawError):
        draw.uniform_below(numbers, 0)


def test_the_python_in_the_docs_reruns_the_worked_example() -> None:
    """docs/contests.md's re-run in Python is the algorithm, not a paraphrase of it."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "contests.md").read_text()
    found = re.search(r"```python\n(.*?)```", doc, re.S)
    assert found is not None
    namespace: dict[str, Any] = {}
    exec(found.group(1), namespace)  # our own documentation, not input
    tickets = [Ticket(i, w) for i, w in zip(_ids(5), [1, 3, 1, 2, 1], strict=True)]
    data, result = draw.run_draw(SEED, tickets, "drand 1234", 2)
    assert namespace["rerun"](SEED.hex(), data, "drand 1234", 2) == list(result.winners)
    for seed in _seeds(50):
        data, result = draw.run_draw(seed, tickets, "", 3)
        assert namespace["rerun"](seed.hex(), data, "", 3) == list(result.winners)
