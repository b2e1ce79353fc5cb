"""Reputation anchored in questions with known answers, calibration and outlier judges.

A node's ``Reputation`` holds two numbers in basis points: ``score`` (what the market uses) and
``anchor`` (an exponential moving average of its accuracy on questions with known answers: the
calibration at registration and the hidden gold questions mixed into rounds). Each epoch the score
moves toward the node's evidence: gold accuracy with the largest rate, judged answer quality (share
of other answers its answers beat) and judging agreement with consensus with smaller ones, each
scaled by how much evidence there is (``n / (n + pseudo_count)``). The score can never exceed
``anchor + anchor_margin_bp``: agreement with a swarm, which colluders can manufacture, cannot lift
a node above what its gold record supports. An idle epoch decays both numbers toward the prior,
which bounds what an identity can bank and later spend (MeritRank).

All arithmetic is exact (integers and fractions, rounded down at the end); the p-values reported as
floats are evidence for people, while every decision is taken on the exact value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from services.core.consensus import JudgedPair, Tally
from services.core.errors import Invalid
from services.core.types import NodeId

BP = 10_000


@dataclass(frozen=True)
class ReputationConfig:
    prior_bp: int = 5000  # where a new or idle identity stands
    gold_rate_bp: int = 5000  # how far one epoch of gold evidence moves the score toward it
    quality_rate_bp: int = 1500  # ... judged answer quality
    agreement_rate_bp: int = 1500  # ... judging agreement with consensus
    anchor_rate_bp: int = 5000  # how far one epoch of gold evidence moves the anchor
    pseudo_count: int = 10  # evidence of n observations moves at rate * n / (n + pseudo_count)
    anchor_margin_bp: int = 1000  # the score never exceeds anchor + margin
    decay_bp: int = 1000  # an idle epoch moves both numbers this fraction of the way to the prior

    def __post_init__(self) -> None:
        bps = (
            self.prior_bp,
            self.gold_rate_bp,
            self.quality_rate_bp,
            self.agreement_rate_bp,
            self.anchor_rate_bp,
            self.anchor_margin_bp,
            self.decay_bp,
        )
        if any(not 0 <= v <= BP for v in bps):
            raise Invalid("reputation settings in basis points must lie in [0, 10000]")
        if self.gold_rate_bp + self.quality_rate_bp + self.agreement_rate_bp > BP:
            raise Invalid("the three evidence rates must add up to at most 10000 basis points")
        if self.pseudo_count < 0:
            raise Invalid("pseudo_count must be non-negative")


@dataclass(frozen=True)
class Reputation:
    score_bp: int
    anchor_bp: int

    def __post_init__(self) -> None:
        if not (0 <= self.score_bp <= BP and 0 <= self.anchor_bp <= BP):
            raise Invalid("reputation lies in [0, 10000] basis points")

    def fixed18(self) -> int:
        """The score in 1e18 fixed point, as the chain stores it."""
        return self.score_bp * 10**14


@dataclass(frozen=True)
class Evidence:
    """One node's record over one epoch."""

    gold: Tally = field(
        default_factory=Tally
    )  # correct answers and correct verdicts on questions with known answers
    quality: Tally = field(
        default_factory=Tally
    )  # other answers its answers ranked above, of those it met
    agreement: Tally = field(
        default_factory=Tally
    )  # verdicts that agreed with consensus, of those judged

    def empty(self) -> bool:
        return not (self.gold.total or self.quality.total or self.agreement.total)


def _toward(value: Fraction, target: int, rate: Fraction) -> Fraction:
    return value + rate * (target - value)


def _rate(rate_bp: int, n: int, config: ReputationConfig) -> Fraction:
    return Fraction(rate_bp, BP) * Fraction(n, n + config.pseudo_count) if n else Fraction(0)


def register(calibration: Tally, config: ReputationConfig = ReputationConfig()) -> Reputation:
    """The starting reputation from a calibration: its accuracy shrunk toward the prior."""
    pc = config.pseudo_count
    bp = (
        (config.prior_bp * pc + calibration.hits * BP) // (pc + calibration.total)
        if pc + calibration.total
        else config.prior_bp
    )
    return Reputation(bp, bp)


def update(
    rep: Reputation, evidence: Evidence, config: ReputationConfig = ReputationConfig()
) -> Reputation:
    """One epoch's update: move toward the evidence, cap at the anchor, or decay when idle."""
    if evidence.empty():
        d = Fraction(config.decay_bp, BP)
        return Reputation(
            math.floor(_toward(Fraction(rep.score_bp), config.prior_bp, d)),
            math.floor(_toward(Fraction(rep.anchor_bp), config.prior_bp, d)),
        )
    anchor = Fraction(rep.anchor_bp)
    if evidence.gold.total:
        anchor = _toward(
            anchor,
            evidence.gold.rate_bp(),
            _rate(config.anchor_rate_bp, evidence.gold.total, config),
        )
    score = Fraction(rep.score_bp)
    step = Fraction(0)
    for tally, rate_bp in (
        (evidence.gold, config.gold_rate_bp),
        (evidence.quality, config.quality_rate_bp),
        (evidence.agreement, config.agreement_rate_bp),
    ):
        step += _rate(rate_bp, tally.total, config) * (tally.rate_bp() - score)
    anchor_bp = math.floor(anchor)
    return Reputation(
        min(math.floor(score + step), anchor_bp + config.anchor_margin_bp, BP), anchor_bp
    )


# --- binomial tests, exact ---------------------------------------------------------------------


