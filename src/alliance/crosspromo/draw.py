"""Verifiable contest draws: commitment, entry list, randomness, weighted draw. Pure.

Everything here is a function of published values, so anyone can re-run a draw with this
module, `alliance contests verify`, or their own code following docs/contests.md:

1. Before entries open the network publishes `commitment = SHA-256(seed)` (hex) of a secret
   32-byte seed.
2. At close the entry list is written canonically (`entry_list_csv`): the header line
   `entry_id,weight`, then one line `{entry id},{weight}` per verified entry, sorted by entry
   id (byte order), every line ending in LF, UTF-8. `list_hash = SHA-256(those bytes)` (hex).
3. `randomness = SHA-256(seed ‖ list_hash ‖ external)`: the 32 seed bytes, the 32 bytes of the
   list hash, then the UTF-8 bytes of the external public value (a drand round's randomness,
   say) exactly as published, or nothing when the contest has none.
4. A deterministic stream of 64-bit integers: block i = SHA-256(randomness ‖ i as 8 bytes
   big-endian) for i = 0, 1, 2, …; each block gives four integers, its bytes 0-7, 8-15, 16-23,
   24-31 read big-endian.
5. A uniform integer below n takes stream integers u until u < 2^64 - (2^64 mod n) and answers
   u mod n: values past the last whole multiple of n are thrown away, so there is no modulo
   bias (rejection sampling).
6. Winners, without replacement: r = uniform below the total weight of the tickets still in;
   walking those tickets in list order and adding their weights, the winner is the first whose
   running sum exceeds r; it leaves the list; repeat until there are as many winners as the
   contest has prizes or no tickets are left.

Why each step: the commitment fixes the seed before anyone can see entries (the network cannot
pick a seed that favours an entry it knows of); the list hash fixes the entries before the seed
is revealed (the network cannot add or drop entries after learning the outcome without
changing a published hash); the external value, drawn by a third party after close, means
even the holder of the seed could not have predicted the result while entries were open.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

SEED_BYTES = 32
HEADER = "entry_id,weight\n"
# Entry ids are public ids (`ent_` + 26 Crockford base32 characters), so a line never needs
# CSV quoting; any id made of these characters re-runs the same way.
_ENTRY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
U64 = 1 << 64
# The total weight must fit the 64-bit stream (a contest never comes near it).
MAX_TOTAL_WEIGHT = U64 - 1


class DrawError(ValueError):
    """Published values that cannot be re-run: a malformed list, seed or hash."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """One verified entry and how many entries it counts for (1 + its referral bonus)."""

    entry_id: str
    weight: int


@dataclass(frozen=True, slots=True)
class DrawResult:
    list_hash: str  # hex SHA-256 of the canonical entry list
    randomness: str  # hex SHA-256(seed ‖ list hash ‖ external)
    winners: tuple[str, ...]  # entry ids, in the order drawn (first prize first)


@dataclass(frozen=True, slots=True)
class Verification:
    commitment_matches: bool  # SHA-256(seed) is the published commitment
    result: DrawResult


# --- the seed and its commitment ------------------------------------------------------------


def new_seed() -> bytes:
    return secrets.token_bytes(SEED_BYTES)


def commitment(seed: bytes) -> str:
    """SHA-256 of the seed, hex: published before entries open."""
    return hashlib.sha256(seed).hexdigest()


def seed_from_hex(text: str) -> bytes:
    value = text.strip().lower()
    if not _HEX64.match(value):
        raise DrawError("the seed is 64 hexadecimal characters (32 bytes)")
    return bytes.fromhex(value)


# --- the entry list -------------------------------------------------------------------------


def _check_ticket(ticket: Ticket) -> None:
    if not _ENTRY_ID.match(ticket.entry_id):
        raise DrawError(f"entry id {ticket.entry_id[:70]!r} is not a plain id")
    if ticket.weight < 1:
        raise DrawError(f"entry {ticket.entry_id} has weight {ticket.weight}: at least 1")


def canonical(tickets: Iterable[Ticket]) -> list[Ticket]:
    """The tickets in list order (entry id, byte order); an id may appear once."""
    ordered = sorted(tickets, key=lambda t: t.entry_id.encode())
    for ticket in ordered:
        _check_ticket(ticket)
    for before, after in itertools.pairwise(ordered):
        if before.entry_id == after.entry_id:
            raise DrawError(f"entry {after.entry_id} appears twice")
    if sum(t.weight for t in ordered) > MAX_TOTAL_WEIGHT:
        raise DrawError("the total weight does not fit 64 bits")
    return ordered


def entry_list_csv(tickets: Iterable[Ticket]) -> bytes:
    """The published entry list, byte for byte: what is hashed and what anyone downloads."""
    lines = [f"{t.entry_id},{t.weight}\n" for t in canonical(tickets)]
    return (HEADER + "".join(lines)).encode()


def parse_entry_list(data: bytes) -> list[Ticket]:
    """The tickets of a published list; it must be canonical (what `entry_list_csv` writes),
    so that a file that re-runs is also the file whose hash was published."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DrawError("the entry list is not UTF-8") from None
    if not text.startswith(HEADER):
        raise DrawError(f"the entry list starts with the line {HEADER.strip()!r}")
    body = text[len(HEADER) :]
    if body and not body.endswith("\n"):
        raise DrawError("every line of the entry list ends with a line feed")
    tickets: list[Ticket] = []
    for number, line in enumerate(body.splitlines(), start=2):
        entry_id, comma, weight = line.partition(",")
        if not comma or not weight.isdigit() or weight != str(int(weight)):
            raise DrawError(f"line {number}: expected `entry_id,weight`, got {line[:80]!r}")
        tickets.append(Ticket(entry_id, int(weight)))
    if entry_list_csv(tickets) != data:
        raise DrawError("the entry list is not in canonical order (sorted by entry id)")
    return tickets


