"""The chat messages a node receives, and how its replies are read.

Shared by the client (which sends them) and by anything that serves the node side, so both agree
on one format.
"""

from __future__ import annotations

import re

from services.core.types import Outcome

ANSWER_SYSTEM = "You are a careful expert. Answer the question correctly and concisely."
JUDGE_SYSTEM = (
    "You compare two answers to the same question. Reply with exactly one character: "
    "1 if Answer 1 is better, 2 if Answer 2 is better."
)
_JUDGE_RE = re.compile(
    r"^Question:\n(?P<q>.*)\n\nAnswer 1:\n(?P<a>.*)\n\nAnswer 2:\n(?P<b>.*)\n\nWhich answer is better\?",
    re.DOTALL,
)


def answer_messages(prompt: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": ANSWER_SYSTEM},
        {"role": "user", "content": prompt},
    ]


def judge_messages(prompt: str, left: str, right: str) -> list[dict[str, str]]:
    user = (
        f"Question:\n{prompt}\n\nAnswer 1:\n{left}\n\nAnswer 2:\n{right}\n\n"
        "Which answer is better? Reply 1 or 2."
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def parse_judge_request(user_content: str) -> tuple[str, str, str] | None:
    """(question, answer 1, answer 2) when ``user_content`` is a judging request."""
    m = _JUDGE_RE.match(user_content)
    return (m["q"], m["a"], m["b"]) if m else None


def parse_verdict(text: str) -> Outcome:
    """The first 1 or 2 in the reply; anything else counts as a tie (no preference)."""
    m = re.search(r"[12]", text)
    if m is None:
        return Outcome.TIE
    return Outcome.LEFT if m.group() == "1" else Outcome.RIGHT
