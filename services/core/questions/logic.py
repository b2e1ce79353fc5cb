"""Small logic puzzles over propositional formulas.

What it tests: evaluating connectives, negation of a group, and reasoning over a truth table.
Each letter stands for a statement about a person ("p: Mia is at home"); the meaning never
matters, only the formula (the statements make the space of prompts large: formulas with one
true row are few). Three kinds:
- evaluate: the formula's value under a given assignment ("true" / "false": two options only).
- count: in how many of the 2^n rows of its truth table the formula is true.
- satisfy: the one assignment that makes it true (formulas are drawn until exactly one does).
Level 1: two letters, one or two "and" / "or"; level 2: three letters, three or four
connectives; level 3: four letters, four or five, with "xor" and "implies". A letter is added
(or two) where the options need more rows than the level has.

Distractors are the results of typical misreadings: "or" read as exclusive, "not (a and b)"
read as "not a and not b", "p implies q" read backwards; the count of false rows; off by one;
for satisfy, the assignments one flip away from the answer and those a misreading accepts.

``params``: ``kind``, ``letters``, ``formula`` (nested tuples: a letter, ("not", f) or
(connective, left, right)) and ``assignment`` ((letter, value) pairs; evaluate only).
"""

from __future__ import annotations

from itertools import pairwise
from types import MappingProxyType
from typing import TypeAlias

from services.core.questions.stream import Spec, Stream
from services.core.questions.vocabulary import NAMES, STATEMENTS

Formula: TypeAlias = "str | tuple[str, Formula] | tuple[str, Formula, Formula]"
Row = tuple[bool, ...]

_LETTERS = (("p", "q", "r", "s"), ("x", "y", "z", "w"), ("j", "k", "m", "n"))
_SHAPE = {1: (2, 1, 2), 2: (3, 3, 4), 3: (4, 4, 5)}  # letters, fewest and most connectives
_SLIPS = ("xor", "demorgan", "converse")

_INTRO = (  # each with how it names one statement
    ("Let {defs}.", '{x} stand for "{m}"'),
    ("Consider these statements: {defs}.", '{x}: "{m}"'),
    ("Here is what the letters mean: {defs}.", '{x} means "{m}"'),
    ("Take the statements {defs}.", '{x} = "{m}"'),
)
_EVALUATE = (
    "{intro} Suppose {assign}. Is {formula} true or false?",
    "{intro} If {assign}, what is the truth value of {formula}?",
    "{intro} We know that {assign}. Is the statement {formula} true or false?",
    "{intro} Assume {assign}. Then is {formula} true, or is it false?",
)
_COUNT = (
    (
        "{intro} There are {rows} ways to assign true or false to {letters}. "
        "In how many of them is {formula} true?"
    ),
    (
        "{intro} Over all {rows} combinations of truth values for {letters}, how many make "
        "{formula} true?"
    ),
    "{intro} In the truth table of {formula}, how many of the {rows} rows are true?",
    (
        "{intro} Count the combinations of truth values for {letters} that make {formula} true. "
        "How many are there out of {rows}?"
    ),
)
_SATISFY = (
    "{intro} Exactly one combination of truth values makes {formula} true. Which one is it?",
    "{intro} For which truth values of {letters} is {formula} true? Only one combination works.",
    "{intro} Which assignment of true and false to {letters} makes {formula} true?",
    (
        "{intro} Only one way of setting {letters} to true or false makes {formula} hold. Which "
        "way is it?"
    ),
)


def build(s: Stream, level: int, options: int) -> Spec:
    """A puzzle for ``level`` (1..3) whose kind and size can fill ``options`` options."""
    kind = s.choice(("evaluate", "count", "satisfy") if options == 2 else ("count", "satisfy"))
    n, fewest, most = _SHAPE[level]
    while (kind == "count" and 2**n + 1 < options) or (kind == "satisfy" and 2**n < options):
        n += 1  # more rows for more options
    letters = s.choice(_LETTERS)[:n]
    pool = ("and", "or", "xor", "implies") if level == 3 else ("and", "or")
    ops = max(n - 1, s.between(fewest, most))
    make = _one_way if kind == "satisfy" else _formula
    formula = make(s, letters, ops, pool)

    people = s.sample(NAMES, n)
    said = [st.format(name=who) for st, who in zip(s.sample(STATEMENTS, n), people, strict=True)]
    intro, one = s.choice(_INTRO)
    defs = _listing([one.format(x=x, m=m) for x, m in zip(letters, said, strict=True)])
    fill = {
        "intro": intro.format(defs=defs),
        "formula": render(formula),
        "letters": _listing(list(letters)),
        "rows": 2**n,
    }
    base = {"kind": kind, "letters": letters, "formula": formula}
    if kind == "evaluate":
        row = tuple(s.chance(1, 2) for _ in letters)
        value = row in _true_rows(formula, n)
        assign = _listing([f"{x} is {_word(v)}" for x, v in zip(letters, row, strict=True)])
        return Spec(
            text=s.choice(_EVALUATE).format(assign=assign, **fill).strip(),
            answer=_word(value),
            mistakes=(_word(not value),),
            fillers=(),
            params=MappingProxyType({**base, "assignment": tuple(zip(letters, row, strict=True))}),
        )
    true = _true_rows(formula, n)
    if kind == "count":
        k = len(true)
        wrong = [2**n - k, k + s.sign()]
        wrong += [len(_true_rows(formula, n, slip)) for slip in _SLIPS]
        return Spec(
            text=s.choice(_COUNT).format(**fill).strip(),
            answer=str(k),
            mistakes=tuple(str(x) for x in wrong if 0 <= x <= 2**n),
            fillers=tuple(str(x) for x in s.sample(range(2**n + 1), 2**n + 1)),
            params=MappingProxyType({**base, "assignment": None}),
        )
    (row,) = true
    flip = s.below(n)  # one near miss: with all of them the answer is the options' centre
    near = [(*row[:flip], not row[flip], *row[flip + 1 :])]
    misread = [r for slip in _SLIPS for r in _true_rows(formula, n, slip)]
    every = _rows(n)
    return Spec(
        text=s.choice(_SATISFY).format(**fill).strip(),
        answer=_assignment(letters, row),
        mistakes=tuple(_assignment(letters, r) for r in near + misread),
        fillers=tuple(_assignment(letters, r) for r in s.sample(every, len(every))),
        params=MappingProxyType({**base, "assignment": None}),
    )


