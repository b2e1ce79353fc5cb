"""Which candidate is right: supporters and pairwise verdicts, each weighted by reliability.

The model (Dawid-Skene over one round, with one right answer):
- the right answer is one of the task's ``forms`` possible answers (the options of a multiple-choice
  task; ``FREE_TEXT_FORMS`` for a free answer), each equally likely beforehand;
- a node answers right with probability ``a`` (its answer rate); a wrong answer lands on any of the
  ``forms - 1`` wrong forms alike;
- a judge shown the right answer beside a wrong one prefers the right one with probability ``b``
  (its judge rate); between two wrong answers, or when it calls a tie, its verdict says nothing.
Under these assumptions the posterior of "candidate c is right" is a softmax of its log-evidence,

    sum over c's supporters of seats * log(a (forms - 1) / (1 - a))
  + sum over verdicts preferring c to another candidate of seats * log(2 b)
  + sum over verdicts preferring another candidate to c of seats * log(2 (1 - b)),

against the forms nobody gave (log-evidence 0 each), which hold the chance that the right answer
is not among the candidates. When judges carry no information (b = 1/2) the verdict terms vanish
and the pick is a reliability-weighted vote; when they do, they count in proportion to how well
they judge. Rates are clamped to [1/forms, MAX_RATE] and [1/2, MAX_RATE], so a node below chance
adds nothing rather than counting in reverse, and no single node can settle a round alone.

Seats (drawn in proportion to stake) multiply a node's terms, so one identity holding stake s and
k identities holding s between them carry the same weight in expectation.

A node's rates come from its ``Reliability`` records (``rates``).
The rates a round used are kept with it in parts per million (``Rates``), so an auditor recomputes
the posterior exactly from the bundle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.core.errors import Invalid
from services.core.types import Candidate, Judgment, NodeId, Outcome, RankEntry, Reliability

PPM = 1_000_000
FREE_TEXT_FORMS = 10  # a free answer's wrong answers are taken to spread over this many forms
ANSWER_PRIOR = 0.5  # what a node with no record is taken to answer right ...
JUDGE_PRIOR = 0.6  # ... and to judge right
PRIOR_WEIGHT = 2.0  # the priors weigh as this many observations
MAX_RATE = 0.97
CONFIDENT = 0.95  # a round is decided when its winner's posterior reaches this
MILLI = 1000  # Reliability records count thousandths of an observation


@dataclass(frozen=True)
class Rates:
    """A node's answer and judge rates as a round used them, in parts per million."""

    answer_ppm: int
    judge_ppm: int

    def __post_init__(self) -> None:
        if not (0 < self.answer_ppm < PPM and 0 < self.judge_ppm < PPM):
            raise Invalid("rates lie strictly between 0 and 1,000,000 parts per million")


def _shrunk(hits: int, total: int, prior: float) -> float:
    return (hits / MILLI + prior * PRIOR_WEIGHT) / (total / MILLI + PRIOR_WEIGHT)


def trusted(rel: Reliability) -> bool:
    """False for a node found two-faced at an epoch's close (``reliability.two_faced``): it
    carries no weight and holds no seat until a later close clears it."""
    return not rel.distrusted


def rates(rel: Reliability) -> Rates:
    """A node's rates in parts per million: the lower of its peer record and its pooled record
    (peer and known-answer together), each shrunk toward the prior. Tasks of known answer can
    only pull a node down: one whose peers vouch for it but that misses where the answer is known
    is trusted as its pooled record says. A distrusted node carries no weight at all."""
    v = rel.values()
    if not trusted(rel):
        return Rates(1, 1)
    a = min(
        _shrunk(v[0], v[1], ANSWER_PRIOR),
        _shrunk(v[0] + v[4], v[1] + v[5], ANSWER_PRIOR),
    )
    b = min(
        _shrunk(v[2], v[3], JUDGE_PRIOR),
        _shrunk(v[2] + v[6], v[3] + v[7], JUDGE_PRIOR),
    )
    return Rates(min(max(round(a * PPM), 1), PPM - 1), min(max(round(b * PPM), 1), PPM - 1))


def answer_weight(r: Rates, forms: int) -> float:
    """Log-evidence one seat of a supporter adds to its candidate."""
    a = min(max(r.answer_ppm / PPM, 1.0 / forms), MAX_RATE)
    return math.log(a * (forms - 1) / (1.0 - a))


def verdict_weights(r: Rates) -> tuple[float, float]:
    """Log-evidence one seat of a verdict adds to the preferred candidate, and to the other."""
    b = min(max(r.judge_ppm / PPM, 0.5), MAX_RATE)
    return math.log(2.0 * b), math.log(2.0 * (1.0 - b))


