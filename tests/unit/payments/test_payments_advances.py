from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest
from helpers_payments import FIN_BO, HR_ANNA, UI
from hypothesis import given
from hypothesis import strategies as st

from services.payments.advances import (
    apprentice_advance_fen,
    apprentice_planned_subsidy_fen,
    apprentice_settlement,
    check_advance,
    max_advance_fen,
)
from services.payments.disbursements import State
from services.payments.funding import advance_ratio, load_funding
from services.payments.ledger import DomainError, Payee, PayeeKind, disbursed, receivable
from services.payments.reference_ledger import Ledger
from shared.money import yuan_to_fen

ENTERPRISE = Payee(PayeeKind.ENTERPRISE, "e-1")
LEVEL3_YEARLY = yuan_to_fen("5000")  # 四.7 level 3, confirmed for Nantong (REFERENCE.md)
HALF = advance_ratio(load_funding(), date(2020, 3, 1))


def test_reference_apprentice_example_advance_is_112500_yuan() -> None:
    assert apprentice_advance_fen(45, LEVEL3_YEARLY, HALF) == yuan_to_fen("112500")


def test_reference_apprentice_example_settlement_for_33_completers_is_217500_yuan() -> None:
    advance = apprentice_advance_fen(45, LEVEL3_YEARLY, HALF)
    s = apprentice_settlement(33, LEVEL3_YEARLY, 2, advance)
    assert (s.pay_fen, s.recover_fen) == (yuan_to_fen("217500"), 0)


def test_advance_stays_within_half_of_the_planned_subsidy() -> None:
    planned = apprentice_planned_subsidy_fen(45, LEVEL3_YEARLY, 2)
    check_advance(apprentice_advance_fen(45, LEVEL3_YEARLY, HALF), planned, HALF)
    with pytest.raises(DomainError, match="十三.5"):
        check_advance(max_advance_fen(planned, HALF) + 1, planned, HALF)


def test_advance_cap_rounds_down_so_it_never_exceeds_the_share() -> None:
    assert max_advance_fen(3, Fraction(1, 2)) == 1


def test_few_completers_turn_the_unearned_advance_into_a_receivable() -> None:
    s = apprentice_settlement(10, LEVEL3_YEARLY, 1, yuan_to_fen("112500"))
    assert (s.pay_fen, s.recover_fen) == (0, yuan_to_fen("62500"))


@given(planned=st.integers(1, 500), done=st.integers(0, 500), years=st.integers(1, 3),
       yearly=st.sampled_from([400_000, 500_000, 600_000, 800_000]))
def test_advance_plus_settlement_always_equals_what_was_earned(
        planned: int, done: int, years: int, yearly: int) -> None:
    advance = apprentice_advance_fen(planned, yearly, HALF)
    s = apprentice_settlement(done, yearly, years, advance)
    assert advance + s.pay_fen - s.recover_fen == done * yearly * years


def _paid_advance(ledger: Ledger) -> int:
    ledger.allocate("a1", UI, yuan_to_fen("1000000"))
    advance = apprentice_advance_fen(45, LEVEL3_YEARLY, HALF)
    planned = apprentice_planned_subsidy_fen(45, LEVEL3_YEARLY, 2)
    key = ledger.draft_advance("ap1", UI, "四.7", ENTERPRISE, advance, planned, HALF).key
    ledger.approve(key, HR_ANNA)
    ledger.release(key, FIN_BO)
    ledger.mark_paid(key)
    return advance


def test_settlement_pays_the_rest_as_a_second_part_of_the_same_decision() -> None:
    ledger = Ledger()
    advance = _paid_advance(ledger)
    rest = ledger.settle("ap1", apprentice_settlement(33, LEVEL3_YEARLY, 2, advance))
    assert rest.amount_fen == yuan_to_fen("217500") and rest.state is State.RESERVED  # type: ignore[union-attr]
    with pytest.raises(DomainError, match="at most once"):
        ledger.settle("ap1", apprentice_settlement(33, LEVEL3_YEARLY, 2, advance))


def test_negative_settlement_books_a_receivable_from_the_enterprise() -> None:
    ledger = Ledger()
    advance = _paid_advance(ledger)
    ledger.settle("ap1", apprentice_settlement(5, LEVEL3_YEARLY, 1, advance))
    assert ledger.balance(receivable(UI, ENTERPRISE)) == yuan_to_fen("87500")
    assert ledger.balance(disbursed(UI, "四.7")) == yuan_to_fen("25000")


def test_settlement_before_the_advance_is_paid_is_refused() -> None:
    ledger = Ledger()
    ledger.allocate("a1", UI, yuan_to_fen("1000000"))
    ledger.draft_advance("ap1", UI, "四.7", ENTERPRISE, 100, 1000, HALF)
    with pytest.raises(DomainError, match="advance paid"):
        ledger.settle("ap1", apprentice_settlement(1, 100, 1, 100))
