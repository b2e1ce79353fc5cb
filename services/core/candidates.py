"""Candidates: a round's distinct answers, each with the nodes that gave it.

Two answers that say the same thing are one candidate: a multiple-choice answer by its option
letter ("B. Paris" and "b) paris" are both "B"), a free answer by its text with case, spacing and
closing punctuation ignored. Judges compare distinct candidates only, so a unanimous swarm has one
candidate and nothing to judge. A candidate's id is its smallest supporter's node id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from services.core.letters import OPTION_LETTERS
from services.core.types import Candidate, NodeId

_LEADING_LETTER = re.compile(r"^\(?([A-J])(?:[.):]|\s|$)")


def key(text: str, options: Sequence[str] | None = None) -> str:
    """What an answer says, for grouping: its option letter on a multiple-choice task (when it
    names one), else its text folded (case, runs of spaces, a closing full stop)."""
    folded = " ".join(text.split())
    if options is not None:
        m = _LEADING_LETTER.match(folded.upper())
        if m and m.group(1) in OPTION_LETTERS[: len(options)]:
            return m.group(1)
    return folded.rstrip(".!").casefold()


def group(
    answers: Mapping[NodeId, str], options: Sequence[str] | None = None
) -> tuple[Candidate, ...]:
    """The distinct candidates among ``answers`` (node -> text), ordered by id."""
    by_key: dict[str, list[NodeId]] = {}
    for node in sorted(answers):
        by_key.setdefault(key(answers[node], options), []).append(node)
    return tuple(
        sorted((Candidate(ns[0], tuple(ns)) for ns in by_key.values()), key=lambda c: c.id)
    )


def candidate_of(candidates: Sequence[Candidate]) -> dict[NodeId, NodeId]:
    """Node -> the id of the candidate it supports."""
    return {n: c.id for c in candidates for n in c.supporters}
