"""The transactions each payment step posts. Pure functions: the store appends what they return.

One disbursement of `amount` with `offset` netted against the payee's receivable sends
`cash = amount - offset` through the treasury:

    release  disbursed(clause) +amount   special -cash   clearing +cash
             payable(payee)    -cash     receivable(payee) -offset
    paid     payable(payee)    +cash     clearing -cash
    failed   the release, negated (money back in the special account, receivable restored)

The subsidy counts as spent when finance releases it (人社部门牵头汇总，财政部门进行拨付, 十二.2);
a treasury failure reverses that in the month it is reported.
"""

from __future__ import annotations

from services.payments.ledger import (
    DomainError,
    Fund,
    Payee,
    Posting,
    Transaction,
    clearing,
    disbursed,
    finance_allocation,
    payable,
    receivable,
    special,
    transaction,
)


def _positive(amount_fen: int, what: str) -> None:
    if type(amount_fen) is not int or amount_fen <= 0:
        raise DomainError(f"{what} must be a positive int fen, got {amount_fen!r}")


def allocation_tx(ref: str, fund: Fund, amount_fen: int) -> Transaction:
    """Finance credits an allocation into the special account (十二.1)."""
    _positive(amount_fen, "allocation")
    return transaction("allocation", ref, [(special(fund), amount_fen),
                                           (finance_allocation(fund), -amount_fen)])


def release_tx(ref: str, fund: Fund, clause: str, payee: Payee,
               amount_fen: int, offset_fen: int = 0) -> Transaction:
    """Finance releases a disbursement; `offset_fen` of it settles the payee's receivable (十四)."""
    _positive(amount_fen, "disbursement")
    if not 0 <= offset_fen <= amount_fen:
        raise DomainError(f"offset {offset_fen} must lie within 0..{amount_fen}")
    cash = amount_fen - offset_fen
    return transaction("release", ref, [
        (disbursed(fund, clause), amount_fen),
        (payable(fund, payee), -cash),
        (receivable(fund, payee), -offset_fen),
        (special(fund), -cash),
        (clearing(fund), cash),
    ])


def paid_tx(ref: str, fund: Fund, payee: Payee, cash_fen: int) -> Transaction | None:
    """The treasury confirmed payment; None when the whole amount was offset (no cash moved)."""
    if cash_fen == 0:
        return None
    _positive(cash_fen, "paid cash")
    return transaction("paid", ref, [(payable(fund, payee), cash_fen), (clearing(fund), -cash_fen)])


def failed_tx(release: Transaction) -> Transaction:
    """The treasury reported failure: undo the release exactly, as a new transaction."""
    negated = tuple(Posting(p.account, -p.amount_fen) for p in release.postings)
    return Transaction(postings=negated, kind="failed", ref=release.ref)


def reversal_tx(ref: str, fund: Fund, clause: str, payee: Payee, amount_fen: int,
                kind: str = "reversal") -> Transaction:
    """Claw back a paid subsidy (十四, revoked certificate): the payee now owes it."""
    _positive(amount_fen, "reversal")
    return transaction(kind, ref, [(disbursed(fund, clause), -amount_fen),
                                   (receivable(fund, payee), amount_fen)])


def recovery_tx(ref: str, fund: Fund, payee: Payee, amount_fen: int) -> Transaction:
    """The payee repaid: the special account is restored, the receivable shrinks."""
    _positive(amount_fen, "recovery")
    return transaction("recovery", ref, [(special(fund), amount_fen),
                                         (receivable(fund, payee), -amount_fen)])
