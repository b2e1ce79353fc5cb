"""Questions with verifiable answers, generated from a secret (see ``generator``).

Families: ``arithmetic`` (multi-step word problems), ``dates`` (calendar reasoning), ``units``
(exact unit conversion), ``logic`` (truth tables) and ``strings`` (reverse, count, sort, index),
each at levels 1..3.
"""

from services.core.questions.generator import (
    LEVELS,
    MAX_OPTIONS,
    MIN_OPTIONS,
    Draw,
    Family,
    FreeQuestion,
    Generator,
    canonical,
    canonical_of,
    commitment,
    commitment_of,
)

__all__ = [
    "LEVELS",
    "MAX_OPTIONS",
    "MIN_OPTIONS",
    "Draw",
    "Family",
    "FreeQuestion",
    "Generator",
    "canonical",
    "canonical_of",
    "commitment",
    "commitment_of",
]
