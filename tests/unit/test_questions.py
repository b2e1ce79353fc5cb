"""services.core.questions: questions drawn from a secret are reproducible, never repeat, keep
their tags out of the text, and are right: every family's answer is recomputed here from its
parameters by another method (datetime, fractions, eval, itertools.product, heapq) over thousands
of draws. No sockets."""

from __future__ import annotations

import collections
import dataclasses
import heapq
import itertools
import math
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta
from fractions import Fraction
from functools import reduce
from typing import Any

import pytest

from services.core.errors import Invalid
from services.core.letters import OPTION_LETTERS
from services.core.questions import (
    Draw,
    Family,
    FreeQuestion,
    Generator,
    canonical,
    commitment,
    commitment_of,
)
from services.core.types import KnownQuestion

SECRET = bytes(range(32))
GEN = Generator(SECRET)
PER_FAMILY = 2_400  # draws checked per family: 800 per level, options 2..10


@pytest.fixture(autouse=True)
def no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the question generator must not open a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def draws(family: Family, n: int = PER_FAMILY, domain: str = "check") -> Iterator[Draw]:
    for i in range(n):
        yield GEN.draw(i, domain=domain, family=family, level=1 + i % 3, options=2 + (i * 7) % 9)


def norm(text: str) -> str:
    return " ".join(text.casefold().split())


# ---- independent answers, one per family -------------------------------------------------------


def arithmetic_answer(p: Mapping[str, Any], text: str) -> str:
    """The story as one Python expression, evaluated by Python."""
    expr = " * ".join(map(str, p["start"]))
    for op, v in p["steps"]:
        expr = f"({expr}) {op} {v}"
        assert eval(expr, {"__builtins__": {}}) >= 0, "a story never takes away more than there is"
    if p["box"] is not None:
        expr = f"({expr}) // {p['box']}"
    numbers = [*p["start"], *(v for _, v in p["steps"]), *([p["box"]] if p["box"] else [])]
    assert all(re.search(rf"\b{x}\b", text) for x in numbers), (numbers, text)
    return str(eval(expr, {"__builtins__": {}}))


WEEKDAY_NAMES = tuple(date(2024, 1, d).strftime("%A") for d in range(1, 8))  # 2024-01-01: Monday


def date_answer(p: Mapping[str, Any], text: str) -> str:
    """Dates by ``datetime``."""

    def say(d: date) -> str:
        return f"{d:%B} {d.day}, {d.year}" if p["style"] == "mdy" else f"{d.day} {d:%B} {d.year}"

    if p["kind"] == "shift":
        start = date.fromisoformat(p["start"])
        assert say(start) in text and re.search(rf"\b{abs(p['days'])} days\b", text), text
        return say(start + timedelta(days=p["days"]))
    if p["kind"] == "between":
        start, end = date.fromisoformat(p["start"]), date.fromisoformat(p["end"])
        assert say(start) in text and say(end) in text, text
        return str((end - start).days)
    day = date.fromisoformat(p["date"])
    assert say(day) in text, text
    named = [w for w in WEEKDAY_NAMES if w in text]
    if p["reference"] is None:
        assert named == [], text
    else:  # the weekday the prompt gives for its reference date is true
        ref = date.fromisoformat(p["reference"])
        assert say(ref) in text and named == [WEEKDAY_NAMES[ref.weekday()]], text
    return WEEKDAY_NAMES[day.weekday()]


INCH = Fraction("0.0254")  # metres, exact since 1959
GALLON = 231 * (10 * INCH) ** 3  # litres: 231 cubic inches
POUND = Fraction("0.45359237")  # kilograms, exact since 1959
SI = {  # metres, kilograms, seconds, litres
    "millimetre": Fraction(1, 1000), "centimetre": Fraction(1, 100), "metre": Fraction(1),
    "kilometre": Fraction(1000), "inch": INCH, "foot": 12 * INCH, "yard": 36 * INCH,
    "mile": 63_360 * INCH, "milligram": Fraction(1, 10**6), "gram": Fraction(1, 1000),
    "kilogram": Fraction(1), "tonne": Fraction(1000), "pound": POUND, "ounce": POUND / 16,
    "second": Fraction(1), "minute": Fraction(60), "hour": Fraction(3600),
    "day": Fraction(86_400), "week": Fraction(7 * 86_400), "millilitre": Fraction(1, 1000),
    "litre": Fraction(1), "cubic metre": Fraction(1000), "US gallon": GALLON,
    "US quart": GALLON / 4, "US pint": GALLON / 8,
}  # fmt: skip


