"""The chat messages a node receives, and how its replies are read.

Shared by the client (which sends them) and by anything that serves the node side, so both agree
on one format.
"""

from __future__ import annotations

import re
import secrets

from services.core.types import Outcome

ANSWER_SYSTEM = "You are a careful expert. Answer the question correctly and concisely."
JUDGE_SYSTEM = (
    "You compare two answers to the same question. Reply with exactly one character: "
    "1 if Answer 1 is better, 2 if Answer 2 is better."
)
JUDGE_TAIL = "Which answer is better? Reply 1 or 2."
# the end of a judging request; its boundary is random per request, so no answer written before
# (nor the question) can hold it: the node reads the two answers exactly as they were sent
_JUDGE_END = re.compile(r"\n\[end (?P<b>[0-9a-f]{16})\]\n\n" + re.escape(JUDGE_TAIL) + r"\Z")


def answer_messages(prompt: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": ANSWER_SYSTEM},
        {"role": "user", "content": prompt},
    ]


def judge_messages(
    prompt: str, left: str, right: str, boundary: str | None = None
) -> list[dict[str, str]]:
    """A judging request: the question and the two answers, each answer between lines that carry
    a fresh random ``boundary`` (16 hex digits), so an answer that imitates the layout ("Answer
    2: ...") cannot move where the judge (and its signature) reads the answers."""
    b = boundary or secrets.token_hex(8)
    user = (
        f"Question:\n{prompt}\n\nAnswer 1 [{b}]:\n{left}\n[end {b}]\n\n"
        f"Answer 2 [{b}]:\n{right}\n[end {b}]\n\n{JUDGE_TAIL}"
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def parse_judge_request(user_content: str) -> tuple[str, str, str] | None:
    """(question, answer 1, answer 2) when ``user_content`` is a judging request."""
    end = _JUDGE_END.search(user_content)
    if end is None:
        return None
    b = end["b"]
    first, second = f"\n\nAnswer 1 [{b}]:\n", f"\n[end {b}]\n\nAnswer 2 [{b}]:\n"
    head, found, rest = user_content[: end.start()].partition(first)
    left, between, right = rest.partition(second)
    if not found or not between or not head.startswith("Question:\n"):
        return None
    return head.removeprefix("Question:\n"), left, right


def parse_verdict(text: str) -> Outcome:
    """The first 1 or 2 in the reply; anything else counts as a tie (no preference)."""
    m = re.search(r"[12]", text)
    if m is None:
        return Outcome.TIE
    return Outcome.LEFT if m.group() == "1" else Outcome.RIGHT
