"""MRT amounts as people read and write them; wei (an int) everywhere else."""

from __future__ import annotations

from decimal import Decimal

from services.core.errors import Invalid

MRT_DECIMALS = 18
MRT = 10**MRT_DECIMALS


def format_mrt(wei: int) -> str:
    """``90 MRT``, ``0.5 MRT``: exact, no trailing zeros."""
    text = format(Decimal(wei).scaleb(-MRT_DECIMALS).normalize(), "f")
    return f"{text} MRT"


def parse_mrt(text: str) -> int:
    """``"90"`` / ``"0.5"`` / ``"90 MRT"`` as wei; Invalid for anything else (or sub-wei digits)."""
    cleaned = text.strip().removesuffix("MRT").removesuffix("mrt").strip()
    try:
        amount = Decimal(cleaned)
    except ArithmeticError:
        amount = Decimal("NaN")
    wei = amount.scaleb(MRT_DECIMALS) if amount.is_finite() else amount
    if not wei.is_finite() or wei < 0 or wei != wei.to_integral_value():
        raise Invalid(
            f"{text!r} is not an amount of MRT",
            hint="give a non-negative number of MRT with at most 18 decimals, e.g. 90 or 0.5",
        )
    return int(wei)
