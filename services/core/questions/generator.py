"""Questions with verifiable answers, drawn from a secret: the anchor of node reputation.

``Generator(secret).draw(index, domain=...)`` derives question ``index`` of ``domain`` from
HMAC-SHA256(secret, tag || domain || index): without the secret the next question cannot be
predicted, and whoever holds it draws the same question again. Domains keep uses apart
("calibration/node-7/attempt-2", "gold/epoch-12"): their questions come from independent
streams. Each draw is one question in two forms, multiple choice (``KnownQuestion``: distractors
from the family's typical mistakes, the right option at a uniformly random position) and free
answer (``FreeQuestion``: the canonical answer string), with the family, level and the
structured parameters that decide the answer kept beside the text, never in it.

Repeats: every family's prompt space is many orders of magnitude larger than the number of
questions a deployment asks (names, events and objects from long lists, numbers from wide
ranges), so two draws share a prompt only by a collision of negligible probability; the tests
draw 100,000 and find none.

``commitment(draw)`` is SHA-256 over a canonical encoding of (salt, prompt, options, answer):
an epoch's gold set is committed (a Merkle root of these) before the epoch and revealed after,
and the 32-byte salt, secret until the reveal, keeps the commitment from being searched.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from services.core.errors import Invalid, MeritError
from services.core.letters import OPTION_LETTERS
from services.core.questions import arithmetic, dates, logic, strings, units
from services.core.questions.stream import Builder, Spec, Stream
from services.core.types import KnownQuestion

LEVELS = (1, 2, 3)
MIN_OPTIONS, MAX_OPTIONS = 2, 10
MIN_SECRET_BYTES = 16
SALT_BYTES = 32
_DRAW_TAG = b"meritswarm/questions/v1\x00"
_COMMIT_TAG = b"meritswarm/question-commitment/v1\x00"


class Family(StrEnum):
    ARITHMETIC = "arithmetic"  # multi-step word problems
    DATES = "dates"  # calendar reasoning
    UNITS = "units"  # unit conversion with exact factors
    LOGIC = "logic"  # truth tables of small formulas
    STRINGS = "strings"  # reversing, counting, sorting and indexing


_BUILDERS: Mapping[Family, Builder] = {
    Family.ARITHMETIC: arithmetic.build,
    Family.DATES: dates.build,
    Family.UNITS: units.build,
    Family.LOGIC: logic.build,
    Family.STRINGS: strings.build,
}


@dataclass(frozen=True)
class FreeQuestion:
    """A question to answer in free text; ``answer`` is the canonical answer string."""

    text: str
    answer: str


@dataclass(frozen=True)
class Draw:
    """One drawn question: its multiple-choice and free-answer forms, its tags and the parameters
    that decide its answer (for an independent check; never shown to a node)."""

    domain: str
    index: int
    family: Family
    level: int
    salt: bytes
    question: KnownQuestion
    free: FreeQuestion
    params: Mapping[str, object] = field(hash=False)

    def __post_init__(self) -> None:
        n = len(self.question.options)
        if len(self.salt) != SALT_BYTES:
            raise Invalid(f"a question's salt has {SALT_BYTES} bytes, not {len(self.salt)}")
        if self.free.text != self.question.text:
            raise Invalid("the free-answer and multiple-choice forms must ask the same question")
        if not MIN_OPTIONS <= n <= MAX_OPTIONS or self.question.answer not in OPTION_LETTERS[:n]:
            raise Invalid(f"{self.question.answer!r} is not an option letter of {n} options")


class Generator:
    """Draws questions from a secret (at least 16 bytes; keep it out of logs and bundles until the
    draws it made are revealed)."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
            raise Invalid(
                "the question secret is too short",
                hint=f"use at least {MIN_SECRET_BYTES} random bytes (secrets.token_bytes(32))",
            )
        self._secret = secret

    def __repr__(self) -> str:
        return "Generator(secret=<hidden>)"

    def draw(
        self,
        index: int,
        *,
        domain: str,
        family: Family | str | None = None,
        level: int | None = None,
        options: int = 4,
    ) -> Draw:
        """Question ``index`` (0 .. 2**64 - 1) of ``domain``. ``family`` and ``level`` are drawn
        too unless given; ``options`` (2..10) is the number of multiple-choice options. The same
        arguments always give the same question."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 2**64:
            raise Invalid(f"a question index is an integer in 0 .. 2**64 - 1, not {index!r}")
        if not isinstance(domain, str) or not domain:
            raise Invalid("a question domain is a non-empty string", hint='e.g. "gold/epoch-12"')
        if level is not None and level not in LEVELS:
            raise Invalid(f"a question level is one of {LEVELS}, not {level!r}")
        if isinstance(options, bool) or options not in range(MIN_OPTIONS, MAX_OPTIONS + 1):
            raise Invalid(f"a question has {MIN_OPTIONS} to {MAX_OPTIONS} options, not {options!r}")
        try:
            chosen = None if family is None else Family(family)
        except ValueError as exc:
            raise Invalid(
                f"no question family {family!r}", hint=f"one of {', '.join(Family)}"
            ) from exc

        s = Stream(self._key(domain, index))
        salt = s.read(SALT_BYTES)
        fam = chosen if chosen is not None else s.choice(tuple(Family))
        lvl = level if level is not None else s.choice(LEVELS)
        spec = _BUILDERS[fam](s, lvl, options)
        shown, at = _options(s, spec, options)
        return Draw(
            domain=domain,
            index=index,
            family=fam,
            level=lvl,
            salt=salt,
            question=KnownQuestion(spec.text, shown, OPTION_LETTERS[at]),
            free=FreeQuestion(spec.text, spec.answer),
            params=spec.params,
        )

    def _key(self, domain: str, index: int) -> bytes:
        name = domain.encode()
        message = _DRAW_TAG + len(name).to_bytes(4, "big") + name + index.to_bytes(8, "big")
        return hmac.digest(self._secret, message, "sha256")


def _options(s: Stream, spec: Spec, n: int) -> tuple[tuple[str, ...], int]:
    """``n`` distinct options and the answer's position. Wrong options come from the typical
    mistakes first (in random order), then the fillers. Where answers have an order (numbers,
    dates) the answer's rank among the options is drawn uniformly too, and wrong options are taken
    below and above it to match: otherwise mistakes on both sides would leave the answer in the
    middle, a giveaway. The answer's position is uniform."""
    taken = {_norm(spec.answer)}
    mistakes = _distinct(spec.mistakes, taken)
    s.shuffle(mistakes)
    pool = mistakes + _distinct(spec.fillers, taken | {_norm(x) for x in mistakes})
    rank = _ranks(spec)
    if rank is None:
        wrong = pool[: n - 1]
    else:
        at = rank[spec.answer]
        below = [x for x in pool if rank[x] < at]
        above = [x for x in pool if rank[x] > at]
        r = min(max(s.below(n), n - 1 - len(above)), len(below))  # uniform where both sides can
        wrong = below[:r] + above[: n - 1 - r]
    if len(wrong) < n - 1:
        raise MeritError(f"a question drew {len(wrong)} wrong options of the {n - 1} it needs")
    s.shuffle(wrong)
    at_letter = s.below(n)
    return (*wrong[:at_letter], spec.answer, *wrong[at_letter:]), at_letter