PLURALS = {"foot": "feet", "inch": "inches"}


def amount(value: object, unit: str) -> str:
    """How a prompt says an amount: "1 foot", "3.5 feet", "2 US gallons"."""
    return f"{value} {unit if str(value) == '1' else PLURALS.get(unit, unit + 's')}"


def unit_answer(p: Mapping[str, Any], text: str) -> Fraction:
    """Conversions by fractions over SI values written from the definitions."""
    to = p["to"]
    assert f" {PLURALS.get(to, to + 's')}" in text, text
    if isinstance(p["value"], tuple):
        (a, b), (big, small) = p["value"], p["units"]
        assert f"{amount(a, big)} and {amount(b, small)}" in text, text
        return Fraction(a * SI[big] + b * SI[small]) / SI[to]
    (unit,) = p["units"]
    assert amount(p["value"], unit) in text, text
    return Fraction(p["value"]) * SI[unit] / SI[to]


def logic_python(f: Any) -> str:
    """The formula as a Python expression over booleans."""
    if isinstance(f, str):
        return f
    if f[0] == "not":
        return f"(not {logic_python(f[1])})"
    op, a, b = f
    a, b = logic_python(a), logic_python(b)
    return {
        "and": f"({a} and {b})",
        "or": f"({a} or {b})",
        "xor": f"({a} != {b})",
        "implies": f"((not {a}) or {b})",
    }[op]


def logic_text(f: Any, top: bool = True) -> str:
    """The formula as prompts write it: a group in parentheses unless it is the whole formula."""
    if isinstance(f, str):
        return f
    if f[0] == "not":
        return "not " + logic_text(f[1], top=isinstance(f[1], str))
    op, a, b = f
    inner = f"{logic_text(a, False)} {op} {logic_text(b, False)}"
    return inner if top else f"({inner})"


def logic_answer(p: Mapping[str, Any], text: str, options: tuple[str, ...]) -> str:
    """Truth tables by ``itertools.product`` and ``eval``."""
    letters, expr = p["letters"], logic_python(p["formula"])
    assert logic_text(p["formula"]) in text, (logic_text(p["formula"]), text)

    def holds(values: tuple[bool, ...]) -> bool:
        return bool(eval(expr, {"__builtins__": {}}, dict(zip(letters, values))))

    rows = list(itertools.product((False, True), repeat=len(letters)))
    if p["kind"] == "evaluate":
        values = tuple(v for _, v in p["assignment"])
        assert all(f"{x} is {'true' if v else 'false'}" in text for x, v in p["assignment"]), text
        return "true" if holds(values) else "false"
    if p["kind"] == "count":
        assert str(2 ** len(letters)) in text
        return str(sum(map(holds, rows)))
    (only,) = [r for r in rows if holds(r)]  # satisfy: exactly one row makes it true
    for option in options:
        parsed = dict(re.findall(r"(\w) = (true|false)", option))
        assert list(parsed) == list(letters), option
        row = tuple(parsed[x] == "true" for x in letters)
        assert holds(row) == (row == only), option  # no wrong option satisfies it
    return ", ".join(f"{x} = {'true' if v else 'false'}" for x, v in zip(letters, only))


