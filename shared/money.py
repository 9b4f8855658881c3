"""Money is integer fen (分). Yuan strings exist only at the edges.

Formulas compute exactly (Fraction) and round once, half-up to the fen, at the end.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

FEN_PER_YUAN = 100


def round_half_up(value: Fraction | Decimal | int) -> int:
    """Round an exact amount in fen to a whole fen, half away from zero."""
    frac = Fraction(value)
    sign = -1 if frac < 0 else 1
    magnitude = abs(frac)
    whole, rest = divmod(magnitude.numerator, magnitude.denominator)
    if 2 * rest >= magnitude.denominator:
        whole += 1
    return sign * whole


def yuan_to_fen(text: str | int | Decimal) -> int:
    """Parse a yuan amount ("1500", "1500.5", "1500.50") into fen; more than 2 decimals is an error."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a yuan amount: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a yuan amount: {text!r}")
    fen = value * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError(f"more than two decimals in yuan amount: {text!r}")
    return int(fen)


def fen_to_yuan(fen: int) -> str:
    """Format fen as a yuan string with two decimals: 150050 -> '1500.50'."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{cents:02d}"


def share_of(amount_fen: int, share: Fraction | Decimal | str) -> int:
    """amount × share, rounded once half-up."""
    return round_half_up(Fraction(amount_fen) * Fraction(str(share)))


def share_at_most(amount_fen: int, share: Fraction | Decimal | str) -> int:
    """amount × share, rounded down to the fen: for amounts capped at a share ("不高于", e.g. the
    十三.5 advance), where rounding half-up could pay a fen above the cap. The one rounding rule
    for such caps, used by payments and eligibility alike."""
    exact = Fraction(amount_fen) * Fraction(str(share))
    return exact.numerator // exact.denominator


__all__ = ["round_half_up", "yuan_to_fen", "fen_to_yuan", "share_of", "share_at_most", "FEN_PER_YUAN", "Decimal",
           "ROUND_HALF_UP"]