_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _ranks(spec: Spec) -> Mapping[str, int | Fraction] | None:
    """Where the spec's answers are ordered, each one's rank: ``spec.order``, or the value when
    all are plain numbers; else None."""
    if spec.order:
        return spec.order
    every = (spec.answer, *spec.mistakes, *spec.fillers)
    if not all(_NUMBER.fullmatch(x) for x in every):
        return None
    return {x: Fraction(x) if "." in x else int(x) for x in every}


def _distinct(xs: Sequence[str], taken: set[str]) -> list[str]:
    """``xs`` without repeats and without what is ``taken`` (compared as ``_norm`` has them)."""
    seen = set(taken)
    out = []
    for x in xs:
        key = _norm(x)
        if key not in seen:
            seen.add(key)
            out.append(x)
    return out


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def canonical(item: Draw) -> bytes:
    """The committed fields, each length-prefixed (4 bytes, big-endian): salt, prompt, the number
    of options, each option, the answer letter, the canonical free answer (text as UTF-8)."""
    return canonical_of(item.salt, item.question, item.free.answer)


def canonical_of(salt: bytes, q: KnownQuestion, free_answer: str) -> bytes:
    """``canonical`` from the revealed fields alone (what an auditor holds)."""
    fields = [salt, q.text.encode(), len(q.options).to_bytes(1, "big")]
    fields += [o.encode() for o in q.options]
    fields += [q.answer.encode(), free_answer.encode()]
    return _COMMIT_TAG + b"".join(len(f).to_bytes(4, "big") + f for f in fields)


def commitment(item: Draw) -> bytes:
    """SHA-256 of ``canonical(item)``: what goes into an epoch's Merkle root before the reveal."""
    return hashlib.sha256(canonical(item)).digest()


def commitment_of(salt: bytes, q: KnownQuestion, free_answer: str) -> bytes:
    """``commitment`` from the revealed fields alone (what an auditor holds)."""
    return hashlib.sha256(canonical_of(salt, q, free_answer)).digest()