@dataclass(frozen=True)
class Round:
    """What the aggregation reads of one round."""

    candidates: tuple[Candidate, ...]
    judgments: tuple[Judgment, ...]
    rates: Mapping[NodeId, Rates]
    seats: Mapping[NodeId, int]
    forms: int

    def __post_init__(self) -> None:
        if self.forms < 2:
            raise Invalid("a task has at least two possible answers")
        if len(self.candidates) > self.forms:
            raise Invalid(f"{len(self.candidates)} candidates for a task of {self.forms} forms")
        ids = {c.id for c in self.candidates}
        for j in self.judgments:
            if j.left_id not in ids or j.right_id not in ids:
                raise Invalid("a verdict names an answer that is not a candidate of the round")


def contributions(rnd: Round) -> dict[NodeId, dict[NodeId, float]]:
    """Per node, the log-evidence it adds to each candidate (as supporter and as judge)."""
    out: dict[NodeId, dict[NodeId, float]] = {}
    for c in rnd.candidates:
        for n in c.supporters:
            w = rnd.seats.get(n, 1) * answer_weight(rnd.rates[n], rnd.forms)
            out.setdefault(n, {})[c.id] = out.get(n, {}).get(c.id, 0.0) + w
    for j in rnd.judgments:
        if j.outcome is Outcome.TIE:
            continue
        for_w, against_w = verdict_weights(rnd.rates[j.judge_id])
        seats = rnd.seats.get(j.judge_id, 1)
        won, lost = (
            (j.left_id, j.right_id) if j.outcome is Outcome.LEFT else (j.right_id, j.left_id)
        )
        row = out.setdefault(j.judge_id, {})
        row[won] = row.get(won, 0.0) + seats * for_w
        row[lost] = row.get(lost, 0.0) + seats * against_w
    return out


def softmax(evidence: Mapping[NodeId, float], elsewhere: int) -> tuple[dict[NodeId, float], float]:
    """Probabilities from log-evidence, with ``elsewhere`` further forms at log-evidence 0."""
    top = max([0.0, *evidence.values()])
    weights = {k: math.exp(v - top) for k, v in evidence.items()}
    rest = elsewhere * math.exp(-top)
    total = sum(weights.values()) + rest
    return {k: w / total for k, w in weights.items()}, rest / total


@dataclass(frozen=True)
class Posterior:
    probability: dict[NodeId, float]  # candidate id -> P(it is the right answer)
    elsewhere: float  # P(the right answer is none of the candidates)

    def ranking(self) -> tuple[RankEntry, ...]:
        """Candidates best first (equal probabilities share a rank; ties order by id)."""
        order = sorted(self.probability, key=lambda c: (-self.probability[c], c))
        out: list[RankEntry] = []
        for i, c in enumerate(order):
            p = self.probability[c]
            tied = bool(out) and math.isclose(out[-1].score, p, rel_tol=1e-12, abs_tol=1e-15)
            out.append(RankEntry(c, p, out[-1].rank if tied else i + 1))
        return tuple(out)

    def credible_set(self, level: float = CONFIDENT) -> list[NodeId]:
        """The fewest candidates, best first, whose probabilities reach ``level`` (all of them
        when even all together fall short: the rest lies outside the candidates)."""
        out: list[NodeId] = []
        mass = 0.0
        for e in self.ranking():
            if mass >= level:
                break
            out.append(e.node_id)
            mass += e.score
        return out

    @property
    def decided(self) -> bool:
        """The winner alone reaches ``CONFIDENT``: its credible set is the winner."""
        top = max(self.probability.values(), default=0.0)
        return top >= CONFIDENT


def posterior(rnd: Round, without: NodeId | None = None) -> Posterior:
    """P(each candidate is right) given the round; ``without``: leave that node's terms out."""
    evidence = dict.fromkeys((c.id for c in rnd.candidates), 0.0)
    for node, row in contributions(rnd).items():
        if node == without:
            continue
        for c, v in row.items():
            evidence[c] += v
    probability, elsewhere = softmax(evidence, rnd.forms - len(rnd.candidates))
    return Posterior(probability, elsewhere)


def forms_of(options: Sequence[str] | None, candidates: int) -> int:
    """How many possible answers a task has: its options; for free text ``FREE_TEXT_FORMS``, or
    one more than the candidates when more distinct answers came."""
    return len(options) if options is not None else max(FREE_TEXT_FORMS, candidates + 1)


def round_of(
    candidates: Sequence[Candidate],
    judgments: Sequence[Judgment],
    rates: Mapping[NodeId, Rates],
    seats: Mapping[NodeId, int],
    options: Sequence[str] | None,
) -> Round:
    """A task's round, its number of possible answers taken from its options."""
    return Round(
        tuple(candidates), tuple(judgments), rates, seats, forms_of(options, len(candidates))
    )
