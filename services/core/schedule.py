"""Who judges which pair of answers.

Every scheduled pair of answers is judged in both presentation orders (to cancel position bias),
each order by a different judge where one exists, and never by a node that wrote either answer.
Judges are assigned least-loaded first, then moved from the busiest to the idlest while allowed,
so the work spreads evenly. Deterministic for a given input.

Two schedules: the full round robin (every pair; n(n-1) judgments) for small swarms, and
Fortytwo's sparse schedule for larger ones: a chain through all n answers (n-1 pairs, so the
comparison graph is connected) plus a matching of floor(n/2) further pairs, each in both orders,
2(n-1) + 2*floor(n/2) judgments in all.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Mapping, Sequence
from itertools import combinations

from services.core.errors import Invalid
from services.core.types import Candidate, NodeId, PairAssignment

# Swarms up to this size get the full round robin from ``schedule``; larger ones the sparse one.
FULL_UP_TO = 6


def schedule(
    answerers: Sequence[NodeId],
    judges: Sequence[NodeId],
    *,
    full_up_to: int = FULL_UP_TO,
    seed: int = 0,
) -> list[PairAssignment]:
    """The full round robin for up to ``full_up_to`` answers, else the sparse schedule."""
    if len(set(answerers)) <= full_up_to:
        return round_robin(answerers, judges)
    return sparse(answerers, judges, seed=seed)


def round_robin(answerers: Sequence[NodeId], judges: Sequence[NodeId]) -> list[PairAssignment]:
    """Full round robin over ``answerers``; judges drawn from ``judges`` (may overlap answerers)."""
    return assign(list(combinations(sorted(set(answerers)), 2)), judges)


def sparse(
    answerers: Sequence[NodeId], judges: Sequence[NodeId], *, seed: int = 0
) -> list[PairAssignment]:
    """Fortytwo's sparse schedule over ``answerers`` placed in an order shuffled by ``seed``."""
    order = sorted(set(answerers))
    random.Random(seed).shuffle(order)
    return assign([(order[i], order[j]) for i, j in sparse_pairs(len(order))], judges)


