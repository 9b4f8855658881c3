"""Property test: triggers decided again and again, revoked, delivered out of order and twice,
against the reference ledger (claims.decide wired as reconcile.py wires it).

Whatever the order of moves: a trigger never has two payments in flight, a decision superseded
before it arrived is never drafted, a revocation leaves nothing unpaid reserved, and once every
payment settles, for every trigger Σ paid − Σ recovered equals its standing decision, and each
payee received in cash exactly what it is entitled to less what it still owes (only the
difference moved).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from helpers_payments import FIN_BO, HR_ANNA, OTHER_WORKER, TALENT, UI, WORKER
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from services.payments.claims import Claim, HoldReason
from services.payments.disbursements import State
from services.payments.ledger import AccountKind, Fund, Payee, balances, fund_totals, receivable
from services.payments.reference_ledger import Ledger

FUNDS = (UI, TALENT)
PAYEES = (WORKER, OTHER_WORKER)
amounts = st.builds(lambda k, e: k * 1_000 + e, st.integers(1, 20), st.integers(-2, 2))


@dataclass
class Chain:
    fund: Fund
    payee: Payee
    decisions: list[Claim] = field(default_factory=list)  # delivered, in order
    standing: int = 0

    @property
    def last(self) -> uuid.UUID:
        return self.decisions[-1].decision_id


_IDS = iter(range(10**9))


def next_id() -> uuid.UUID:
    """Deterministic ids: hypothesis replays a run exactly (random ids would reorder the draws)."""
    return uuid.UUID(int=next(_IDS))


def claim(amount: int, payee: Payee, supersedes: uuid.UUID | None, outcome: str = "approved") -> Claim:
    return Claim(next_id(), "四.4", outcome, amount, "worker", payee.party_id, supersedes)


class SupersessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger()
        self.ledger.record_account(WORKER)  # the other worker's account arrives later, if at all
        self.chains: dict[uuid.UUID, Chain] = {}
        self.never_drafted: set[uuid.UUID] = set()  # superseded before they arrived
        self.seq = 0

    def triggers(self) -> list[uuid.UUID]:
        return sorted(self.chains)

    def deliver(self, trigger: uuid.UUID, c: Claim) -> None:
        self.ledger.decide(trigger, c, self.chains[trigger].fund)

    # ---- money and people ----------------------------------------------------------------

    @rule(fund=st.sampled_from(FUNDS), amount=amounts)
    def allocate(self, fund: Fund, amount: int) -> None:
        self.seq += 1
        self.ledger.allocate(f"a{self.seq}", fund, amount)

    @rule(payee=st.sampled_from(PAYEES))
    def account_arrives(self, payee: Payee) -> None:
        self.ledger.record_account(payee)

    @precondition(lambda self: self._keys(State.RESERVED))
    @rule(data=st.data())
    def approve(self, data: st.DataObject) -> None:
        self.ledger.approve(data.draw(st.sampled_from(self._keys(State.RESERVED))), HR_ANNA)

    @precondition(lambda self: self._keys(State.APPROVED))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        self.ledger.release(data.draw(st.sampled_from(self._keys(State.APPROVED))), FIN_BO)

    @precondition(lambda self: self._keys(State.RELEASED))
    @rule(data=st.data(), ok=st.booleans())
    def treasury_answers(self, data: st.DataObject, ok: bool) -> None:
        key = data.draw(st.sampled_from(self._keys(State.RELEASED)))
        (self.ledger.mark_paid if ok else self.ledger.mark_failed)(key)

    @precondition(lambda self: self._retryable())
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        self.ledger.retry(data.draw(st.sampled_from(self._retryable())))

    # ---- decisions -----------------------------------------------------------------------

    @rule(fund=st.sampled_from(FUNDS), payee=st.sampled_from(PAYEES), amount=amounts)
    def new_trigger(self, fund: Fund, payee: Payee, amount: int) -> None:
        trigger = next_id()
        self.chains[trigger] = chain = Chain(fund, payee)
        c = claim(amount, payee, None)
        chain.decisions.append(c)
        chain.standing = amount
        self.deliver(trigger, c)

    @precondition(lambda self: self.chains)
    @rule(data=st.data(), amount=amounts, approved=st.booleans())
    def redecide(self, data: st.DataObject, amount: int, approved: bool) -> None:
        trigger = data.draw(st.sampled_from(self.triggers()))
        chain = self.chains[trigger]
        c = claim(amount if approved else 0, chain.payee, chain.last, "approved" if approved else "rejected")
        chain.decisions.append(c)
        chain.standing = c.amount_fen
        self.deliver(trigger, c)

    @precondition(lambda self: self._in_flight())
    @rule(data=st.data(), amount=amounts)
    def redecide_while_a_payment_is_in_flight(self, data: st.DataObject, amount: int) -> None:
        trigger = data.draw(st.sampled_from(self._in_flight()))
        chain = self.chains[trigger]
        c = claim(amount, chain.payee, chain.last)
        chain.decisions.append(c)
        chain.standing = amount
        self.deliver(trigger, c)
        if (chain.payee.kind, chain.payee.party_id) in self.ledger._accounts:
            assert self.ledger.holds(trigger) == {c.decision_id: HoldReason.PREDECESSOR_IN_FLIGHT}
        assert str(c.decision_id) not in {m.decision_id for m in self.ledger.disbursements()}

    @precondition(lambda self: self.chains)
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        trigger = data.draw(st.sampled_from(self.triggers()))
        chain = self.chains[trigger]
        c = claim(-chain.standing, chain.payee, chain.last, "reversed")
        chain.decisions.append(c)
        chain.standing = 0
        self.deliver(trigger, c)
        unpaid = [m for m in self.ledger.money_of(trigger)
                  if m.state in (State.WAITING, State.RESERVED, State.APPROVED)]
        assert unpaid == [], "a revocation releases an unpaid reservation at once"

    @precondition(lambda self: self.chains)
    @rule(data=st.data(), first=amounts, then=amounts)
    def successor_arrives_before_its_predecessor(self, data: st.DataObject, first: int, then: int) -> None:
        trigger = data.draw(st.sampled_from(self.triggers()))
        chain = self.chains[trigger]
        early = claim(first, chain.payee, chain.last)
        late = claim(then, chain.payee, early.decision_id)
        drafted = {m.key for m in self.ledger.money_of(trigger)}
        self.deliver(trigger, late)  # a replayed dead letter: the successor first
        if late.payable:
            assert self.ledger.holds(trigger).get(late.decision_id) is HoldReason.EARLIER_DECISION_MISSING
        assert {m.key for m in self.ledger.money_of(trigger)} == drafted, "nothing moves while the chain has a gap"
        self.never_drafted.add(early.decision_id)
        self.deliver(trigger, early)
        chain.decisions += [early, late]
        chain.standing = then

    @precondition(lambda self: self.chains)
    @rule(data=st.data())
    def a_decision_is_delivered_again(self, data: st.DataObject) -> None:
        trigger = data.draw(st.sampled_from(self.triggers()))
        c = data.draw(st.sampled_from(self.chains[trigger].decisions))
        before = len(self.ledger.transactions), [(m.key, m.state) for m in self.ledger.disbursements()]
        self.deliver(trigger, c)
        assert (len(self.ledger.transactions), [(m.key, m.state) for m in self.ledger.disbursements()]) == before

    # ---- invariants ----------------------------------------------------------------------

    @invariant()
    def never_two_payments_of_a_trigger_in_flight(self) -> None:
        for trigger in self.chains:
            assert sum(m.state is State.RELEASED for m in self.ledger.money_of(trigger)) <= 1

    @invariant()
    def a_decision_superseded_before_it_arrived_is_never_drafted(self) -> None:
        drafted = {m.decision_id for m in self.ledger.disbursements()}
        assert not drafted & {str(d) for d in self.never_drafted}

    @invariant()
    def funds_never_overdrawn_and_each_nets_to_zero(self) -> None:
        for fund in FUNDS:
            assert self.ledger.available(fund) >= 0
        assert all(v == 0 for v in fund_totals(balances(self.ledger.transactions)).values())

    @invariant()
    def drafted_amounts_are_the_decisions_amounts(self) -> None:
        amount = {str(c.decision_id): c.amount_fen for ch in self.chains.values() for c in ch.decisions}
        assert all(m.amount_fen == amount[m.decision_id] for m in self.ledger.disbursements())

    # ---- once everything settles ---------------------------------------------------------

    @precondition(lambda self: self.chains)
    @rule()
    def everything_settles(self) -> None:
        for payee in PAYEES:
            self.ledger.record_account(payee)
        for _ in range(50):
            if not self._step():
                break
        for trigger, chain in self.chains.items():
            assert self.ledger.holds(trigger) == {}, self.ledger.holds(trigger)
            assert self.ledger.paid_less_recovered(trigger) == chain.standing == self.ledger.standing_fen(trigger)
        for payee in PAYEES:
            entitled = sum(ch.standing for ch in self.chains.values() if ch.payee == payee)
            assert self._cash_paid(payee) - self._owed(payee) == entitled, "only the difference moved"

    def _step(self) -> bool:
        """One round of: money for every queue, approve, release, treasury pays, retry failures."""
        moved = False
        for fund in FUNDS:
            short = sum(w.amount_fen for w in self.ledger.waiting(fund))
            if short:
                self.seq += 1
                self.ledger.allocate(f"top-up{self.seq}", fund, short)
                moved = True
        for state, act in ((State.RESERVED, lambda k: self.ledger.approve(k, HR_ANNA)),
                           (State.APPROVED, lambda k: self.ledger.release(k, FIN_BO)),
                           (State.RELEASED, self.ledger.mark_paid)):
            for key in self._keys(state):
                if self.ledger.disbursement(key).state is state:
                    act(key)
                    moved = True
        for key in self._retryable():
            self.ledger.retry(key)
            moved = True
        return moved

    def _cash_paid(self, payee: Payee) -> int:
        return sum(p.amount_fen for tx in self.ledger.transactions if tx.kind == "paid" for p in tx.postings
                   if p.account.kind is AccountKind.PAYABLE and p.account.party == payee.ref)

    def _owed(self, payee: Payee) -> int:
        return sum(self.ledger.balance(receivable(f, payee)) for f in FUNDS)

    def _keys(self, state: State) -> list[str]:
        return sorted(m.key for m in self.ledger.disbursements() if m.state is state)

    def _in_flight(self) -> list[uuid.UUID]:
        return [t for t in self.triggers() if any(m.state is State.RELEASED for m in self.ledger.money_of(t))]

    def _retryable(self) -> list[str]:
        return [k for k in self._keys(State.FAILED) if self.ledger.stands(k)]


SupersessionMachine.TestCase.settings = settings(max_examples=120, stateful_step_count=40, deadline=None)
test_supersession_and_revocation_match_the_standing_decisions = SupersessionMachine.TestCase
