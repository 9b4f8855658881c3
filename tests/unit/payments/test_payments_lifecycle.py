from __future__ import annotations

import pytest
from helpers_payments import FIN_ANNA, FIN_BO, HR_ANNA, OTHER_WORKER, UI, WORKER

from services.payments.disbursements import (
    Action,
    Actor,
    IllegalTransition,
    Part,
    Role,
    RoleViolation,
    State,
    admit_waiting,
    next_state,
    plan_offset,
    plan_reservation,
)
from services.payments.ledger import DomainError, clearing, receivable, special
from services.payments.reference_ledger import Ledger


def funded(amount_fen: int) -> Ledger:
    ledger = Ledger()
    ledger.allocate("a0", UI, amount_fen)
    return ledger


def approved(ledger: Ledger, decision: str, amount_fen: int, payee=WORKER) -> str:
    key = ledger.draft(decision, UI, "四.4", payee, amount_fen).key
    ledger.approve(key, HR_ANNA)
    return key


def test_the_person_who_approved_can_never_release_even_holding_the_finance_role() -> None:
    ledger = funded(100_000)
    key = approved(ledger, "d1", 50_000)
    with pytest.raises(RoleViolation, match="anna approved"):
        ledger.release(key, FIN_ANNA)
    assert ledger.disbursement(key).state is State.APPROVED
    assert ledger.balance(clearing(UI)) == 0


def test_approval_needs_the_hr_role() -> None:
    ledger = funded(100_000)
    key = ledger.draft("d1", UI, "四.4", WORKER, 50_000).key
    with pytest.raises(RoleViolation, match="needs role hr"):
        ledger.approve(key, FIN_BO)
    assert ledger.disbursement(key).approved_by is None


def test_release_needs_the_finance_role() -> None:
    ledger = funded(100_000)
    key = approved(ledger, "d1", 50_000)
    with pytest.raises(RoleViolation, match="needs role finance"):
        ledger.release(key, Actor("carl", Role.HR))


def test_a_different_finance_person_releases_and_the_money_leaves_the_special_account() -> None:
    ledger = funded(100_000)
    key = approved(ledger, "d1", 50_000)
    released = ledger.release(key, FIN_BO)
    assert (released.approved_by, released.released_by) == ("anna", "bo")
    assert ledger.balance(special(UI)) == 50_000
    assert ledger.available(UI) == 50_000 and ledger.reserved(UI) == 0


def test_a_decision_is_drafted_at_most_once_whatever_the_redelivery() -> None:
    ledger = funded(100_000)
    ledger.draft("d1", UI, "四.4", WORKER, 10_000)
    with pytest.raises(DomainError, match="at most once"):
        ledger.draft("d1", UI, "四.4", WORKER, 10_000)
    assert ledger.reserved(UI) == 10_000


def test_releasing_twice_is_an_illegal_transition_with_a_clear_message() -> None:
    ledger = funded(100_000)
    key = approved(ledger, "d1", 50_000)
    ledger.release(key, FIN_BO)
    with pytest.raises(IllegalTransition, match="cannot release a disbursement that is released"):
        ledger.release(key, FIN_BO)
    assert ledger.balance(special(UI)) == 50_000


def test_paying_a_cancelled_draft_is_refused() -> None:
    with pytest.raises(IllegalTransition, match="allowed: nothing"):
        next_state(State.CANCELLED, Action.MARK_PAID)


def test_draft_the_fund_cannot_cover_waits_and_holds_nothing() -> None:
    ledger = funded(10_000)
    item = ledger.draft("d1", UI, "四.4", WORKER, 20_000)
    assert item.state is State.WAITING
    assert ledger.available(UI) == 10_000
    assert [w.key for w in ledger.waiting(UI)] == [item.key]


def test_a_later_small_draft_does_not_jump_the_queue() -> None:
    ledger = funded(10_000)
    ledger.draft("big", UI, "四.4", WORKER, 20_000)
    small = ledger.draft("small", UI, "四.4", WORKER, 1_000)
    assert small.state is State.WAITING
    assert [w.decision_id for w in ledger.waiting(UI)] == ["big", "small"]


