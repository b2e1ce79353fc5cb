"""String and list manipulation on made-up words, ordinary words and lists of numbers.

What it tests: careful symbol-by-symbol work that a reader cannot guess from meaning. Kinds:
- reverse: a made-up word backwards (level 1: three syllables; level 2: four or five, or the
  order of a list of words); level 3: every word of a phrase reversed in place, or the whole
  phrase backwards letter by letter.
- count: a letter in a made-up word (1), a letter across a list of words (2); at level 3 the
  numbers of a list that are greater than a bound, even, or divisible by 3.
- sort: 5-6 numbers ascending (1); numbers descending or words alphabetically (2); numbers of
  mixed sign and length (3).
- index: the k-th number of a list (1), the position of a number counting from 1 (2); the k-th
  from the end, or the second largest (3).

Distractors: for reversals the unreversed input, the answer with two neighbouring letters (or
items) swapped, a letter dropped, the word order reversed instead of the letters (and the other
way round); for counts off by one or two, the complement, ">=" for ">"; for sorts the order of
the digits as text ("100" before "25"), the opposite order, the order by size ignoring the
sign, one neighbouring pair swapped; for indexes counting from 0 or from the wrong end, the
neighbours, the largest instead of the second largest.

``params``: ``op`` and ``input`` (a string or a tuple), with ``letter``, ``than``, ``descending``,
``position`` or ``value`` where the op needs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

from services.core.questions.stream import Spec, Stream, nearby
from services.core.questions.vocabulary import CODAS, NAMES, ONSETS, VOWELS, WORDS

ORDINALS = (
    "first", "second", "third", "fourth", "fifth", "sixth",
    "seventh", "eighth", "ninth", "tenth", "eleventh", "twelfth",
)  # fmt: skip


def build(s: Stream, level: int, options: int) -> Spec:
    """A string or list question for ``level`` (1..3); every kind fills up to 10 options."""
    kind = s.choice((_reverse, _count, _sort, _index))
    return kind(s, level)


# real words a made-up one could spell that would say what the prompt is ("dates", "level")
_AVOID = frozenset(("dates", "level", "units", "logic", "gold", "test", "tests", "quiz", "family"))


def made_up(s: Stream, syllables: int) -> str:
    """A pronounceable made-up word of ``syllables`` syllables."""
    while True:
        word = "".join(
            s.choice(ONSETS) + s.choice(VOWELS) + s.choice(CODAS) for _ in range(syllables)
        )
        if word not in _AVOID:
            return word


def _swaps(s: Stream, items: Sequence[str], count: int) -> list[list[str]]:
    """Up to ``count`` copies of ``items`` with one neighbouring pair swapped."""
    out = []
    for i in s.sample(range(len(items) - 1), min(count, len(items) - 1)):
        x = list(items)
        x[i], x[i + 1] = x[i + 1], x[i]
        out.append(x)
    return out


def _reverse(s: Stream, level: int) -> Spec:
    name = s.choice(NAMES)
    if level == 1 or (level == 2 and s.chance(1, 2)):
        word = made_up(s, s.between(3, 4) if level == 1 else s.between(4, 5))
        answer = word[::-1]
        text = s.choice((
            "Write the word '{w}' backwards.",
            "What do you get when you reverse the letters of '{w}'?",
            "Spell '{w}' in reverse order.",
            "{name} made up the word '{w}'. How is it spelled backwards?",
        )).format(w=word, name=name)  # fmt: skip
        wrong = [word, word[0] + word[:0:-1], answer[1:], answer[:-1]]
        wrong += ["".join(x) for x in _swaps(s, answer, 6)]
        fill = ["".join(x) for x in _swaps(s, answer, 20)]
        fill += [answer[:i] + answer[i + 1 :] for i in range(len(answer))]  # a letter dropped
        return _spec(text, answer, wrong, fill, op="reverse letters", input=word)
    if level == 2:
        items = s.sample(WORDS, s.between(5, 7))
        answer_items = items[::-1]
        text = s.choice((
            "Reverse the order of this list: {xs}.",
            "{name} wrote these words in order: {xs}. Write them in the opposite order.",
            "Here is a list: {xs}. What is it from last to first?",
        )).format(xs=", ".join(items), name=name)  # fmt: skip
        slips = [items, answer_items[1:] + answer_items[:1], [items[-1], *items[1:-1], items[0]]]
        slips += _swaps(s, answer_items, 6)
        near = _swaps(s, answer_items, 20) + _swaps(s, items, 20)
        return _spec(
            text, ", ".join(answer_items), [", ".join(x) for x in slips],
            [", ".join(x) for x in near], op="reverse list", input=tuple(items),
        )  # fmt: skip
    words = [
        made_up(s, s.between(2, 3)) if s.chance(1, 2) else s.choice(WORDS)
        for _ in range(s.between(3, 4))
    ]
    phrase = " ".join(words)
    each = " ".join(w[::-1] for w in words)
    whole, order = phrase[::-1], " ".join(words[::-1])
    if s.chance(1, 2):
        text = s.choice((
            "Reverse the letters of each word in '{p}', but keep the words in their order.",
            ("{name} wants every word of '{p}' spelled backwards, with the words staying where "
             "they are. What is the result?"),
        )).format(p=phrase, name=name)  # fmt: skip
        answer, op, wrong = each, "reverse each word", [whole, order, phrase]
    else:
        text = s.choice((
            "Write the whole phrase '{p}' backwards, letter by letter.",
            "What is '{p}' when every character, spaces included, is read from the end?",
        )).format(p=phrase, name=name)  # fmt: skip
        answer, op, wrong = whole, "reverse letters", [each, order, phrase]
    chars = list(answer)
    wrong += ["".join(x) for x in _swaps(s, chars, 6)]
    fill = ["".join(x) for x in _swaps(s, chars, 40)] + [answer[1:], answer[:-1]]
    return _spec(text, answer, wrong, fill, op=op, input=phrase)


def _count(s: Stream, level: int) -> Spec:
    name = s.choice(NAMES)
    if level < 3:
        if level == 1:
            words = [made_up(s, s.between(3, 5))]
            where = f"the word '{words[0]}'"
        else:
            words = s.sample(WORDS, s.between(4, 6))
            where = "these words: " + ", ".join(words)
        letter = s.choice("".join(words))
        k = sum(w.count(letter) for w in words)
        text = s.choice((
            "How many times does the letter '{c}' appear in {where}?",
            "Count the letter '{c}' in {where}.",
            "{name} is counting letters. How many '{c}'s are there in {where}?",
        )).format(c=letter, where=where, name=name)  # fmt: skip
        wrong = [k + s.sign() * s.between(1, 2), words[0].count(letter)]
        return _spec(text, str(k), [str(x) for x in wrong if x >= 0], nearby(s, k),
                     op="count letter", input=tuple(words), letter=letter)  # fmt: skip
    xs = [s.between(1, 999) for _ in range(s.between(8, 12))]
    listed = ", ".join(map(str, xs))
    test = s.choice(("greater", "even", "divisible"))
    if test == "greater":
        t = s.choice(xs)
        k = sum(1 for x in xs if x > t)
        text = f"How many numbers in the list {listed} are greater than {t}?"
        wrong = [sum(1 for x in xs if x >= t), len(xs) - k, k + s.sign()]
        extra: dict[str, object] = {"than": t}
    elif test == "even":
        k = sum(1 for x in xs if x % 2 == 0)
        text = f"{name} has the numbers {listed}. How many of them are even?"
        wrong, extra = [len(xs) - k, k + s.sign()], {}
    else:
        k = sum(1 for x in xs if x % 3 == 0)
        text = f"Of the numbers {listed}, how many are divisible by 3?"
        wrong, extra = [len(xs) - k, k + s.sign(), sum(1 for x in xs if x % 6 == 0)], {}
    return _spec(text, str(k), [str(x) for x in wrong if x >= 0], nearby(s, k),
                 op=f"count {test}", input=tuple(xs), **extra)  # fmt: skip


def _sort(s: Stream, level: int) -> Spec:
    name = s.choice(NAMES)
    words = level == 2 and s.chance(1, 2)
    descending = {1: False, 2: not words}.get(level, s.chance(1, 2))
    slips: list[list[str]] = []
    if words:
        items: list[str] = s.sample(WORDS, s.between(5, 7))
        answer = sorted(items)
        what = "these words in alphabetical order"
    else:
        if level == 3:
            nums = _mixed_sizes(s, s.between(7, 9))
        else:
            nums = s.distinct(1, 99 if level == 1 else 999, s.between(5, 6 + 2 * (level - 1)))
        items = [str(x) for x in nums]
        answer = [str(x) for x in sorted(nums, reverse=descending)]
        size = "from largest to smallest" if descending else "from smallest to largest"
        what = f"these numbers {size}"
        slips = [
            sorted(items, reverse=descending),  # as text: "100" before "25"
            [str(x) for x in sorted(nums, key=abs, reverse=descending)],  # the sign ignored
        ]
    text = s.choice((
        "Sort {what}: {xs}.",
        "{name} wrote down {xs}. Put {what}.",
        "Arrange {what}: {xs}",
    )).format(what=what, xs=", ".join(items), name=name)  # fmt: skip
    wrong = [*slips, answer[::-1], items, *_swaps(s, answer, 4)]
    fill = _swaps(s, answer, 20) + _swaps(s, answer[::-1], 20)
    return _spec(
        text, ", ".join(answer), [", ".join(x) for x in wrong], [", ".join(x) for x in fill],
        op="sort", input=tuple(items), descending=descending,
    )  # fmt: skip


def _mixed_sizes(s: Stream, n: int) -> list[int]:
    """``n`` distinct numbers of one to four digits, some negative."""
    out: set[int] = set()
    while len(out) < n:
        digits = s.between(1, 4)
        x = s.between(10 ** (digits - 1), 10**digits - 1)
        out.add(-x if s.chance(1, 4) else x)
    picked = sorted(out)
    s.shuffle(picked)
    return picked


def _index(s: Stream, level: int) -> Spec:
    xs = s.distinct(10, 999, s.between(6, 9) if level == 1 else s.between(7, 12))
    listed = ", ".join(map(str, xs))
    name = s.choice(NAMES)
    n = len(xs)
    if level == 1:
        k = s.between(2, n - 1)
        text = s.choice((
            "What is the {o} number in this list: {xs}?",
            "{name} reads out the list {xs}. Which number comes {o}?",
            "In the sequence {xs}, which number is in the {o} place?",
        )).format(o=ORDINALS[k - 1], xs=listed, name=name)  # fmt: skip
        answer, wrong = xs[k - 1], [xs[k], xs[k - 2], xs[n - k]]
        params: dict[str, object] = {"op": "nth", "position": k}
    elif level == 2:
        k = s.between(2, n)
        text = s.choice((
            "At which position, counting from 1, does {v} appear in the list {xs}?",
            "{name} has the list {xs}. Counting the first entry as position 1, where is {v}?",
        )).format(v=xs[k - 1], xs=listed, name=name)  # fmt: skip
        answer, wrong = k, [k - 1, n - k + 1]
        params = {"op": "position of", "value": xs[k - 1]}
        positions = [str(i) for i in s.sample(range(1, n + 1), n)] + list(nearby(s, k, floor=1))
        wrong_at = [str(x) for x in wrong if x > 0]
        return _spec(text, str(k), wrong_at, positions, input=tuple(xs), **params)
    elif s.chance(1, 2):
        k = s.between(2, n - 1)
        text = s.choice((
            "What is the {o} number from the end of this list: {xs}?",
            "Counting backwards from the last entry, which number is {o} in {xs}?",
        )).format(o=ORDINALS[k - 1], xs=listed)  # fmt: skip
        answer, wrong = xs[n - k], [xs[n - k - 1], xs[n - k + 1], xs[k - 1]]
        params = {"op": "nth from end", "position": k}
    else:
        ranked = sorted(xs)
        text = f"{name} writes down {listed}. What is the second largest of these numbers?"
        answer, wrong = ranked[-2], [ranked[-1], ranked[-3], ranked[1], xs[1]]
        params = {"op": "second largest"}
    fill = [str(x) for x in s.sample(xs, n)] + list(nearby(s, answer, floor=1))
    wrong_values = [str(x) for x in wrong if x > 0]
    return _spec(text, str(answer), wrong_values, fill, input=tuple(xs), **params)


def _spec(
    text: str, answer: str, wrong: Sequence[str], fill: Sequence[str], **params: object
) -> Spec:
    return Spec(text, answer, tuple(wrong), tuple(fill), MappingProxyType(dict(params)))
