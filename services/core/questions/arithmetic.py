"""Multi-step arithmetic word problems: a count of things that changes over a short story.

What it tests: reading a story in order and keeping a running total exact.
- Level 1: a starting amount (up to 9,999), one addition and one subtraction, in either order.
- Level 2: the amount starts as packs times items per pack, then two additions or subtractions.
- Level 3: as level 2, then everything is packed into boxes of k: how many boxes are full
  (floor division; the remainder stays out).

Distractors are the answers of typical slips: one step applied with the wrong sign; one step
forgotten; the first change applied to each pack instead of the total (p x (q + b) instead of
p x q + b: the wrong order of operations); off by one or a carry slip of 10 or 100 (one of these,
on one side: with both sides the answer would sit in the middle of the options); and at level 3,
rounding up instead of down, forgetting the packing, or giving the remainder.

``params``: ``start`` (one number, or packs and items per pack), ``steps`` (("+" | "-", n) in
story order) and ``box`` (the box size at level 3, else None).
"""

from __future__ import annotations

import math
from types import MappingProxyType

from services.core.questions.stream import Spec, Stream, cap, nearby
from services.core.questions.vocabulary import CONTAINERS, ITEMS, NAMES, PLACES

Step = tuple[str, int]

_START_ONE = (
    "{subj} has {a} {item}.",
    "{subj} has collected {a} {item} so far.",
    "At the start of the week, {subj} has {a} {item}.",
    "{subj} keeps {a} {item} in a storeroom.",
)
_START_PACKS = (
    "{subj} buys {p} {box} of {item}, with {q} {item} in each.",
    "{subj} receives {p} {box} of {item}; every one of them holds {q}.",
    "{subj} has {p} {box} of {item}, and each contains {q} {item}.",
    "There are {p} {box} at {where}, each with {q} {item} inside.",
)
_ADD = (
    "Then {subj} gets {v} more.",
    "After that, {v} more {item} arrive.",
    "{other} gives {subj} another {v}.",
    "Later, {subj} buys {v} more {item}.",
)
_SUB = (
    "{subj} then gives {v} of them to {other}.",
    "Next, {v} {item} are sold.",
    "Later {v} of the {item} turn out to be damaged and are thrown away.",
    "{subj} uses {v} of them.",
)
_ASK = (
    "How many {item} does {subj} have now?",
    "How many {item} are there at the end?",
    "What is the number of {item} after all that?",
    "How many {item} are left?",
)
_ASK_BOXES = (
    "Finally, all of them are packed into boxes of {k}. How many boxes can be filled completely?",
    "{subj} then puts them into bags of {k} each. How many bags are full?",
    "If the {item} are grouped {k} at a time, how many complete groups are there?",
)


def build(s: Stream, level: int, options: int) -> Spec:
    """A story for ``level`` (1..3) and the answers of its typical slips."""
    name, other = s.sample(NAMES, 2)
    item = s.choice(ITEMS)
    person = s.chance(2, 3)
    place = s.choice(PLACES)
    subj = name if person else place
    start = (s.between(120, 9999),) if level == 1 else (s.between(3, 40 * level), s.between(6, 48))
    ops = ["+", "-"] if level == 1 else [s.choice("+-"), s.choice("+-")]
    if level == 1:
        s.shuffle(ops)
    total = math.prod(start)
    steps: list[Step] = []
    for op in ops:
        if op == "+":
            v = s.between(10, 9999) if level == 1 else s.between(5, 999)
        else:
            lo, hi = (max(1, total // 10), total - 1) if level == 1 else (1, total // 2)
            v = s.between(lo, hi)
        steps.append((op, v))
        total = total + v if op == "+" else total - v
    box = s.between(2, min(24, max(2, total // 2))) if level == 3 else None
    answer = _value(start, steps, box)

    fill = {"subj": subj, "other": other, "item": item, "where": place, "k": box}
    if len(start) == 1:
        lines = [s.choice(_START_ONE).format(a=start[0], **fill)]
    else:
        packs = _START_PACKS if not person else _START_PACKS[:3]  # the last one is about a place
        box_word = s.choice(CONTAINERS)
        lines = [s.choice(packs).format(p=start[0], q=start[1], box=box_word, **fill)]
    for op, v in steps:
        lines.append(s.choice(_ADD if op == "+" else _SUB).format(v=v, **fill))
    lines.append(s.choice(_ASK_BOXES if box else _ASK).format(**fill))
    text = " ".join(cap(line) for line in lines)

    slips = [answer + s.sign() * s.choice((1, 10, 100))]  # off by one, or a carry slip
    for i in range(len(steps)):
        slips += [_value(start, steps, box, "flip", i), _value(start, steps, box, "skip", i)]
    if level >= 2:
        slips.append(_value(start, steps, box, "inside"))
    if box:
        slips += [_value(start, steps, box, "up"), _value(start, steps, None), total % box]
    params = MappingProxyType({"start": start, "steps": tuple(steps), "box": box})
    return Spec(
        text=text,
        answer=str(answer),
        mistakes=tuple(str(x) for x in slips if x >= 0),
        fillers=nearby(s, answer),
        params=params,
    )


def _value(
    start: tuple[int, ...], steps: list[Step], box: int | None, slip: str = "", at: int = -1
) -> int:
    """The story's result, or what ``slip`` gives: "flip" (step ``at`` with the wrong sign),
    "skip" (step ``at`` forgotten), "inside" (the first step applied to each pack), "up" (boxes
    rounded up). A slip may lead below zero: such results are no plausible answer."""
    rest = steps
    if slip == "inside" and len(start) == 2:
        op, v = steps[0]
        total = start[0] * (start[1] + v if op == "+" else start[1] - v)
        rest = steps[1:]
    else:
        total = math.prod(start)
    for i, (op, v) in enumerate(rest):
        if slip == "skip" and i == at:
            continue
        if slip == "flip" and i == at:
            op = "-" if op == "+" else "+"
        total = total + v if op == "+" else total - v
    if box is not None:
        total = -(-total // box) if slip == "up" else total // box
    return total
