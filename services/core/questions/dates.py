"""Date and calendar reasoning in the Gregorian calendar.

What it tests: month lengths, leap years (with the century rule) and counting days. Three kinds:
- shift: the date n days after (or before) a date. Level 1: 3..45 days forward from a date in
  1950..2080; level 2: 46..400 days either way, 1800..2200; level 3: 401..4000 days, 1600..2400.
- between: the days from one date to a later one. Level 1: 2..60 within a year; level 2:
  61..800; level 3: 801..15,000.
- weekday: the day of the week of a date. Levels 1 and 2 give the weekday of a reference date
  1..60 or 61..1000 days away; level 3 gives the date alone. (Seven answers: at most 7 options.)

The arithmetic is our own (day numbers as in H. Hinnant's ``days_from_civil``), not ``datetime``;
the tests check it against ``datetime``.

Distractors: off by one (the first day counted too); the same count in a calendar with every
month 30 or 31 days, without leap days, or with a leap day every year; the wrong direction; the
neighbouring month. For weekdays: the neighbouring days, leap days ignored, counting backwards,
and the century rule ignored (every fourth year a leap year).

``params``: ``kind``; ``style`` ("mdy": "March 3, 2031", "dmy": "3 March 2031"); dates as ISO
strings: ``start`` and ``days`` (signed) for shift, ``start`` and ``end`` for between, ``date``
and ``reference`` (None at level 3) for weekday.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType

from services.core.questions.stream import Spec, Stream, nearby
from services.core.questions.vocabulary import EVENTS, NAMES

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_LENGTHS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

Ymd = tuple[int, int, int]


def is_leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def month_days(y: int, m: int) -> int:
    return 29 if m == 2 and is_leap(y) else _LENGTHS[m - 1]


def to_days(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 (negative before it)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def from_days(z: int) -> Ymd:
    """The date ``z`` days after 1970-01-01."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m, d


def weekday(z: int) -> int:
    """0 = Monday: 1970-01-01 was a Thursday."""
    return (z + 3) % 7


def render(date: Ymd, style: str) -> str:
    y, m, d = date
    return f"{MONTHS[m - 1]} {d}, {y}" if style == "mdy" else f"{d} {MONTHS[m - 1]} {y}"


def iso(date: Ymd) -> str:
    return f"{date[0]:04d}-{date[1]:02d}-{date[2]:02d}"


_SHIFT_LATER = (
    "{name}'s {event} is on {date}. What is the date exactly {n} days later?",
    (
        "{name} had a {event} booked for {date}, but it was postponed by {n} days. What is the new "
        "date?"
    ),
    "Counting forward {n} days from {date}, the day of {name}'s {event}, which date do you reach?",
    "{name} wants a reminder {n} days after the {event} on {date}. On what date is the reminder?",
)
_SHIFT_EARLIER = (
    "{name}'s {event} is on {date}. What was the date {n} days earlier?",
    (
        "{name} will start preparing for the {event} on {date} exactly {n} days beforehand. "
        "On what date does {name} start?"
    ),
    "What date is {n} days before {date}, the day of {name}'s {event}?",
)
_BETWEEN = (
    "{name}'s {event} is on {d1} and the next one on {d2}. How many days apart are they?",
    (
        "{name} wrote down {d1} in a diary, and the {event} is on {d2}. "
        "How many days after the first date is the second?"
    ),
    (
        "{name} checked into a hotel on {d1} for a {event} and checked out on {d2}. "
        "How many nights did {name} stay?"
    ),
    (
        "How many days are there from {d1} to {d2}, the date of {name}'s {event}? Count the days "
        "after {d1} up to and including {d2}."
    ),
)
_WEEKDAY_REF = (
    "{ref} is a {wd}. {name}'s {event} is on {date}. What day of the week is that?",
    "Given that {ref} falls on a {wd}, on which day of the week is {name}'s {event}, on {date}?",
    "If {ref} is a {wd}, which day of the week is {date}? {name} needs to know for a {event}.",
)
_WEEKDAY = (
    "{name}'s {event} is on {date}. What day of the week is that?",
    "On which day of the week does {date} fall? It is the date of {name}'s {event}.",
    "{name} has a {event} on {date}. Which weekday is it?",
)

_KINDS = (("shift", 10), ("between", 10), ("weekday", 7))  # kind, the most options it can fill
_YEARS = {1: (1950, 2080), 2: (1800, 2200), 3: (1600, 2400)}


def build(s: Stream, level: int, options: int) -> Spec:
    """A calendar question for ``level`` (1..3); the kind is drawn among those that can fill
    ``options`` options."""
    kind = s.choice([k for k, most in _KINDS if most >= options])
    name, event, style = s.choice(NAMES), s.choice(EVENTS), s.choice(("mdy", "dmy"))
    lo, hi = _YEARS[level]
    z0 = s.between(to_days(lo, 1, 1), to_days(hi, 12, 31))
    d0 = from_days(z0)
    fill = {"name": name, "event": event}
    if kind == "shift":
        return _shift(s, level, z0, d0, style, fill)
    if kind == "between":
        return _between(s, level, z0, d0, style, fill)
    return _weekday(s, level, z0, style, fill)


