"""Who judges which pair of answers.

Every unordered pair of answers is judged in both presentation orders (to cancel position bias),
each order by a different judge where one exists, and never by a node that wrote either answer.
Judges are assigned least-loaded first, so the work spreads evenly. Deterministic for a given input.
"""

from __future__ import annotations

from itertools import combinations

from services.core.types import NodeId, PairAssignment


def round_robin(answerers: list[NodeId], judges: list[NodeId]) -> list[PairAssignment]:
    """Full round robin over ``answerers``; judges drawn from ``judges`` (may overlap answerers)."""
    load = {j: 0 for j in sorted(set(judges))}
    out: list[PairAssignment] = []
    for a, b in combinations(sorted(set(answerers)), 2):
        used: set[NodeId] = set()
        for left, right in ((a, b), (b, a)):
            eligible = [j for j in load if j not in (a, b)]
            if not eligible:
                continue
            fresh = [j for j in eligible if j not in used] or eligible
            judge = min(fresh, key=lambda j: (load[j], j))
            load[judge] += 1
            used.add(judge)
            out.append(PairAssignment(judge_id=judge, left_id=left, right_id=right))
    return _rebalance(out, load)


def _rebalance(pairs: list[PairAssignment], load: dict[NodeId, int]) -> list[PairAssignment]:
    """Move assignments from the busiest judge to the idlest while that is allowed."""
    while load:
        hi = max(load, key=lambda j: (load[j], j))
        lo = min(load, key=lambda j: (load[j], j))
        if load[hi] - load[lo] <= 1:
            break
        for i, p in enumerate(pairs):
            other_order = {q.judge_id for q in pairs if {q.left_id, q.right_id} == {p.left_id, p.right_id}}
            if p.judge_id == hi and lo not in (p.left_id, p.right_id) and lo not in other_order:
                pairs[i] = PairAssignment(judge_id=lo, left_id=p.left_id, right_id=p.right_id)
                load[hi] -= 1
                load[lo] += 1
                break
        else:
            break
    return pairs
