"""Advances and settlement (十三.5). Pure arithmetic on integer fen.

十三.5: enterprise training and project-based training may receive an advance of at most a
share (50% in 2019, a dated parameter) of the subsidy before completion; the rest is settled on
completion, and an advance that was not earned is recovered (a receivable from the payee).

Apprentice practice (四.7, REFERENCE.md): advance = planned × yearly standard × ratio;
settlement = completers × yearly standard × years − advance.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from services.payments.ledger import DomainError
from shared.money import share_at_most


@dataclass(frozen=True, slots=True)
class Settlement:
    earned_fen: int
    advance_fen: int

    @property
    def balance_fen(self) -> int:
        """Positive: still to pay. Negative: the unearned advance to recover."""
        return self.earned_fen - self.advance_fen

    @property
    def pay_fen(self) -> int:
        return max(0, self.balance_fen)

    @property
    def recover_fen(self) -> int:
        return max(0, -self.balance_fen)


def max_advance_fen(planned_subsidy_fen: int, ratio: Fraction) -> int:
    """The cap: floor, not half-up, because 十三.5 says "不高于" (not more than)."""
    _check_ratio(ratio)
    return share_at_most(planned_subsidy_fen, ratio)


def check_advance(advance_fen: int, planned_subsidy_fen: int, ratio: Fraction) -> None:
    """Refuse an advance above the 十三.5 cap."""
    cap = max_advance_fen(planned_subsidy_fen, ratio)
    if advance_fen <= 0:
        raise DomainError(f"advance must be positive, got {advance_fen} fen")
    if advance_fen > cap:
        raise DomainError(
            f"advance {advance_fen} fen exceeds {ratio} of the planned subsidy "
            f"{planned_subsidy_fen} fen (cap {cap} fen, 十三.5)")


def apprentice_advance_fen(planned_count: int, yearly_standard_fen: int, ratio: Fraction) -> int:
    """四.7 practice: planned headcount × one year's standard × ratio (within the 十三.5 cap)."""
    _check_count(planned_count, "planned headcount")
    _check_ratio(ratio)
    return share_at_most(planned_count * yearly_standard_fen, ratio)


def apprentice_planned_subsidy_fen(planned_count: int, yearly_standard_fen: int, years: int) -> int:
    _check_count(planned_count, "planned headcount")
    _check_count(years, "years")
    return planned_count * yearly_standard_fen * years


def apprentice_settlement(completers: int, yearly_standard_fen: int, years: int,
                          advance_fen: int) -> Settlement:
    """四.7 practice: completers × standard × years − advance; negative means recover."""
    _check_count(completers, "completers")
    _check_count(years, "years")
    return Settlement(earned_fen=completers * yearly_standard_fen * years, advance_fen=advance_fen)


def settle(earned_fen: int, advance_fen: int) -> Settlement:
    """Generic 十三.5 settlement once the earned subsidy is known."""
    if earned_fen < 0 or advance_fen < 0:
        raise DomainError("earned subsidy and advance cannot be negative")
    return Settlement(earned_fen=earned_fen, advance_fen=advance_fen)


def _check_ratio(ratio: Fraction) -> None:
    if not 0 <= ratio <= 1:
        raise DomainError(f"advance ratio must lie within 0..1, got {ratio}")


def _check_count(n: int, what: str) -> None:
    if type(n) is not int or n < 0:
        raise DomainError(f"{what} must be a non-negative int, got {n!r}")