def list_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- randomness and the stream --------------------------------------------------------------


def randomness(seed: bytes, entries_hash: str, external: str | None) -> bytes:
    """SHA-256(seed ‖ list hash ‖ external value): the draw's only source of chance."""
    if len(seed) != SEED_BYTES:
        raise DrawError("the seed is 32 bytes")
    if not _HEX64.match(entries_hash):
        raise DrawError("the list hash is 64 lower-case hexadecimal characters")
    material = seed + bytes.fromhex(entries_hash) + (external or "").encode("utf-8")
    return hashlib.sha256(material).digest()


def stream(key: bytes) -> Iterator[int]:
    """64-bit integers from SHA-256 in counter mode: block i = SHA-256(key ‖ i, 8 bytes BE)."""
    counter = 0
    while True:
        block = hashlib.sha256(key + counter.to_bytes(8, "big")).digest()
        for start in range(0, 32, 8):
            yield int.from_bytes(block[start : start + 8], "big")
        counter += 1


def uniform_below(numbers: Iterator[int], n: int) -> int:
    """A uniform integer in [0, n) by rejection: no modulo bias for any n up to 2^64."""
    if not 1 <= n <= U64:
        raise DrawError(f"cannot draw below {n}")
    limit = U64 - (U64 % n)  # the largest multiple of n not above 2^64
    for value in numbers:
        if value < limit:
            return value % n
    raise AssertionError("the stream is infinite")  # pragma: no cover


# --- the weighted draw ----------------------------------------------------------------------


class _Fenwick:
    """Prefix sums of weights with removal in O(log n): the same answers as the linear walk
    of step 6 (docs/contests.md), fast enough for 100,000 entries and many prizes."""

    def __init__(self, weights: Sequence[int]) -> None:
        self.size = len(weights)
        self.tree = [0] * (self.size + 1)
        for index, weight in enumerate(weights, start=1):
            self.tree[index] += weight
            parent = index + (index & -index)
            if parent <= self.size:
                self.tree[parent] += self.tree[index]
        self.step = 1 << max(self.size.bit_length() - 1, 0) if self.size else 0

    def add(self, position: int, delta: int) -> None:
        index = position + 1
        while index <= self.size:
            self.tree[index] += delta
            index += index & -index

    def find(self, target: int) -> int:
        """The first position whose running sum exceeds `target` (0 <= target < total)."""
        index, remaining, step = 0, target, self.step
        while step:
            nxt = index + step
            if nxt <= self.size and self.tree[nxt] <= remaining:
                index = nxt
                remaining -= self.tree[nxt]
            step >>= 1
        return index  # 0-based: positions before it sum to <= target, it takes the sum past


def draw_winners(tickets: Iterable[Ticket], key: bytes, count: int) -> tuple[str, ...]:
    """`count` distinct winners (fewer if fewer tickets), weighted, in the order drawn."""
    ordered = canonical(tickets)
    weights = [t.weight for t in ordered]
    tree = _Fenwick(weights)
    total = sum(weights)
    numbers = stream(key)
    winners: list[str] = []
    for _ in range(min(count, len(ordered))):
        position = tree.find(uniform_below(numbers, total))
        winners.append(ordered[position].entry_id)
        tree.add(position, -weights[position])
        total -= weights[position]
    return tuple(winners)


def run_draw(
    seed: bytes, tickets: Iterable[Ticket], external: str | None, count: int
) -> tuple[bytes, DrawResult]:
    """The draw the network makes at close: (the published list's bytes, the result)."""
    data = entry_list_csv(tickets)
    digest = list_hash(data)
    key = randomness(seed, digest, external)
    winners = draw_winners(parse_entry_list(data), key, count)
    return data, DrawResult(digest, key.hex(), winners)


def rerun(
    published_commitment: str, seed_hex: str, entries: bytes, external: str | None, count: int
) -> Verification:
    """Re-run a draw from its published values, as anyone can."""
    seed = seed_from_hex(seed_hex)
    matches = hmac.compare_digest(commitment(seed), published_commitment.strip().lower())
    tickets = parse_entry_list(entries)
    digest = list_hash(entries)
    key = randomness(seed, digest, external)
    return Verification(matches, DrawResult(digest, key.hex(), draw_winners(tickets, key, count)))
