"""Unit conversion with exact factors (length, mass, time, volume).

What it tests: knowing the factors and applying them in the right direction, exactly.
- Level 1: one metric prefix step (km to m, g to mg, L to mL) or one time step (h to min),
  either way.
- Level 2: two metric prefix steps, customary units among themselves (ft, yd, mi, lb, oz, US gal,
  qt, pt), two time steps; a third of these as a mixed amount ("3 ft 7 in in inches").
- Level 3: between customary and metric units by their exact definitions (1 in = 2.54 cm,
  1 lb = 0.45359237 kg, 1 US gal = 3.785411784 L, ...).

Every unit has an exact size in a small base (micrometres, nanograms, seconds, nanolitres), so
a conversion is a ratio of integers; either the amount asked about or the answer is a round
number and the other is the exact, terminating decimal.

Distractors: the factor applied the wrong way (divided instead of multiplied), a power of ten off
(the wrong prefix), and the rounded or confused factor a hurried solver uses (2.5 cm to the inch,
1.6 km to the mile, 100 minutes to the hour, the imperial gallon for the US one, ...). For mixed
amounts: the smaller part forgotten, the amount read as a decimal ("3 h 25 min" as 3.25 h), no
conversion at all.

``params``: ``value`` (a decimal string, or a pair of integers for a mixed amount), ``units``
(the unit or units of the amount, singular) and ``to`` (the unit asked for).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

from services.core.errors import MeritError
from services.core.questions.stream import Spec, Stream
from services.core.questions.vocabulary import NAMES


@dataclass(frozen=True)
class Unit:
    name: str
    plural: str
    size: int  # in the base of its dimension
    slips: tuple[int, ...] = ()  # sizes a hurried solver uses instead


# sizes in micrometres, nanograms, seconds and nanolitres
UNITS = {
    u.name: u
    for u in (
        Unit("millimetre", "millimetres", 1_000),
        Unit("centimetre", "centimetres", 10_000, (1_000,)),
        Unit("metre", "metres", 1_000_000),
        Unit("kilometre", "kilometres", 1_000_000_000, (100_000_000,)),
        Unit("inch", "inches", 25_400, (25_000, 30_000)),
        Unit("foot", "feet", 304_800, (254_000, 300_000)),
        Unit("yard", "yards", 914_400, (1_000_000, 900_000)),
        Unit("mile", "miles", 1_609_344_000, (1_600_000_000, 1_524_000_000)),
        Unit("milligram", "milligrams", 1_000_000),
        Unit("gram", "grams", 1_000_000_000, (100_000_000,)),
        Unit("kilogram", "kilograms", 10**12),
        Unit("tonne", "tonnes", 10**15, (10**14,)),
        Unit("ounce", "ounces", 28_349_523_125, (28_000_000_000, 30_000_000_000)),
        Unit("pound", "pounds", 453_592_370_000, (450_000_000_000, 500_000_000_000)),
        Unit("second", "seconds", 1),
        Unit("minute", "minutes", 60, (100,)),
        Unit("hour", "hours", 3_600, (6_000, 3_000)),
        Unit("day", "days", 86_400, (36_000,)),
        Unit("week", "weeks", 604_800, (432_000,)),
        Unit("millilitre", "millilitres", 1_000_000),
        Unit("litre", "litres", 1_000_000_000, (100_000_000,)),
        Unit("cubic metre", "cubic metres", 10**12, (10**11,)),
        Unit("US gallon", "US gallons", 3_785_411_784, (4_546_090_000, 4_000_000_000)),
        Unit("US quart", "US quarts", 946_352_946, (1_000_000_000, 1_136_522_500)),
        Unit("US pint", "US pints", 473_176_473, (568_261_250, 500_000_000)),
    )
}
_DIMENSION = {
    **dict.fromkeys(("millimetre", "centimetre", "metre", "kilometre"), "length"),
    **dict.fromkeys(("inch", "foot", "yard", "mile"), "length"),
    **dict.fromkeys(("milligram", "gram", "kilogram", "tonne", "ounce", "pound"), "mass"),
    **dict.fromkeys(("second", "minute", "hour", "day", "week"), "time"),
    **dict.fromkeys(("millilitre", "litre", "cubic metre"), "volume"),
    **dict.fromkeys(("US gallon", "US quart", "US pint"), "volume"),
}
_PAIRS = {  # (larger, smaller): asked either way
    1: (
        ("kilometre", "metre"), ("metre", "centimetre"), ("centimetre", "millimetre"),
        ("metre", "millimetre"), ("kilogram", "gram"), ("gram", "milligram"),
        ("tonne", "kilogram"), ("litre", "millilitre"), ("hour", "minute"),
        ("minute", "second"), ("day", "hour"), ("week", "day"),
    ),
    2: (
        ("kilometre", "centimetre"), ("kilometre", "millimetre"), ("kilogram", "milligram"),
        ("tonne", "gram"), ("cubic metre", "litre"), ("foot", "inch"), ("yard", "foot"),
        ("yard", "inch"), ("mile", "yard"), ("mile", "foot"), ("pound", "ounce"),
        ("US gallon", "US quart"), ("US gallon", "US pint"), ("US quart", "US pint"),
        ("hour", "second"), ("day", "minute"), ("week", "hour"),
    ),
    3: (
        ("inch", "centimetre"), ("inch", "millimetre"), ("foot", "metre"),
        ("foot", "centimetre"), ("yard", "metre"), ("mile", "kilometre"), ("mile", "metre"),
        ("ounce", "gram"), ("pound", "kilogram"), ("pound", "gram"), ("US gallon", "litre"),
        ("US quart", "millilitre"), ("US pint", "millilitre"), ("US gallon", "millilitre"),
    ),
}  # fmt: skip
_MIXED = (
    ("foot", "inch"), ("pound", "ounce"), ("hour", "minute"), ("day", "hour"),
    ("minute", "second"), ("mile", "yard"), ("kilogram", "gram"), ("metre", "centimetre"),
    ("litre", "millilitre"),
)  # fmt: skip
_SCENES = {  # amounts are drawn over a wide range: the scenes fit small and large ones
    "length": (
        "{name} measured a distance of {x}.",
        "{name}'s notes give a length of {x}.",
        "A cable on {name}'s order form is listed as {x}.",
        "The route {name} planned is {x}.",
        "{name} needs {x} of fencing.",
        "A survey lists one boundary of {name}'s land as {x}.",
    ),
    "mass": (
        "{name} weighed a load of {x}.",
        "A shipment for {name} is listed at {x}.",
        "{name}'s notes give a mass of {x}.",
        "The cargo {name} is sending weighs {x}.",
        "{name}'s bakery used {x} of flour last year.",
        "A sample in {name}'s lab weighs {x}.",
    ),
    "time": (
        "{name} logged {x} of work.",
        "A job on {name}'s list took {x}.",
        "{name}'s notes give a duration of {x}.",
        "The machine {name} runs was on for {x}.",
        "{name}'s experiment ran for {x}.",
        "A recording {name} made lasts {x}.",
    ),
    "volume": (
        "{name} measured {x} of liquid.",
        "A tank on {name}'s list holds {x}.",
        "{name}'s notes give a volume of {x}.",
        "The reservoir {name} manages released {x}.",
        "{name}'s recipe, scaled up, needs {x} of milk.",
        "A flask in {name}'s lab holds {x}.",
    ),
}
_ASK = (
    "How many {to} is that?",
    "What is that in {to}?",
    "Express that amount in {to}.",
    "How much is that in {to}?",
    "Convert it to {to}.",
    "What is the same amount in {to}, exactly?",
)


def build(s: Stream, level: int, options: int) -> Spec:
    """A conversion for ``level`` (1..3) and the answers of its typical slips."""
    big, small = s.choice(_PAIRS[level])
    if level == 2 and s.chance(1, 3):
        return _mixed(s, *s.choice(_MIXED))
    src, dst = (UNITS[big], UNITS[small]) if s.chance(1, 2) else (UNITS[small], UNITS[big])
    ratio = Fraction(src.size, dst.size)  # amount in src x ratio = amount in dst
    # one side is a round number; the other follows exactly (its denominator must terminate)
    need_answer, need_value = _odd(ratio.numerator), _odd(ratio.denominator)
    # at level 3 the amount asked about is the round one where it can be (2.54 cm to the inch)
    answer_round = s.chance(1, 2) if level < 3 else need_value > 999
    if need_value > 999 or (need_answer <= 999 and answer_round):
        answer = _round(s, need_answer)
        value = answer / ratio
    else:
        value = _round(s, need_value)
        answer = value * ratio
    amount = f"{decimal(value)} {src.name if value == 1 else src.plural}"
    text = _say(s, src, amount, dst)
    wrong = [value / ratio, answer * 10, answer / 10, answer * 100, answer / 100, answer * 1000]
    wrong += [value * Fraction(x, dst.size) for x in src.slips]
    wrong += [value * Fraction(src.size, x) for x in dst.slips]
    return Spec(
        text=text,
        answer=decimal(answer),
        mistakes=_decimals(wrong),
        fillers=_decimals(_near(s, answer)),
        params=MappingProxyType({"value": decimal(value), "units": (src.name,), "to": dst.name}),
    )


def _mixed(s: Stream, big_name: str, small_name: str) -> Spec:
    """``a`` big units and ``b`` small ones, in small units."""
    big, small = UNITS[big_name], UNITS[small_name]
    per = big.size // small.size
    a, b = s.between(2, 9999), s.between(1, per - 1)
    answer = a * per + b
    amount = f"{a} {big.plural} and {b} {small.name if b == 1 else small.plural}"
    text = _say(s, big, amount, small)
    wrong = [a * per, a + b, a * 100 + b, a * 10 + b, answer + per, answer - per, answer * 10]
    wrong += [a * (x // small.size) + b for x in big.slips if x % small.size == 0]
    dec = Fraction(a) + Fraction(b, 10 ** len(str(b)))  # "3 h 25 min" read as 3.25 h
    return Spec(
        text=text,
        answer=str(answer),
        mistakes=_decimals([Fraction(x) for x in wrong] + [dec * per]),
        fillers=_decimals(_near(s, Fraction(answer))),
        params=MappingProxyType(
            {"value": (a, b), "units": (big.name, small.name), "to": small.name}
        ),
    )


def _say(s: Stream, src: Unit, amount: str, dst: Unit) -> str:
    scene = s.choice(_SCENES[_DIMENSION[src.name]]).format(name=s.choice(NAMES), x=amount)
    return f"{scene} {s.choice(_ASK).format(to=dst.plural)}"


def _odd(n: int) -> int:
    """``n`` without its factors 2 and 5: what a decimal's denominator cannot absorb."""
    for p in (2, 5):
        while n % p == 0:
            n //= p
    return n