def _pmf_numerators(n: int, rate_bp: int) -> list[int]:
    """C(n, k) r^k (1-r)^(n-k) for k = 0..n, each times 10000^n (so they are integers)."""
    up = [1] * (n + 1)
    down = [1] * (n + 1)
    for k in range(1, n + 1):
        up[k] = up[k - 1] * rate_bp
        down[k] = down[k - 1] * (BP - rate_bp)
    return [math.comb(n, k) * up[k] * down[n - k] for k in range(n + 1)]


def upper_tail(k: int, n: int, rate_bp: int) -> Fraction:
    """P(X >= k) for X ~ Binomial(n, rate_bp / 10000), exactly."""
    if not (0 <= k <= n + 1 and 0 <= rate_bp <= BP):
        raise Invalid("upper_tail needs 0 <= k <= n + 1 and a rate in [0, 10000]")
    return Fraction(sum(_pmf_numerators(n, rate_bp)[k:]), BP**n)


def coin_lower_tail(k: int, n: int) -> Fraction:
    """P(X <= k) for X ~ Binomial(n, 1/2), exactly: ``1 - upper_tail(k + 1, n, 5000)``.

    Sums the binomial coefficients of the shorter tail (at most n/2 + 1 of them), each from the
    last, so a judge of a hundred thousand verdicts costs a fraction of a second instead of hours.
    """
    if not (-1 <= k <= n):
        raise Invalid("coin_lower_tail needs -1 <= k <= n")
    short = min(k, n - k - 1)  # the lower tail up to k, or the upper tail above k
    total, c = 0, 1
    for i in range(short + 1):
        total += c
        c = c * (n - i) // (i + 1)
    return Fraction(total if short == k else 2**n - total, 2**n)


@dataclass(frozen=True)
class Calibration:
    passed: bool
    threshold: int  # correct answers needed out of ``total``; total + 1 when no score can pass
    correct: int
    total: int
    p_value: float  # P(at least ``correct`` right by guessing at the chance rate)


def calibration_threshold(n: int, chance_bp: int, confidence_bp: int = 9900) -> int:
    """Fewest correct of ``n`` that a one-sided binomial test accepts as better than chance.

    The smallest k with P(X >= k) <= 1 - confidence under guessing; n + 1 if even n is not enough.
    """
    if n < 0 or not 0 <= chance_bp <= BP or not 0 < confidence_bp < BP:
        raise Invalid("calibration needs n >= 0, a chance rate and a confidence in (0, 10000)")
    alpha = Fraction(BP - confidence_bp, BP)
    tail = Fraction(0)
    pmf = _pmf_numerators(n, chance_bp)
    for k in range(n, 0, -1):
        tail += Fraction(pmf[k], BP**n)
        if tail > alpha:
            return k + 1
    return 1


def calibrate(result: Tally, chance_bp: int, confidence_bp: int = 9900) -> Calibration:
    """Pass a calibration round when chance alone explains ``result`` at most 1 - confidence."""
    threshold = calibration_threshold(result.total, chance_bp, confidence_bp)
    p = upper_tail(result.hits, result.total, chance_bp)
    return Calibration(result.hits >= threshold, threshold, result.hits, result.total, float(p))


# --- outlier judges ----------------------------------------------------------------------------


class Deviation(StrEnum):
    BELOW = "below"  # agrees with consensus less often than a coin would


@dataclass(frozen=True)
class OutlierEvidence:
    """Why a judge is flagged: its counts, the swarm's rate, the exact test and the pairs."""

    judge_id: NodeId
    agreed: int
    judged: int
    swarm_rate_bp: int  # pooled agreement rate of all the other judges
    p_value: float
    deviation: Deviation
    pairs: tuple[JudgedPair, ...]


def flag_outliers(
    pairs: Mapping[NodeId, Sequence[JudgedPair]],
    significance_bp: int = 100,
    min_pairs: int = 10,
) -> list[OutlierEvidence]:
    """Judges that agree with consensus significantly LESS often than a coin would.

    For each judge with at least ``min_pairs`` judged pairs, a one-sided exact binomial test of its
    agreed count against one half; flagged when p <= significance. An honest judge of any skill
    above chance is flagged at most at the nominal rate, however much better or worse than the
    rest of the swarm it judges (testing against the swarm's pooled rate flagged honest judges for
    being less skilled than average, or more). ``swarm_rate_bp`` reports the other judges' pooled
    rate, for people. Sorted by judge id.
    """
    if not 0 < significance_bp < BP:
        raise Invalid("significance_bp must lie in (0, 10000)")
    tallies = {j: Tally(sum(p.agreed for p in ps), len(ps)) for j, ps in pairs.items()}
    everyone = sum(tallies.values(), Tally())
    alpha = Fraction(significance_bp, BP)
    out = []
    for judge in sorted(tallies):
        own = tallies[judge]
        if own.total < min_pairs:
            continue
        if 2 * alpha < 1 and 2 * own.hits >= own.total - 1:
            continue  # at least half agreed: P(X <= hits) >= 1/2 > alpha, never flagged
        others = Tally(everyone.hits - own.hits, everyone.total - own.total)
        p = coin_lower_tail(own.hits, own.total)  # P(X <= hits) for a coin
        if p <= alpha:
            out.append(
                OutlierEvidence(
                    judge,
                    own.hits,
                    own.total,
                    others.rate_bp(),
                    float(p),
                    Deviation.BELOW,
                    tuple(pairs[judge]),
                )
            )
    return out