def string_answer(p: Mapping[str, Any], text: str) -> str:
    """Strings and lists by other means: reduce, Counter, heapq, enumerate."""
    op, given = p["op"], p["input"]
    if isinstance(given, tuple):
        shown = ", ".join(map(str, given))
        assert shown in text or all(w in text for w in given), (shown, text)
    else:
        assert given in text
    backwards: Callable[[str], str] = lambda w: reduce(lambda acc, ch: ch + acc, w, "")
    if op == "reverse letters":
        return backwards(given)
    if op == "reverse each word":
        return " ".join(backwards(w) for w in given.split(" "))
    if op == "reverse list":
        return ", ".join(given[i] for i in range(len(given) - 1, -1, -1))
    if op == "count letter":
        assert f"'{p['letter']}'" in text
        return str(collections.Counter("".join(given))[p["letter"]])
    if op == "count greater":
        return str(sum(map(p["than"].__lt__, given)))
    if op == "count even":
        return str(collections.Counter(x & 1 for x in given)[0])
    if op == "count divisible":
        return str(sum(1 for x in given if math.gcd(x, 3) == 3))
    if op == "sort":
        numeric = all(re.fullmatch(r"-?\d+", x) for x in given)
        key = int if numeric else str
        pick = heapq.nlargest if p["descending"] else heapq.nsmallest
        return ", ".join(pick(len(given), given, key=key))
    if op == "nth":
        return str(next(x for i, x in enumerate(given, 1) if i == p["position"]))
    if op == "position of":
        (at,) = [i for i, x in enumerate(given, 1) if x == p["value"]]
        return str(at)
    if op == "nth from end":
        return str(list(reversed(given))[p["position"] - 1])
    if op == "second largest":
        return str(heapq.nlargest(2, set(given))[1])
    raise AssertionError(f"unknown op {op}")


def check_shape(d: Draw, options: int) -> None:
    """What every draw keeps: the right option is the free answer, options distinct."""
    q = d.question
    assert isinstance(q, KnownQuestion) and isinstance(d.free, FreeQuestion)
    assert len(q.options) == options and q.answer in OPTION_LETTERS[:options]
    assert q.options[OPTION_LETTERS.index(q.answer)] == d.free.answer
    assert len({norm(o) for o in q.options}) == options, q.options
    assert d.free.text == q.text and q.text.strip() == q.text
    with pytest.raises(TypeError):
        d.params["x"] = 1  # type: ignore[index]


@pytest.mark.parametrize("family", list(Family))
def test_every_answer_is_right_by_an_independent_check(family: Family) -> None:
    for i, d in enumerate(draws(family)):
        assert d.family is family and d.level == 1 + i % 3
        check_shape(d, 2 + (i * 7) % 9)
        p, text = d.params, d.free.text
        if family is Family.ARITHMETIC:
            assert d.free.answer == arithmetic_answer(p, text)
        elif family is Family.DATES:
            assert d.free.answer == date_answer(p, text), text
        elif family is Family.UNITS:
            got = Fraction(d.free.answer)
            assert got == unit_answer(p, text), text
            assert re.fullmatch(r"\d+(\.\d*[1-9])?", d.free.answer)  # canonical decimal
            assert not any(Fraction(o) == got for o in d.question.options if o != d.free.answer)
        elif family is Family.LOGIC:
            assert d.free.answer == logic_answer(p, text, d.question.options)
        else:
            assert d.free.answer == string_answer(p, text), text


@pytest.mark.slow
def test_no_prompt_repeats_over_100k_draws() -> None:
    seen: dict[str, int] = {}
    for i in range(100_000):
        d = GEN.draw(i, domain="epoch-1", options=2 + i % 9)
        key = norm(d.free.text)
        assert key not in seen, f"draws {seen[key]} and {i} ask the same question"
        seen[key] = i


def test_domains_draw_apart() -> None:
    calibration = [GEN.draw(i, domain="calibration/node-7/attempt-1") for i in range(10_000)]
    gold = [GEN.draw(i, domain="gold/epoch-3") for i in range(10_000)]
    assert not {norm(d.free.text) for d in calibration} & {norm(d.free.text) for d in gold}
    assert not {d.salt for d in calibration} & {d.salt for d in gold}
    again = GEN.draw(5, domain="calibration/node-7/attempt-2")
    assert again.free.text != calibration[5].free.text