def _round(s: Stream, multiple: int) -> Fraction:
    """A round-looking amount that is a multiple of ``multiple``: up to six significant digits
    (more where ``multiple`` needs them), scaled by 0.001 .. 1."""
    m = multiple * s.between(1, max(999_999 // multiple, 9_999))
    return m * Fraction(10) ** s.between(-3, 0)


def decimal(x: Fraction) -> str:
    """The exact decimal of a terminating fraction, without trailing zeros."""
    d, twos, fives = x.denominator, 0, 0
    while d % 2 == 0:
        d, twos = d // 2, twos + 1
    while d % 5 == 0:
        d, fives = d // 5, fives + 1
    if d != 1:
        raise MeritError(f"{x} has no exact decimal")
    places = max(twos, fives)
    digits = str(abs(x.numerator) * 10**places // x.denominator).rjust(places + 1, "0")
    whole, frac = digits[: len(digits) - places], digits[len(digits) - places :].rstrip("0")
    return ("-" if x < 0 else "") + whole + ("." + frac if frac else "")


def _decimals(xs: list[Fraction]) -> tuple[str, ...]:
    """The positive, terminating ones, as decimals of at most 12 places."""
    return tuple(
        decimal(x) for x in xs if x > 0 and _odd(x.denominator) == 1 and x.denominator <= 10**12
    )


def _near(s: Stream, answer: Fraction) -> list[Fraction]:
    """Amounts a few units of the answer's last digit away from it."""
    step = Fraction(1)
    while (answer / step).denominator != 1:
        step /= 10
    while answer / step >= 100 and (answer / (step * 10)).denominator == 1:
        step *= 10
    ks = s.sample(range(1, 31), 9) + [-k for k in s.sample(range(1, 31), 9)]
    return [answer + k * step for k in ks]
