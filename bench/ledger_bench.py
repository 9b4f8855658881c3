"""Payments ledger benchmark through the pure domain: postings/s on one hot fund.

Run: .venv/bin/python bench/ledger_bench.py [--n 100000]
Three figures, all in process, no database (the DB-backed bench is separate):
  build     balanced transactions built and checked (the constructor's cost alone)
  ledger    full life cycle per decision on one hot fund: draft, approve, release, paid
  replay    balances derived again from every posting (what an audit recomputes)
Synthetic data: one district, one source, example amounts.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from services.payments.disbursements import Actor, Role
from services.payments.entries import paid_tx, release_tx
from services.payments.ledger import Fund, FundingSource, Payee, PayeeKind, balances, special
from services.payments.reference_ledger import Ledger

HOT = Fund(FundingSource.UNEMPLOYMENT_INSURANCE_SURPLUS, "320612")
HR = Actor("hr-1", Role.HR)
FIN = Actor("fin-1", Role.FINANCE)
AMOUNT_FEN = 97_500  # example: 50% × (1,500 + 450) yuan, a level-3 四.4 subsidy


def timed(label: str, postings: Callable[[], int]) -> float:
    start = time.perf_counter()
    count = postings()
    seconds = time.perf_counter() - start
    rate = count / seconds
    print(f"{label:<8} {count:>9,} postings in {seconds:6.2f} s = {rate:>11,.0f} postings/s")
    return rate


def build(n: int) -> int:
    payees = [Payee(PayeeKind.WORKER_CARD, f"w{i}") for i in range(n)]
    count = 0
    for i, payee in enumerate(payees):
        tx = release_tx(f"d{i}:whole", HOT, "四.4", payee, AMOUNT_FEN)
        paid = paid_tx(f"d{i}:whole", HOT, payee, AMOUNT_FEN)
        count += len(tx.postings) + (len(paid.postings) if paid else 0)
    return count


def life_cycle(ledger: Ledger, n: int) -> int:
    ledger.allocate("a0", HOT, AMOUNT_FEN * n)
    for i in range(n):
        key = ledger.draft(f"d{i}", HOT, "四.4", Payee(PayeeKind.WORKER_CARD, f"w{i}"),
                           AMOUNT_FEN).key
        ledger.approve(key, HR)
        ledger.release(key, FIN)
        ledger.mark_paid(key)
    return sum(len(tx.postings) for tx in ledger.transactions)


def replay(ledger: Ledger) -> int:
    derived = balances(ledger.transactions)
    assert derived[special(HOT)] == ledger.balance(special(HOT)) == 0, "hot fund not spent exactly"
    return sum(len(tx.postings) for tx in ledger.transactions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="decisions to pay")
    args = parser.parse_args()
    print(f"payments ledger, pure domain, {args.n:,} decisions on one hot fund {HOT.district}")
    timed("build", lambda: build(args.n))
    ledger = Ledger()
    timed("ledger", lambda: life_cycle(ledger, args.n))
    timed("replay", lambda: replay(ledger))


if __name__ == "__main__":
    main()
