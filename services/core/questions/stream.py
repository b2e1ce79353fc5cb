"""The randomness behind one question, and what a family hands back to the generator.

A ``Stream`` reads HMAC-SHA256(key, counter) blocks, key being the question's own key (itself an
HMAC of the generator's secret), and turns them into unbiased integers, choices and shuffles. The
same key replays the same choices; without it they cannot be told from random.

A family's builder reads a stream and returns a ``Spec``: the question's text, its canonical
answer, the typical mistakes a solver makes on it and plausible fillers for when the mistakes are
too few to fill the options, and the structured parameters that decide the answer.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from services.core.errors import MeritError

T = TypeVar("T")


class Stream:
    """Unbiased integers, choices and shuffles drawn from HMAC-SHA256(key, counter) blocks, read
    as one string of bits."""

    __slots__ = ("_bits", "_counter", "_key", "_pool")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._counter = 0
        self._pool = 0  # the unread bits, _bits of them
        self._bits = 0

    def bits(self, k: int) -> int:
        """The next ``k`` bits of the stream, as an integer."""
        while self._bits < k:
            block = hmac.digest(self._key, self._counter.to_bytes(8, "big"), "sha256")
            self._pool = self._pool << 256 | int.from_bytes(block, "big")
            self._bits += 256
            self._counter += 1
        self._bits -= k
        out = self._pool >> self._bits
        self._pool &= (1 << self._bits) - 1
        return out

    def read(self, n: int) -> bytes:
        """The next ``n`` bytes of the stream."""
        return self.bits(8 * n).to_bytes(n, "big")

    def below(self, n: int) -> int:
        """Uniform in ``0 .. n-1``: rejection sampling, so no value is favoured."""
        if n <= 0:
            raise MeritError(f"cannot draw below {n}")
        k = (n - 1).bit_length()
        while True:
            x = self.bits(k)
            if x < n:
                return x

    def between(self, lo: int, hi: int) -> int:
        """Uniform in ``lo .. hi``, both included."""
        return lo + self.below(hi - lo + 1)

    def chance(self, num: int, den: int) -> bool:
        """True with probability ``num / den``."""
        return self.below(den) < num

    def sign(self) -> int:
        """+1 or -1: the side of a near miss (both sides at once would leave the answer in the
        middle of the options, a giveaway)."""
        return 1 if self.bits(1) else -1

    def choice(self, seq: Sequence[T]) -> T:
        return seq[self.below(len(seq))]

    def shuffle(self, items: list[T]) -> None:
        """Fisher-Yates, in place."""
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]

    def distinct(self, lo: int, hi: int, k: int) -> list[int]:
        """``k`` distinct integers of ``lo .. hi`` in random order (for ranges wider than k)."""
        seen: set[int] = set()
        out: list[int] = []
        while len(out) < k:
            x = self.between(lo, hi)
            if x not in seen:
                seen.add(x)
                out.append(x)
        return out

    def sample(self, seq: Sequence[T], k: int) -> list[T]:
        """``k`` distinct positions of ``seq``, in random order."""
        pool = list(seq)
        for i in range(k):
            j = i + self.below(len(pool) - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]


@dataclass(frozen=True)
class Spec:
    """One question as a family builds it, before its options are drawn.

    ``mistakes`` are answers a solver reaches by a typical slip (the generator picks distractors
    among them first, at random); ``fillers`` are plausible near-answers used only when the
    mistakes run out. Either may repeat the answer or each other: the generator keeps the distinct
    ones. ``params`` decide the answer, so a checker can recompute it another way. ``order`` ranks
    answers that are not plain numbers but still have an order (dates); plain numbers are ranked
    by value without it.
    """

    text: str
    answer: str
    mistakes: tuple[str, ...]
    fillers: tuple[str, ...]
    params: Mapping[str, object]
    order: Mapping[str, int] = field(default_factory=dict)


# a family: (stream, level 1..3, number of options) -> Spec; it must supply enough distinct
# wrong answers for that many options
Builder = Callable[[Stream, int, int], Spec]


def nearby(s: Stream, answer: int, *, floor: int = 0, count: int = 9) -> tuple[str, ...]:
    """Up to ``count`` integers on each side of ``answer`` (none below ``floor``), within a tenth
    of it (at least ``count``), in random order."""
    spread = max(count, abs(answer) // 10)
    out: list[int] = []
    for lo, hi in ((max(floor, answer - spread), answer - 1), (answer + 1, answer + spread)):
        if hi >= lo:
            out += s.distinct(lo, hi, min(count, hi - lo + 1))
    s.shuffle(out)
    return tuple(str(x) for x in out)


def cap(text: str) -> str:
    """``text`` with its first letter in upper case (a sentence that starts with "the ...")."""
    return text[:1].upper() + text[1:]
