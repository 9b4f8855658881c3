from __future__ import annotations

import pytest
from helpers_payments import TALENT, UI, WORKER

from services.payments.entries import (
    allocation_tx,
    failed_tx,
    paid_tx,
    recovery_tx,
    release_tx,
    reversal_tx,
)
from services.payments.ledger import (
    Account,
    Posting,
    Transaction,
    UnbalancedTransaction,
    balances,
    clearing,
    disbursed,
    finance_allocation,
    fund_totals,
    payable,
    receivable,
    special,
)


def test_transaction_whose_postings_do_not_sum_to_zero_is_refused() -> None:
    with pytest.raises(UnbalancedTransaction, match="sum to 1 fen"):
        Transaction((Posting(special(UI), 101), Posting(finance_allocation(UI), -100)), "x", "r")


def test_transaction_crossing_funding_sources_is_refused() -> None:
    with pytest.raises(UnbalancedTransaction, match="cross funds"):
        Transaction((Posting(special(UI), 100), Posting(finance_allocation(TALENT), -100)), "x", "r")


@pytest.mark.parametrize("amount", [0, 1.0, True])
def test_posting_amounts_must_be_non_zero_int_fen(amount: object) -> None:
    with pytest.raises(UnbalancedTransaction):
        Transaction((Posting(special(UI), amount), Posting(special(UI), -1)), "x", "r")  # type: ignore[arg-type]


def test_single_posting_is_not_a_transaction() -> None:
    with pytest.raises(UnbalancedTransaction, match="two postings"):
        Transaction((), "x", "r")


def test_release_with_offset_sends_only_the_net_cash_and_settles_the_receivable() -> None:
    tx = release_tx("d1:whole", UI, "四.4", WORKER, amount_fen=100_000, offset_fen=30_000)
    b = balances([tx])
    assert b[disbursed(UI, "四.4")] == 100_000
    assert b[special(UI)] == -70_000
    assert b[clearing(UI)] == 70_000
    assert b[payable(UI, WORKER)] == -70_000
    assert b[receivable(UI, WORKER)] == -30_000


def test_fully_offset_payment_moves_no_cash_and_needs_no_paid_transaction() -> None:
    tx = release_tx("d1:whole", UI, "四.4", WORKER, amount_fen=5_000, offset_fen=5_000)
    assert {p.account for p in tx.postings} == {disbursed(UI, "四.4"), receivable(UI, WORKER)}
    assert paid_tx("d1:whole", UI, WORKER, 0) is None


def test_failure_undoes_the_release_exactly() -> None:
    allocation = allocation_tx("a1", UI, 200_000)
    release = release_tx("d1:whole", UI, "四.4", WORKER, 100_000)
    after = balances([allocation, release, failed_tx(release)])
    assert after[special(UI)] == 200_000
    assert all(v == 0 for a, v in after.items() if a not in (special(UI), finance_allocation(UI)))


def test_paid_clears_the_payable_and_the_treasury_clearing() -> None:
    txs = [allocation_tx("a1", UI, 100_000), release_tx("d1", UI, "四.4", WORKER, 60_000),
           paid_tx("d1", UI, WORKER, 60_000)]
    b = balances(t for t in txs if t is not None)
    assert (b[special(UI)], b[clearing(UI)], b[payable(UI, WORKER)]) == (40_000, 0, 0)
    assert b[disbursed(UI, "四.4")] == 60_000


def test_reversal_then_recovery_restores_the_special_account() -> None:
    txs = [allocation_tx("a1", UI, 100_000), release_tx("d1", UI, "四.4", WORKER, 60_000),
           paid_tx("d1", UI, WORKER, 60_000), reversal_tx("d1", UI, "四.4", WORKER, 60_000),
           recovery_tx("rc1", UI, WORKER, 60_000)]
    b = balances(t for t in txs if t is not None)
    assert b[special(UI)] == 100_000
    assert b[receivable(UI, WORKER)] == 0
    assert b[disbursed(UI, "四.4")] == 0
    assert fund_totals(b) == {UI: 0}


def test_allocation_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        allocation_tx("a1", UI, 0)


def test_account_code_round_trips_for_a_store_that_keeps_text_keys() -> None:
    for account in (special(UI), receivable(UI, WORKER), disbursed(TALENT, "四.5a")):
        assert Account.from_code(account.code) == account