def test_a_draw_is_reproducible_only_with_the_secret() -> None:
    for i in range(200):
        a = GEN.draw(i, domain="gold/epoch-9", options=5)
        assert Generator(bytes(SECRET)).draw(i, domain="gold/epoch-9", options=5) == a
        assert commitment(GEN.draw(i, domain="gold/epoch-9", options=5)) == commitment(a)
        other = Generator(SECRET[:-1] + b"\x00").draw(i, domain="gold/epoch-9", options=5)
        assert other.free.text != a.free.text and other.salt != a.salt
    assert SECRET.hex() not in repr(GEN) and "secret=<hidden>" in repr(GEN)


def test_tags_stay_out_of_the_prompt() -> None:
    leaks = re.compile(
        r"\b(arithmetic|calendar|dates|units|logic|strings|family|level|difficulty|test|gold|"
        r"calibration|generated|generator|benchmark|distractor|quiz)\b",
        re.IGNORECASE,
    )
    for i in range(5_000):
        d = GEN.draw(i, domain="leaks", options=2 + i % 9)
        shown = d.question.prompt()
        assert not leaks.search(shown), shown


def test_the_right_option_sits_anywhere_with_equal_chance() -> None:
    for options, n in ((4, 8_000), (7, 7_000)):
        counts = collections.Counter(
            GEN.draw(i, domain="letters", options=options).question.answer for i in range(n)
        )
        expected = n / options
        chi2 = sum((counts[x] - expected) ** 2 / expected for x in OPTION_LETTERS[:options])
        assert chi2 < 30, counts  # 3 or 6 degrees of freedom: p < 1e-5 by chance


def test_the_right_answer_is_not_given_away_by_its_rank() -> None:
    """Among ordered options (numbers, dates) the answer is the smallest, the middle or the
    largest equally often: mistakes on both sides of it do not leave it in the middle."""
    for family in (Family.ARITHMETIC, Family.UNITS, Family.DATES):
        ranks: collections.Counter[int] = collections.Counter()
        for i in range(3_000):
            d = GEN.draw(i, domain="rank", family=family, options=5)
            if d.params.get("kind") == "weekday":
                continue  # weekdays go round: no first or last
            if d.params.get("kind") == "shift":
                days = [date_of(o) for o in d.question.options]
                ranks[sorted(days).index(date_of(d.free.answer))] += 1
            else:
                values = [Fraction(o) for o in d.question.options]
                ranks[sorted(values).index(Fraction(d.free.answer))] += 1
        expected = sum(ranks.values()) / 5
        chi2 = sum((ranks[r] - expected) ** 2 / expected for r in range(5))
        assert chi2 < 25, (family, sorted(ranks.items()))  # 4 degrees of freedom: p < 1e-4