def test_allocation_reserves_waiting_drafts_in_arrival_order() -> None:
    ledger = Ledger()
    for name in ("first", "second", "third"):
        ledger.draft(name, UI, "四.4", WORKER, 10_000)
    admitted = ledger.allocate("a1", UI, 25_000)
    assert admitted == ["first:whole", "second:whole"]
    assert [w.decision_id for w in ledger.waiting(UI)] == ["third"]
    assert ledger.available(UI) == 5_000


def test_admit_waiting_stops_at_the_first_draft_that_does_not_fit() -> None:
    waiting = [("a", 5), ("b", 50), ("c", 1)]
    assert admit_waiting(available_fen=20, waiting=waiting) == ["a"]
    assert admit_waiting(available_fen=56, waiting=waiting) == ["a", "b", "c"]


def test_plan_reservation_reserves_exactly_what_is_available() -> None:
    assert plan_reservation(available_fen=100, amount_fen=100, waiting_ahead=0).reserve
    assert not plan_reservation(available_fen=99, amount_fen=100, waiting_ahead=0).reserve
    assert not plan_reservation(available_fen=1000, amount_fen=100, waiting_ahead=1).reserve


def test_cancelling_a_reserved_draft_admits_the_next_waiting_one() -> None:
    ledger = funded(10_000)
    first = ledger.draft("d1", UI, "四.4", WORKER, 10_000)
    ledger.draft("d2", UI, "四.4", WORKER, 8_000)
    ledger.cancel(first.key)
    assert ledger.disbursement("d2:whole").state is State.RESERVED
    assert ledger.available(UI) == 2_000


def test_treasury_failure_returns_the_money_and_a_retry_needs_fresh_approval() -> None:
    ledger = funded(50_000)
    key = approved(ledger, "d1", 50_000)
    ledger.release(key, FIN_BO)
    ledger.mark_failed(key)
    assert ledger.available(UI) == 50_000 and ledger.balance(clearing(UI)) == 0
    again = ledger.retry(key)
    assert (again.state, again.approved_by) == (State.RESERVED, None)
    assert ledger.available(UI) == 0


def test_paid_decision_cannot_be_paid_again() -> None:
    ledger = funded(50_000)
    key = approved(ledger, "d1", 20_000)
    ledger.release(key, FIN_BO)
    ledger.mark_paid(key)
    with pytest.raises(IllegalTransition):
        ledger.mark_paid(key)
    with pytest.raises(DomainError):
        ledger.draft("d1", UI, "四.4", WORKER, 20_000)


def test_clawback_is_offset_against_the_payees_next_payment_only() -> None:
    ledger = funded(100_000)
    key = approved(ledger, "d1", 30_000)
    ledger.release(key, FIN_BO)
    ledger.mark_paid(key)
    ledger.reverse(key)
    assert ledger.balance(receivable(UI, WORKER)) == 30_000
    other = approved(ledger, "d2", 40_000, payee=OTHER_WORKER)
    assert ledger.release(other, FIN_BO).offset_fen == 0
    nxt = approved(ledger, "d3", 20_000)
    released = ledger.release(nxt, FIN_BO)
    assert (released.offset_fen, released.cash_fen) == (20_000, 0)
    assert ledger.balance(receivable(UI, WORKER)) == 10_000
    assert ledger.balance(special(UI)) == 100_000 - 30_000 - 40_000


def test_recovery_beyond_what_is_owed_is_refused() -> None:
    ledger = funded(100_000)
    with pytest.raises(DomainError, match="exceeds"):
        ledger.recover("r1", UI, WORKER, 1)
    assert ledger.balance(special(UI)) == 100_000


def test_offset_never_exceeds_the_payment_or_the_debt() -> None:
    assert plan_offset(amount_fen=100, receivable_fen=30) == 30
    assert plan_offset(amount_fen=100, receivable_fen=300) == 100
    assert plan_offset(amount_fen=100, receivable_fen=0) == 0


def test_a_whole_payment_excludes_an_advance_for_the_same_decision() -> None:
    ledger = funded(100_000)
    ledger.draft("d1", UI, "四.7", WORKER, 10_000)
    with pytest.raises(DomainError, match="either whole"):
        ledger.draft("d1", UI, "四.7", WORKER, 10_000, Part.ADVANCE)
