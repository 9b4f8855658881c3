"""Property test: the in-memory Ledger against a deliberately simple reference model.

The model knows only amounts and states; it predicts what the special account, the available
balance, receivables and spending must be. The ledger derives them from postings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pytest
from helpers_payments import FIN_ANNA, FIN_BO, HR_ANNA, OTHER_WORKER, TALENT, UI, WORKER
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from services.payments.disbursements import (
    Actor,
    IllegalTransition,
    Role,
    RoleViolation,
    State,
)
from services.payments.ledger import (
    AccountKind,
    DomainError,
    Fund,
    Payee,
    balances,
    fund_totals,
    receivable,
    special,
)
from services.payments.reference_ledger import Ledger

FUNDS = (UI, TALENT)
PAYEES = (WORKER, OTHER_WORKER)
ACTORS = (HR_ANNA, FIN_BO, FIN_ANNA, Actor("carl", Role.HR))
# Round thousands with a fen or two either side, so exact fits and near misses are common.
amounts = st.builds(lambda k, e: k * 1_000 + e, st.integers(1, 20), st.integers(-2, 2))


@dataclass
class Item:
    fund: Fund
    payee: Payee
    amount: int
    state: str = "waiting"
    approver: str = ""
    offset: int = 0


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger()
        self.items: dict[str, Item] = {}
        self.queue: dict[Fund, list[str]] = defaultdict(list)
        self.special: dict[Fund, int] = defaultdict(int)
        self.owed: dict[tuple[Fund, Payee], int] = defaultdict(int)
        self.spent: dict[Fund, int] = defaultdict(int)
        self.releases: dict[str, int] = defaultdict(int)  # net releases per decision
        self.seq = 0

    # ---- model helpers -------------------------------------------------------------------

    def available(self, fund: Fund) -> int:
        held = sum(i.amount for i in self.items.values()
                   if i.fund == fund and i.state in ("reserved", "approved"))
        return self.special[fund] - held

    def admit(self, fund: Fund) -> None:
        while self.queue[fund] and self.items[self.queue[fund][0]].amount <= self.available(fund):
            self.items[self.queue[fund].pop(0)].state = "reserved"

    def place(self, key: str, item: Item) -> None:
        fits = not self.queue[item.fund] and item.amount <= self.available(item.fund)
        item.state = "reserved" if fits else "waiting"
        if not fits:
            self.queue[item.fund].append(key)

    def keys_in(self, *states: str) -> list[str]:
        return sorted(k for k, i in self.items.items() if i.state in states)

    # ---- rules ---------------------------------------------------------------------------

    @rule(fund=st.sampled_from(FUNDS), amount=amounts)
    def allocate(self, fund: Fund, amount: int) -> None:
        self.seq += 1
        self.ledger.allocate(f"a{self.seq}", fund, amount)
        self.special[fund] += amount
        self.admit(fund)

    @rule(fund=st.sampled_from(FUNDS), payee=st.sampled_from(PAYEES), amount=amounts)
    def draft(self, fund: Fund, payee: Payee, amount: int) -> None:
        self.seq += 1
        decision = f"d{self.seq}"
        got = self.ledger.draft(decision, fund, "四.4", payee, amount)
        item = Item(fund, payee, amount)
        self.place(got.key, item)
        self.items[got.key] = item

    @precondition(lambda self: self.items)
    @rule(data=st.data())
    def redraft_is_refused(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.items)))
        item = self.items[key]
        with pytest.raises(DomainError, match="at most once"):
            self.ledger.draft(key.split(":")[0], item.fund, "四.4", item.payee, item.amount)

    @precondition(lambda self: self.keys_in("reserved"))
    @rule(data=st.data(), actor=st.sampled_from(ACTORS))
    def approve(self, data: st.DataObject, actor: Actor) -> None:
        key = data.draw(st.sampled_from(self.keys_in("reserved")))
        if actor.role is not Role.HR:
            with pytest.raises(RoleViolation):
                self.ledger.approve(key, actor)
            return
        self.ledger.approve(key, actor)
        self.items[key].state, self.items[key].approver = "approved", actor.person_id

    @precondition(lambda self: self.keys_in("approved"))
    @rule(data=st.data(), actor=st.sampled_from(ACTORS))
    def release(self, data: st.DataObject, actor: Actor) -> None:
        key = data.draw(st.sampled_from(self.keys_in("approved")))
        item = self.items[key]
        if actor.role is not Role.FINANCE or actor.person_id == item.approver:
            with pytest.raises(RoleViolation):
                self.ledger.release(key, actor)
            return
        got = self.ledger.release(key, actor)
        item.offset = min(item.amount, self.owed[(item.fund, item.payee)])
        assert got.offset_fen == item.offset
        self.owed[(item.fund, item.payee)] -= item.offset
        self.special[item.fund] -= item.amount - item.offset
        self.spent[item.fund] += item.amount
        self.releases[key] += 1
        item.state = "released"
        self.admit(item.fund)

    @precondition(lambda self: self.keys_in("released"))
    @rule(data=st.data(), ok=st.booleans())
    def treasury_answers(self, data: st.DataObject, ok: bool) -> None:
        key = data.draw(st.sampled_from(self.keys_in("released")))
        item = self.items[key]
        if ok:
            self.ledger.mark_paid(key)
            item.state = "paid"
            return
        self.ledger.mark_failed(key)
        self.owed[(item.fund, item.payee)] += item.offset
        self.special[item.fund] += item.amount - item.offset
        self.spent[item.fund] -= item.amount
        self.releases[key] -= 1
        item.state, item.offset = "failed", 0
        self.admit(item.fund)

    @precondition(lambda self: self.keys_in("failed"))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(self.keys_in("failed")))
        self.ledger.retry(key)
        self.place(key, self.items[key])

    @precondition(lambda self: self.keys_in("waiting", "reserved", "approved"))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(self.keys_in("waiting", "reserved", "approved")))
        item = self.items[key]
        self.ledger.cancel(key)
        if item.state == "waiting":
            self.queue[item.fund].remove(key)
        item.state = "cancelled"
        self.admit(item.fund)

    @precondition(lambda self: self.keys_in("paid"))
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(self.keys_in("paid")))
        item = self.items[key]
        self.ledger.reverse(key)
        self.owed[(item.fund, item.payee)] += item.amount
        self.spent[item.fund] -= item.amount
        item.state = "reversed"

    @precondition(lambda self: any(v > 0 for v in self.owed.values()))
    @rule(data=st.data())
    def recover(self, data: st.DataObject) -> None:
        (fund, payee) = data.draw(st.sampled_from(sorted(
            (k for k, v in self.owed.items() if v > 0), key=lambda k: (k[0].source, k[1].ref))))
        amount = data.draw(st.integers(1, self.owed[(fund, payee)]))
        self.seq += 1
        self.ledger.recover(f"r{self.seq}", fund, payee, amount)
        self.owed[(fund, payee)] -= amount
        self.special[fund] += amount
        self.admit(fund)

    @precondition(lambda self: self.items)
    @rule(data=st.data())
    def illegal_steps_change_nothing(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.items)))
        state = self.items[key].state
        before = len(self.ledger.transactions)
        if state not in ("released",):
            with pytest.raises(IllegalTransition):
                self.ledger.mark_paid(key)
        if state != "paid":
            with pytest.raises(IllegalTransition):
                self.ledger.reverse(key)
        assert len(self.ledger.transactions) == before

    # ---- invariants ----------------------------------------------------------------------

    @invariant()
    def every_transaction_balances_and_each_fund_nets_to_zero(self) -> None:
        for tx in self.ledger.transactions[-3:]:
            assert sum(p.amount_fen for p in tx.postings) == 0
        assert all(v == 0 for v in fund_totals(balances(self.ledger.transactions)).values())

    @invariant()
    def no_available_balance_is_ever_negative(self) -> None:
        for fund in FUNDS:
            assert self.ledger.available(fund) >= 0
            assert self.ledger.available(fund) == self.available(fund)

    @invariant()
    def money_is_conserved_across_reversals_and_recoveries(self) -> None:
        derived = balances(self.ledger.transactions)
        for fund in FUNDS:
            assert derived.get(special(fund), 0) == self.special[fund]
            spent = sum(v for a, v in derived.items()
                        if a.kind is AccountKind.DISBURSED and a.fund == fund)
            assert spent == self.spent[fund]
            for payee in PAYEES:
                assert self.ledger.balance(receivable(fund, payee)) == self.owed[(fund, payee)]

    @invariant()
    def each_decision_is_paid_at_most_once(self) -> None:
        assert all(n in (0, 1) for n in self.releases.values())
        paid = [tx.ref.split("#")[0] for tx in self.ledger.transactions if tx.kind == "paid"]
        assert len(paid) == len(set(paid))
        kind_refs = [(tx.kind, tx.ref) for tx in self.ledger.transactions]
        assert len(kind_refs) == len(set(kind_refs)), "a store keys transactions by (kind, ref)"

    @invariant()
    def states_and_queues_match_the_model(self) -> None:
        for fund in FUNDS:
            assert [w.key for w in self.ledger.waiting(fund)] == self.queue[fund]
        for key, item in self.items.items():
            assert self.ledger.disbursement(key).state is State(item.state)


LedgerMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_ledger_matches_the_reference_model = LedgerMachine.TestCase
