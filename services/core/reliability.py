"""What an epoch teaches about each node: how often it answers right and how often it judges right.

Estimated by expectation-maximisation over the epoch's rounds (Dawid-Skene), anchored in tasks
whose answer is known:
- E-step: for each round, the posterior of each candidate (``aggregation.posterior``) under the
  current rates. A node is scored against the posterior of everyone *else* in its round, so a
  node cannot confirm itself: its verdicts and its answer count only where the other nodes'
  evidence agrees. On a gold task the truth replaces the posterior, and counts ``GOLD_WEIGHT``
  times; a node asked a gold question that did not answer missed it. Gold tasks feed the
  known-answer record, the others the peer record; a node's rates are the lower of the two
  (``aggregation.rates``), so behaving well only where one is checked does not pay.
- M-step: where the others' posterior names a candidate more likely than not (on a gold task: the
  truth), that candidate is the round's label; a node's answer record gains one observation,
  a hit when it gave the label, and its judge record one per verdict on a pair holding the label,
  a hit when it preferred the label (a tie is half). Hard labels keep the rates apart: soft ones
  from a small swarm pull every node's estimate toward the middle.
The epoch's counts are added to the node's record after the old record has decayed by
``KEEP_BP``, so reliability follows a node that changes, and what an identity banks fades.
All records are integers (thousandths of an observation); the iteration itself is in floats and is
deterministic, so an auditor recomputes the same integers from the bundle.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from services.core import aggregation
from services.core.candidates import candidate_of
from services.core.types import NodeId, Outcome, Reliability

BP = 10_000
KEEP_BP = 8000  # each epoch keeps this share of the record before it
GOLD_WEIGHT = 2.0  # one gold observation counts as this many
ITERATIONS = 8
LABEL_AT = 0.5  # the others' posterior labels a round where its best candidate exceeds this
TWO_FACED_GAP = 0.25  # known-answer rate above the peer rate by this much more than the median ...
TWO_FACED_ALONE = 0.45  # ... or by this much in itself
TWO_FACED_Z = 3.0  # ... and this many standard errors: the node recognises when it is checked
MIN_EVIDENCE = 10  # observations on each side before a node is judged two-faced
MILLI = aggregation.MILLI


@dataclass(frozen=True)
class Observed:
    """One finished round as the estimate reads it."""

    round: aggregation.Round
    gold: bool = False  # the answer is known to the marketplace
    # on a gold task: the right candidate (None: no candidate was right)
    truth: NodeId | None = None
    absent: tuple[NodeId, ...] = ()  # on a gold task: asked, and gave no answer


# node -> the epoch's counts in ``Reliability.values()`` order: peer answer hits and total, peer
# judge hits and total, then the same four on tasks of known answer
Counts = dict[NodeId, list[float]]
GOLD = 4  # where the known-answer half of a counts row starts


def decay(r: Reliability) -> Reliability:
    return Reliability(*(v * KEEP_BP // BP for v in r.values()), distrusted=r.distrusted)


def combine(kept: Reliability, counts: Sequence[float] | None) -> Reliability:
    """``kept`` plus an epoch's counts, in thousandths of an observation (hits never exceed
    total)."""
    if counts is None:
        return kept
    add = [round(x * MILLI) for x in counts]
    for i in range(0, 8, 2):
        add[i] = min(add[i], add[i + 1])
    return Reliability(
        *(k + a for k, a in zip(kept.values(), add, strict=True)), distrusted=kept.distrusted
    )


def _row(out: Counts, node: NodeId) -> list[float]:
    return out.setdefault(node, [0.0] * 8)


def _tally(obs: Observed, rnd: aggregation.Round, out: Counts) -> None:
    weight = GOLD_WEIGHT if obs.gold else 1.0
    at = GOLD if obs.gold else 0
    nodes = candidate_of(rnd.candidates).keys() | {j.judge_id for j in rnd.judgments}
    if obs.gold:
        views: dict[NodeId, NodeId | None] = dict.fromkeys(nodes, obs.truth)
    else:
        views = _leave_one_out(rnd, nodes)
    for c in rnd.candidates:
        for n in c.supporters:
            if obs.gold or views[n] is not None:
                row = _row(out, n)
                row[at] += weight * (views[n] == c.id)
                row[at + 1] += weight
    for n in obs.absent:
        _row(out, n)[at + 1] += weight
    for j in rnd.judgments:
        label = views[j.judge_id]
        if label not in (j.left_id, j.right_id):
            continue  # neither answer is the right one (as far as the others can tell)
        preferred = {Outcome.LEFT: j.left_id, Outcome.RIGHT: j.right_id}.get(j.outcome)
        row = _row(out, j.judge_id)
        row[at + 2] += weight * (0.5 if preferred is None else float(preferred == label))
        row[at + 3] += weight


def _leave_one_out(
    rnd: aggregation.Round, nodes: Sequence[NodeId] | set[NodeId]
) -> dict[NodeId, NodeId | None]:
    """Per node, the candidate every other node's evidence makes most likely, where it makes one
    more likely than not (None where the others cannot tell)."""
    parts = aggregation.contributions(rnd)
    total = dict.fromkeys((c.id for c in rnd.candidates), 0.0)
    for row in parts.values():
        for c, v in row.items():
            total[c] += v
    elsewhere = rnd.forms - len(rnd.candidates)
    out: dict[NodeId, NodeId | None] = {}
    for n in nodes:
        own = parts.get(n, {})
        view = aggregation.softmax({c: v - own.get(c, 0.0) for c, v in total.items()}, elsewhere)[0]
        best = min(view, key=lambda c: (-view[c], c))
        out[n] = best if view[best] > LABEL_AT else None
    return out


def estimate(
    rounds: Sequence[Observed], before: Mapping[NodeId, Reliability], iterations: int = ITERATIONS
) -> dict[NodeId, Reliability]:
    """Each node's record after the epoch: its decayed record plus what the epoch showed."""
    kept = {n: decay(r) for n, r in before.items()}
    counts: Counts = {}
    for _ in range(iterations):
        nodes = set(kept) | set(counts)
        for obs in rounds:
            nodes |= set(obs.round.rates)
        now = {
            n: aggregation.rates(combine(kept.get(n, Reliability()), counts.get(n))) for n in nodes
        }
        fresh: Counts = {}
        for obs in rounds:
            rnd = replace(obs.round, rates={n: now[n] for n in obs.round.rates})
            _tally(obs, rnd, fresh)
        if fresh == counts:
            break
        counts = fresh
    after = {
        n: combine(kept.get(n, Reliability()), counts.get(n))
        for n in sorted(set(kept) | set(counts))
    }
    flagged = two_faced(after)
    return {n: replace(r, distrusted=n in flagged) for n, r in after.items()}


