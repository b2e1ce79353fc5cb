"""Multiple-choice answers from letter probabilities, with each node's letter bias removed.

Small models prefer one letter whatever the question (one answered "A" 298 times of 300). Without
labels, a node's bias is its mean log-probability per letter over a batch of questions; the
debiased choice is the letter whose log-probability most exceeds that node's own mean for it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

FLOOR = 1e-6  # a letter the server did not list among its top tokens


def choice(probs: Mapping[str, float], letters: Sequence[str]) -> str | None:
    """The most probable letter, or None when the node gave no probability to any."""
    best = max(letters, key=lambda x: probs.get(x, 0.0))
    return best if probs.get(best, 0.0) > 0 else None


def bias(batch: Sequence[Mapping[str, float]], letters: Sequence[str]) -> dict[str, float]:
    """Mean log-probability of each letter over ``batch`` (a node's answers to many questions)."""
    if not batch:
        return dict.fromkeys(letters, 0.0)
    return {
        x: sum(math.log(max(p.get(x, 0.0), FLOOR)) for p in batch) / len(batch) for x in letters
    }


def debiased(batch: Sequence[Mapping[str, float]], letters: Sequence[str]) -> list[str | None]:
    """Each answer's letter after removing the batch's letter bias; None where no letter had
    mass."""
    mean = bias(batch, letters)
    out: list[str | None] = []
    for p in batch:
        if not any(p.get(x, 0.0) > 0 for x in letters):
            out.append(None)
            continue
        out.append(max(letters, key=lambda x: math.log(max(p.get(x, 0.0), FLOOR)) - mean[x]))
    return out


def debiased_one(
    probs: Mapping[str, float], letters: Sequence[str], mean: Mapping[str, float] | None
) -> str | None:
    """One answer's letter with a known bias removed (``mean`` as ``bias`` computes it over the
    node's calibration answers); the plain ``choice`` when the bias does not cover ``letters``."""
    if not any(probs.get(x, 0.0) > 0 for x in letters):
        return None
    if mean is None or any(x not in mean for x in letters):
        return choice(probs, letters)
    return max(letters, key=lambda x: math.log(max(probs.get(x, 0.0), FLOOR)) - mean[x])


_LETTER = re.compile(r"(?<![A-Za-z])([A-D])(?![A-Za-z])")


def answer_letter(text: str, letters: Sequence[str] = ("A", "B", "C", "D")) -> str | None:
    """The option letter a free-text answer gives: the first standalone capital letter among
    ``letters`` ("B", "B.", "(B)", "The answer is B"); None when there is none."""
    for m in _LETTER.finditer(text):
        if m.group(1) in letters:
            return m.group(1)
    return None


OPTION_LETTERS = tuple("ABCDEFGHIJ")


def multiple_choice_prompt(question: str, options: Sequence[str]) -> str:
    """The question with its options lettered A, B, ... and the instruction to answer by letter."""
    lines = [question, ""] + [
        f"{letter}. {opt}" for letter, opt in zip(OPTION_LETTERS, options, strict=False)
    ]
    return "\n".join(lines) + "\n\nAnswer with the letter of the correct option."