def date_of(text: str) -> date:
    for fmt in ("%B %d, %Y", "%d %B %Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise AssertionError(text)


def test_distractors_are_typical_mistakes() -> None:
    """Most wrong options are what a slip gives, recomputed here: a step forgotten or with the
    wrong sign, off by one; a date a day off or in a calendar without leap days."""
    hits = eligible = 0
    for d in draws(Family.ARITHMETIC, 600):
        p: Mapping[str, Any] = d.params
        if p["box"] is not None or len(d.question.options) < 4:
            continue
        eligible += 1
        start = math.prod(p["start"])
        signed = [v if op == "+" else -v for op, v in p["steps"]]
        right = start + sum(signed)
        slips = {right + 1, right - 1}
        slips |= {right - v for v in signed} | {right - 2 * v for v in signed}
        hits += any(int(o) in slips for o in d.question.options if o != d.free.answer)
    assert eligible > 100 and hits > 0.9 * eligible
    day_off = 0
    shifts = 0
    for d in draws(Family.DATES, 1_500):
        shift: dict[str, Any] = dict(d.params)
        if shift["kind"] != "shift" or len(d.question.options) < 5:
            continue
        shifts += 1
        end = date.fromisoformat(shift["start"]) + timedelta(days=shift["days"])
        near = {end + timedelta(days=1), end - timedelta(days=1)}
        words = {f"{x:%B} {x.day}, {x.year}" for x in near}
        words |= {f"{x.day} {x:%B} {x.year}" for x in near}
        day_off += bool(words & set(d.question.options))
    assert day_off > 0.6 * shifts


def test_changing_any_committed_field_changes_the_commitment() -> None:
    d = GEN.draw(42, domain="gold/epoch-1", options=4)
    q = d.question
    base = commitment(d)
    assert len(base) == 32 and len(d.salt) == 32
    letter = OPTION_LETTERS[(OPTION_LETTERS.index(q.answer) + 1) % 4]
    fewer = q.answer if q.answer != "D" else "A"  # a letter that three options still have
    swapped = (q.options[1], q.options[0], *q.options[2:])
    edited = (q.options[0] + "0", *q.options[1:])
    text = q.text + " "
    variants = [
        dataclasses.replace(d, salt=bytes([d.salt[0] ^ 1]) + d.salt[1:]),
        dataclasses.replace(
            d,
            question=KnownQuestion(text, q.options, q.answer),
            free=FreeQuestion(text, d.free.answer),
        ),
        dataclasses.replace(d, question=KnownQuestion(q.text, swapped, q.answer)),
        dataclasses.replace(d, question=KnownQuestion(q.text, edited, q.answer)),
        dataclasses.replace(d, question=KnownQuestion(q.text, q.options[:3], fewer)),
        dataclasses.replace(d, question=KnownQuestion(q.text, q.options, letter)),
        dataclasses.replace(d, free=FreeQuestion(q.text, d.free.answer + "1")),
    ]
    commitments = {commitment(v) for v in variants}
    assert base not in commitments and len(commitments) == len(variants)
    # an auditor holding only the revealed fields computes the same leaf
    assert commitment_of(d.salt, q, d.free.answer) == base
    assert all(commitment_of(v.salt, v.question, v.free.answer) == commitment(v) for v in variants)
    # the family, level and parameters are not committed: they follow from the revealed text
    assert commitment(dataclasses.replace(d, level=1 + d.level % 3)) == base
    # fields are length-prefixed: moving a character from one option to the next is seen
    a = dataclasses.replace(d, question=KnownQuestion(q.text, ("ab", "c", "d", "e"), "A"))
    b = dataclasses.replace(d, question=KnownQuestion(q.text, ("a", "bc", "d", "e"), "A"))
    assert canonical(a) != canonical(b) and commitment(a) != commitment(b)


def test_salts_are_distinct_per_item() -> None:
    salts = {GEN.draw(i, domain="gold/epoch-2").salt for i in range(5_000)}
    assert len(salts) == 5_000


def test_wording_and_length_vary_within_each_family() -> None:
    for family in Family:
        texts = [d.free.text for d in draws(family, 600, domain="variety")]
        # the last sentence, with numbers, quoted words and names taken out: the template's ask
        last = [re.split(r"(?<=[.?]) ", t)[-1] for t in texts]
        asks = {re.sub(r"\d+|'[^']*'|\b[A-Z][a-z]+\b", "_", x) for x in last}
        lengths = sorted(len(t) for t in texts)
        assert len(asks) >= 5, (family, asks)
        assert lengths[-1] >= 1.8 * lengths[0], (family, lengths[0], lengths[-1])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"index": -1},
        {"index": 2**64},
        {"index": True},
        {"domain": ""},
        {"level": 0},
        {"level": 4},
        {"options": 1},
        {"options": 11},
        {"family": "poetry"},
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"index": 0, "domain": "gold"} | kwargs
    with pytest.raises(Invalid):
        GEN.draw(args.pop("index"), **args)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(Invalid) as exc:
        Generator(b"too short")
    assert exc.value.hint and "16" in exc.value.hint


def test_every_family_fills_every_option_count_at_every_level() -> None:
    for family, level, options in itertools.product(Family, (1, 2, 3), range(2, 11)):
        for i in range(12):
            d = GEN.draw(i, domain="fill", family=family, level=level, options=options)
            check_shape(d, options)
