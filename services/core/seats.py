"""Seats in a swarm, in proportion to stake, so that splitting a stake never pays.

A swarm of ``m`` seats is drawn by systematic sampling with probability proportional to stake: the
eligible identities, in an order shuffled by the seed, lie end to end on [0, m) with lengths
``m * stake / total``; the seats are the points ``u, u + 1, ..., u + m - 1`` for one uniform ``u``
in [0, 1). An identity holds as many seats as points fall in its stretch, so its expected seats
are exactly ``m * stake / total``: k identities holding s between them expect the seats of one
identity holding s. An identity with less than ``total / m`` gets at most one seat, one with more
gets at least ``floor(m * stake / total)``; the seats always add up to ``m``.

A Sybil cluster (``sybil``) stands on the line as one identity with its members' summed stake;
its seats go to one member, drawn in proportion to stake, so a cluster answers once per round.
Where nobody has staked (a fresh development stack) every identity counts as staking 1.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Mapping
from fractions import Fraction

from services.core.errors import Invalid
from services.core.types import NodeId

RESOLUTION = 10**12  # u is drawn on this grid


def draw(
    stakes: Mapping[NodeId, int],
    seats: int,
    *,
    seed: int,
    clusters: Iterable[Collection[NodeId]] = (),
) -> dict[NodeId, int]:
    """Seats per identity (only those holding one), adding up to ``seats``; deterministic per
    seed."""
    if seats < 1:
        raise Invalid("a swarm needs at least one seat")
    if any(s < 0 for s in stakes.values()):
        raise Invalid("stake cannot be negative")
    if not stakes:
        return {}
    weights = dict(stakes) if any(stakes.values()) else dict.fromkeys(stakes, 1)
    rng = random.Random(seed)
    units: list[tuple[NodeId, ...]] = []
    seen: set[NodeId] = set()
    for c in clusters:
        members = tuple(sorted(m for m in set(c) if m in weights and m not in seen))
        if members:
            units.append(members)
            seen.update(members)
    units += [(n,) for n in sorted(weights) if n not in seen]
    units = [u for u in units if sum(weights[m] for m in u) > 0]
    rng.shuffle(units)
    total = sum(weights[m] for u in units for m in u)
    point = Fraction(rng.randrange(RESOLUTION), RESOLUTION)
    start = Fraction(0)
    out: dict[NodeId, int] = {}
    for unit in units:
        end = start + Fraction(seats * sum(weights[m] for m in unit), total)
        held = _points_in(start, end, point, seats)
        if held:
            holder = unit[0] if len(unit) == 1 else _pick(unit, weights, rng)
            out[holder] = out.get(holder, 0) + held
        start = end
    return out


def _points_in(start: Fraction, end: Fraction, u: Fraction, count: int) -> int:
    """How many of u, u + 1, ..., u + count - 1 lie in [start, end)."""
    first = max(0, -((u - start) // 1))  # smallest k with u + k >= start
    last = min(count - 1, (end - u) // 1 - (1 if (end - u) % 1 == 0 else 0))  # largest k < end - u
    return max(0, int(last) - int(first) + 1)


def _pick(unit: tuple[NodeId, ...], weights: Mapping[NodeId, int], rng: random.Random) -> NodeId:
    total = sum(weights[m] for m in unit)
    x = rng.randrange(total)
    for m in unit:
        x -= weights[m]
        if x < 0:
            return m
    return unit[-1]