def render(f: Formula) -> str:
    """The formula as the prompt shows it: every group in parentheses, "not" before a letter or a
    parenthesised group."""
    if isinstance(f, str):
        return f
    if len(f) == 2:
        return f"not {f[1]}" if isinstance(f[1], str) else f"not ({render(f[1])})"
    op, left, right = f
    return f"{_part(left)} {op} {_part(right)}"


def _part(f: Formula) -> str:
    return f"({render(f)})" if not isinstance(f, str) and len(f) == 3 else render(f)


def _formula(
    s: Stream, letters: tuple[str, ...], ops: int, pool: tuple[str, ...], root: str = ""
) -> Formula:
    """A random formula with ``ops`` connectives that uses every letter at least once, joined at
    the top by ``root`` where given."""
    leaves = list(letters) + [s.choice(letters) for _ in range(ops + 1 - len(letters))]
    for _ in range(20):  # no letter next to itself: "(k or k)" would be a giveaway
        s.shuffle(leaves)
        if all(a != b for a, b in pairwise(leaves)):
            break
    if not root:
        return _tree(s, leaves, ops, pool)
    left = s.below(ops)
    return (root, _tree(s, leaves, left, pool), _tree(s, leaves, ops - 1 - left, pool))


def _one_way(s: Stream, letters: tuple[str, ...], ops: int, pool: tuple[str, ...]) -> Formula:
    """A formula that exactly one row of its truth table makes true: drawn until one is (a
    conjunction at the top makes that likelier), else one literal per letter joined by "and"."""
    for _ in range(200):
        formula = _formula(s, letters, ops, pool, root="and")
        if len(_true_rows(formula, len(letters))) == 1:
            return formula
    literals: list[Formula] = [("not", x) if s.chance(1, 2) else x for x in letters]
    s.shuffle(literals)
    formula = literals[0]
    for lit in literals[1:]:
        formula = ("and", formula, lit)
    return formula


def _tree(s: Stream, leaves: list[str], ops: int, pool: tuple[str, ...]) -> Formula:
    if ops == 0:
        leaf = leaves.pop()
        return ("not", leaf) if s.chance(1, 4) else leaf
    left = s.below(ops)
    op = s.choice(pool)
    node: Formula = (op, _tree(s, leaves, left, pool), _tree(s, leaves, ops - 1 - left, pool))
    return ("not", node) if s.chance(1, 6) else node


def _table(f: Formula, n: int, slip: str = "") -> int:
    """The formula's truth table as a bit mask: bit i is set where row i makes it true (row i
    gives the k-th of the n letters the value of bit n-1-k of i). With ``slip``, the table as a
    typical misreading has it."""
    full = (1 << (1 << n)) - 1
    if isinstance(f, str):
        return _LETTER_MASKS[n][_POSITION[f]]
    if len(f) == 2:
        inner = f[1]
        if slip == "demorgan" and not isinstance(inner, str) and len(inner) == 3:
            op, left, right = inner  # "not (a and b)" read as "not a and not b"
            a, b = full & ~_table(left, n, slip), full & ~_table(right, n, slip)
            return _apply(op, a, b, full, slip)
        return full & ~_table(inner, n, slip)
    op, left, right = f
    return _apply(op, _table(left, n, slip), _table(right, n, slip), full, slip)


def _apply(op: str, a: int, b: int, full: int, slip: str) -> int:
    if op == "and":
        return a & b
    if op == "or":
        return a ^ b if slip == "xor" else a | b
    if op == "xor":
        return a ^ b
    return (a | full & ~b) if slip == "converse" else (full & ~a | b)  # implies


_POSITION = {x: k for row in _LETTERS for k, x in enumerate(row)}
# _LETTER_MASKS[n][k]: the rows (of 2**n) where the k-th letter is true
_LETTER_MASKS: dict[int, list[int]] = {
    n: [sum(1 << i for i in range(2**n) if i >> (n - 1 - k) & 1) for k in range(n)]
    for n in (2, 3, 4, 5)
}


def _rows(n: int) -> list[Row]:
    return _ROWS[n]


_ROWS = {
    n: [tuple(bool(i >> (n - 1 - k) & 1) for k in range(n)) for i in range(2**n)]
    for n in (2, 3, 4, 5)
}


def _true_rows(f: Formula, n: int, slip: str = "") -> list[Row]:
    table = _table(f, n, slip)
    return [row for i, row in enumerate(_rows(n)) if table >> i & 1]


def _word(v: bool) -> str:
    return "true" if v else "false"


def _assignment(letters: tuple[str, ...], row: Row) -> str:
    return ", ".join(f"{x} = {_word(v)}" for x, v in zip(letters, row, strict=True))


def _listing(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