def two_faced(records: Mapping[NodeId, Reliability]) -> set[NodeId]:
    """Nodes that do markedly better where the answer is known than where it is not, beyond what
    the other nodes show: as answerer or as judge, the known-answer rate exceeds the peer rate by
    at least ``TWO_FACED_GAP`` more than the median node's does (or by ``TWO_FACED_ALONE`` in
    itself, should two-faced nodes be many), and by ``TWO_FACED_Z`` standard errors. Every honest
    node's peer record runs a little low (its peers' labels are not always right), by about the
    same for all; a node that recognises the tasks where it is checked does not fit that pattern.
    Nodes with fewer than ``MIN_EVIDENCE`` observations on either side are not judged."""
    flagged: set[NodeId] = set()
    for at in (0, 2):  # the answer records, then the judge records
        gaps: dict[NodeId, tuple[float, float]] = {}
        for n, r in records.items():
            v = r.values()
            hits, total, g_hits, g_total = v[at], v[at + 1], v[GOLD + at], v[GOLD + at + 1]
            if total < MIN_EVIDENCE * MILLI or g_total < MIN_EVIDENCE * MILLI:
                continue
            pooled = (hits + g_hits) / (total + g_total)
            spread = math.sqrt(max(pooled * (1 - pooled), 1e-9) * (MILLI / total + MILLI / g_total))
            gaps[n] = (g_hits / g_total - hits / total, spread)
        usual = statistics.median(g for g, _ in gaps.values()) if len(gaps) >= 3 else 0.0
        flagged |= {
            n
            for n, (gap, spread) in gaps.items()
            if (gap - usual >= TWO_FACED_GAP and (gap - usual) / spread >= TWO_FACED_Z)
            or (gap >= TWO_FACED_ALONE and gap / spread >= TWO_FACED_Z)
        }
    return flagged
