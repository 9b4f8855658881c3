"""verify-ledger's pure checks: a disbursement's status against the transactions of its attempts."""

from __future__ import annotations

import pytest

from services.payments.disbursements import State
from services.payments.verify import expected_disbursed, history_problem, settled


@pytest.mark.parametrize(("status", "kinds", "reversed_"), [
    (State.RESERVED, {}, False),
    (State.RELEASED, {1: {"release"}}, False),
    (State.PAID, {1: {"release", "paid"}}, False),
    (State.FAILED, {1: {"release", "failed"}}, False),
    (State.REVERSED, {1: {"release", "paid"}}, True),
    (State.CANCELLED, {}, False),
])
def test_a_status_that_agrees_with_its_transactions_passes(status: State, kinds: dict, reversed_: bool) -> None:
    assert history_problem(status, 1, 100, kinds, reversed_) is None


@pytest.mark.parametrize(("status", "attempt", "kinds", "reversed_"), [
    (State.PAID, 1, {1: {"release"}}, False),  # marked paid without the treasury's answer
    (State.RELEASED, 1, {}, False),  # released without a release transaction
    (State.RESERVED, 1, {1: {"release"}}, False),  # money left while it shows reserved
    (State.PAID, 1, {1: {"release", "paid"}}, True),  # clawed back but still shown paid
    (State.RESERVED, 2, {}, False),  # a retry whose first attempt never failed
    (State.CANCELLED, 1, {1: {"release", "paid"}}, False),
])
def test_a_status_its_transactions_contradict_is_reported(status: State, attempt: int, kinds: dict,
                                                          reversed_: bool) -> None:
    assert history_problem(status, attempt, 100, kinds, reversed_) is not None


def test_a_payment_wholly_netted_off_a_receivable_is_paid_without_a_paid_transaction() -> None:
    assert history_problem(State.PAID, 1, 0, {1: {"release"}}, False) is None
    assert history_problem(State.PAID, 1, 1, {1: {"release"}}, False) is not None


def test_only_released_and_paid_money_counts_as_spent() -> None:
    assert [expected_disbursed(s, 100) for s in (State.RELEASED, State.PAID, State.REVERSED, State.FAILED)] == [
        100, 100, 0, 0]


def test_a_trigger_is_settled_only_with_nothing_unpaid_in_flight_held_or_awaiting_a_retry() -> None:
    assert settled([(State.PAID, False), (State.REVERSED, True)], held=False)
    assert not settled([(State.RELEASED, True)], held=False)
    assert not settled([(State.FAILED, False)], held=False)  # its own failed payment awaits a retry
    assert settled([(State.FAILED, True)], held=False)  # a superseded decision's failure is final
    assert not settled([], held=True)