def _shift(s: Stream, level: int, z0: int, d0: Ymd, style: str, fill: dict[str, str]) -> Spec:
    n = s.between(*{1: (3, 45), 2: (46, 400), 3: (401, 4000)}[level])
    sign = 1 if level == 1 or s.chance(1, 2) else -1
    z1 = z0 + sign * n
    text = s.choice(_SHIFT_LATER if sign > 0 else _SHIFT_EARLIER).format(
        date=render(d0, style), n=n, **fill
    )
    slips: list[Ymd | None] = [from_days(z1 + s.sign())]
    slips += [_walk(d0, sign * n, length) for length in _CALENDARS.values()]
    y1, m1, d1 = from_days(z1)
    slips += [_valid(y1, m1 + 1, d1), _valid(y1, m1 - 1, d1)]
    if level > 1:
        slips.append(from_days(z0 - sign * n))
    fillers = [from_days(z1 + d) for d in (2, -2, 3, -3, 7, -7, 5, -5, 10, -10, 14, -14)]
    dated = [x for x in slips if x is not None] + fillers
    return Spec(
        text=text,
        answer=render(from_days(z1), style),
        mistakes=tuple(render(x, style) for x in slips if x is not None),
        fillers=tuple(render(x, style) for x in fillers),
        params=MappingProxyType(
            {"kind": "shift", "style": style, "start": iso(d0), "days": sign * n}
        ),
        order={render(x, style): to_days(*x) for x in [*dated, from_days(z1)]},
    )


def _between(s: Stream, level: int, z0: int, d0: Ymd, style: str, fill: dict[str, str]) -> Spec:
    if level == 1:  # within the year of the first date
        n = s.between(2, 60)
        z0 = min(z0, to_days(d0[0], 12, 31) - n)
        d0 = from_days(z0)
    else:
        n = s.between(*{2: (61, 800), 3: (801, 15000)}[level])
    z1 = z0 + n
    d1 = from_days(z1)
    text = s.choice(_BETWEEN).format(d1=render(d0, style), d2=render(d1, style), **fill)
    (ya, ma, da), (yb, mb, db) = d0, d1
    feb29 = sum(1 for y in range(ya, yb + 1) if is_leap(y) and z0 < to_days(y, 2, 29) <= z1)
    mar1 = sum(1 for y in range(ya, yb + 1) if not is_leap(y) and z0 < to_days(y, 3, 1) <= z1)
    slips = [
        n + s.sign(),
        360 * (yb - ya) + 30 * (mb - ma) + db - da,  # every month 30 days
        372 * (yb - ya) + 31 * (mb - ma) + db - da,  # every month 31 days
        n - feb29,  # no leap days
        n + mar1,  # a leap day every year
    ]
    return Spec(
        text=text,
        answer=str(n),
        mistakes=tuple(str(x) for x in slips if x > 0),
        fillers=nearby(s, n, floor=1),
        params=MappingProxyType(
            {"kind": "between", "style": style, "start": iso(d0), "end": iso(d1)}
        ),
    )


def _weekday(s: Stream, level: int, z0: int, style: str, fill: dict[str, str]) -> Spec:
    right = weekday(z0)
    slips = [right + s.sign()]
    if level < 3:
        delta = s.between(*{1: (1, 60), 2: (61, 1000)}[level]) * s.choice((1, -1))
        zr = z0 - delta  # the reference date
        text = s.choice(_WEEKDAY_REF).format(
            ref=render(from_days(zr), style), wd=WEEKDAYS[weekday(zr)],
            date=render(from_days(z0), style), **fill,
        )  # fmt: skip
        lo, hi = sorted((zr, z0))
        feb29 = sum(
            1
            for y in range(from_days(lo)[0], from_days(hi)[0] + 1)
            if is_leap(y) and lo < to_days(y, 2, 29) <= hi
        )
        slips += [weekday(zr) - delta, right - feb29 if delta > 0 else right + feb29]
        reference: str | None = iso(from_days(zr))
    else:
        text = s.choice(_WEEKDAY).format(date=render(from_days(z0), style), **fill)
        slips += [right + _julian_shift(z0), right + 2 * s.sign()]
        reference = None
    return Spec(
        text=text,
        answer=WEEKDAYS[right],
        mistakes=tuple(WEEKDAYS[x % 7] for x in slips),
        fillers=tuple(s.sample(WEEKDAYS, 7)),
        params=MappingProxyType(
            {"kind": "weekday", "style": style, "date": iso(from_days(z0)), "reference": reference}
        ),
    )


def _julian_shift(z: int) -> int:
    """How far off a weekday counted from 1 January 2000 (a Saturday) comes out when every fourth
    year is taken as a leap year: one day per skipped century leap day in between."""
    anchor = to_days(2000, 1, 1)
    lo, hi = sorted((anchor, z))
    skipped = sum(
        1
        for y in range(from_days(lo)[0], from_days(hi)[0] + 1, 1)
        if y % 4 == 0 and not is_leap(y) and lo < to_days(y, 3, 1) <= hi
    )
    return skipped if z > anchor else -skipped


def _valid(y: int, m: int, d: int) -> Ymd | None:
    y, m = y + (m - 1) // 12, (m - 1) % 12 + 1
    return (y, m, d) if d <= month_days(y, m) else None


MonthLength = Callable[[int, int], int]
_CALENDARS: dict[str, MonthLength] = {
    "no leap days": lambda y, m: _LENGTHS[m - 1],
    "leap every year": lambda y, m: 29 if m == 2 else _LENGTHS[m - 1],
    "30-day months": lambda y, m: 30,
    "31-day months": lambda y, m: 31,
}


def _walk(date: Ymd, n: int, length: MonthLength) -> Ymd | None:
    """``n`` days after ``date`` (before, if negative) counted month by month with the month
    lengths ``length`` gives; None where the start or the result is no real date."""
    y, m, d = date
    if d > length(y, m):
        return None
    if n >= 0:
        while d + n > length(y, m):
            n -= length(y, m) - d + 1
            d = 1
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        d += n
    else:
        n = -n
        while n >= d:
            n -= d
            y, m = (y - 1, 12) if m == 1 else (y, m - 1)
            d = length(y, m)
        d -= n
    return (y, m, d) if d <= month_days(y, m) else None