def sparse_pairs(n: int) -> list[tuple[int, int]]:
    """Positions paired by the sparse schedule: the chain i - i+1, then i - i+ceil(n/2).

    For n >= 3 the matching pairs are distinct from the chain's (they are at least 2 apart) and
    from each other; for n = 2 the one pair appears twice, so it is still judged four times.
    """
    chain = [(i, i + 1) for i in range(n - 1)]
    half = (n + 1) // 2
    matching = [(i, i + half) for i in range(n // 2)]
    return chain + matching


def assign(
    pairs: Sequence[tuple[NodeId, NodeId]], judges: Sequence[NodeId]
) -> list[PairAssignment]:
    """Both orders of every pair, each to an eligible judge; a pair with none is left out."""
    pool = sorted(set(judges))
    load = dict.fromkeys(pool, 0)
    heap = [(0, j) for j in pool]  # (load, judge), exactly one entry per judge
    out: list[PairAssignment] = []
    for a, b in pairs:
        used: set[NodeId] = set()
        for left, right in ((a, b), (b, a)):
            judge = _least_loaded(heap, exclude=(a, b), avoid=used)
            if judge is None:
                break
            load[judge] += 1
            heapq.heappush(heap, (load[judge], judge))
            used.add(judge)
            out.append(PairAssignment(judge_id=judge, left_id=left, right_id=right))
    return _rebalance(out, load)


def _least_loaded(
    heap: list[tuple[int, NodeId]], *, exclude: tuple[NodeId, NodeId], avoid: set[NodeId]
) -> NodeId | None:
    """Pop the least-loaded eligible judge, preferring one not in ``avoid``; None if none is."""
    skipped: list[tuple[int, NodeId]] = []
    chosen: tuple[int, NodeId] | None = None
    fallback: tuple[int, NodeId] | None = None
    while heap:
        entry = heapq.heappop(heap)
        if entry[1] in exclude:
            skipped.append(entry)
        elif entry[1] in avoid:
            fallback = fallback or entry
            skipped.append(entry)
        else:
            chosen = entry
            break
    if chosen is None and fallback is not None:
        skipped.remove(fallback)
        chosen = fallback
    for entry in skipped:
        heapq.heappush(heap, entry)
    return None if chosen is None else chosen[1]


def _rebalance(pairs: list[PairAssignment], load: dict[NodeId, int]) -> list[PairAssignment]:
    """Move assignments from the busiest judges to the idlest while that is allowed."""
    others: dict[frozenset[NodeId], list[int]] = {}  # unordered pair -> indices of its judgments
    for i, p in enumerate(pairs):
        others.setdefault(frozenset((p.left_id, p.right_id)), []).append(i)
    while load:
        top, bottom = max(load.values()), min(load.values())
        if top - bottom <= 1:
            break
        moved = False
        for lo in (j for j in sorted(load) if load[j] == bottom):
            for i, p in enumerate(pairs):
                if load[p.judge_id] != top or lo in (p.left_id, p.right_id):
                    continue
                pair = frozenset((p.left_id, p.right_id))
                if any(pairs[k].judge_id == lo for k in others[pair]):
                    continue
                load[p.judge_id] -= 1
                load[lo] += 1
                pairs[i] = PairAssignment(judge_id=lo, left_id=p.left_id, right_id=p.right_id)
                moved = True
                break
            if moved:
                break
        if not moved:
            break
    return pairs


# Each seat judges about this many ordered pairs of candidates in a round.
JUDGMENTS_PER_SEAT = 3


def plan(
    candidates: Sequence[Candidate],
    seats: Mapping[NodeId, int],
    *,
    seed: int = 0,
    per_seat: int = JUDGMENTS_PER_SEAT,
    full_up_to: int = FULL_UP_TO,
) -> list[PairAssignment]:
    """Who judges which pair of a round's candidates.

    The pairs are the full round robin over up to ``full_up_to`` candidates, else the sparse
    schedule; each is judged in both orders, and the pairs are dealt again until the round holds
    about ``per_seat`` verdicts per seat (so a swarm of 8 or 16 judges enough to add information
    over the vote). A node never judges its own answer (the one that stands for a candidate) nor
    the same ordered pair twice. A pair goes first to judges that support neither of its
    candidates, then to judges that have not seen it in either order, then to the judge with the
    fewest verdicts per seat; supporters of a candidate judge it only where neutral judges run
    out (on a multiple-choice task every node supports some candidate). Deterministic.
    """
    ids = sorted(c.id for c in candidates)
    if len(ids) < 2:
        return []
    if len(ids) <= full_up_to:
        pairs = list(combinations(ids, 2))
    else:
        order = list(ids)
        random.Random(seed).shuffle(order)
        pairs = [(order[i], order[j]) for i, j in sparse_pairs(len(order))]
    own = {n: c.id for c in candidates for n in c.supporters}
    judges = sorted(n for n in seats if seats[n] > 0)
    budget = per_seat * sum(seats[j] for j in judges)
    load = dict.fromkeys(judges, 0)
    seen: dict[frozenset[NodeId], set[NodeId]] = {}
    done: set[tuple[NodeId, NodeId, NodeId]] = set()
    out: list[PairAssignment] = []
    while len(out) < budget:
        dealt = len(out)
        for a, b in pairs:
            for left, right in ((a, b), (b, a)):
                if len(out) >= budget:
                    break
                met = seen.setdefault(frozenset((a, b)), set())
                able = [j for j in judges if j not in (a, b) and (j, left, right) not in done]
                if not able:
                    continue
                judge = min(
                    able, key=lambda j: (own.get(j) in (a, b), j in met, load[j] / seats[j], j)
                )
                load[judge] += 1
                met.add(judge)
                done.add((judge, left, right))
                out.append(PairAssignment(judge, left, right))
        if len(out) == dealt:  # every judge has judged every pair it may
            break
    return out


def check_judge(judge_id: NodeId, left_id: NodeId, right_id: NodeId) -> None:
    """Invalid unless ``judge_id`` may judge the pair (``left_id``, ``right_id``): two different
    nodes, neither of them the judge (a verdict stored against this rule is refused)."""
    if judge_id in (left_id, right_id):
        raise Invalid(
            f"node {judge_id} cannot judge a pair that holds its own answer",
            hint="judges are assigned pairs of other nodes' answers",
        )
    if left_id == right_id:
        raise Invalid(f"a pair needs two different nodes, got {left_id} twice")
