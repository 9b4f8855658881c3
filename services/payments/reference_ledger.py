"""An in-memory ledger that wires the pure rules together: the reference the store must match.

Tests drive it; the store layer does the same steps with row locks and constraints. Every
method checks everything before it changes anything, so a refused call leaves no trace.
Decisions per trigger go through `decide`, which applies claims.decide as reconcile.py does:
supersession, revocation, holds, and the treasury's answers re-reconciling their trigger.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import replace
from fractions import Fraction

from services.payments import claims
from services.payments import disbursements as d
from services.payments.advances import Settlement, check_advance
from services.payments.claims import Claim, HoldReason, Money, TriggerPlan, TriggerView
from services.payments.disbursements import Actor, Disbursement, Part, State
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
    AccountKind,
    DomainError,
    Fund,
    Payee,
    PayeeKind,
    Transaction,
    receivable,
    special,
)


class Ledger:
    def __init__(self) -> None:
        self._txs: list[Transaction] = []
        self._balance: dict[Account, int] = defaultdict(int)  # a cache of sums of postings
        self._reserved: dict[Fund, int] = defaultdict(int)
        self._queue: dict[Fund, list[str]] = defaultdict(list)
        self._disb: dict[str, Disbursement] = {}
        self._parts: dict[str, list[Part]] = defaultdict(list)
        self._releases: dict[str, Transaction] = {}
        # decisions per trigger (decide): what reconcile.py keeps in its tables
        self._claims: dict[uuid.UUID, list[Claim]] = defaultdict(list)
        self._superseded: set[uuid.UUID] = set()
        self._accounts: set[tuple[PayeeKind, str]] = set()
        self._trigger_fund: dict[uuid.UUID, Fund] = {}
        self._trigger_of: dict[str, uuid.UUID] = {}  # disbursement key -> trigger
        self._flagged: set[str] = set()  # money of decisions that no longer stand
        self._holds: dict[uuid.UUID, dict[uuid.UUID, HoldReason]] = {}

    # ---- reading --------------------------------------------------------------------------

    @property
    def transactions(self) -> tuple[Transaction, ...]:
        return tuple(self._txs)

    def balance(self, account: Account) -> int:
        return self._balance.get(account, 0)

    def reserved(self, fund: Fund) -> int:
        return self._reserved.get(fund, 0)

    def available(self, fund: Fund) -> int:
        return self.balance(special(fund)) - self.reserved(fund)

    def waiting(self, fund: Fund) -> list[Disbursement]:
        """The fund's queue, oldest first: visible so nobody is silently dropped."""
        return [self._disb[k] for k in self._queue.get(fund, [])]

    def disbursement(self, key: str) -> Disbursement:
        try:
            return self._disb[key]
        except KeyError:
            raise DomainError(f"unknown disbursement {key}") from None

    def disbursements(self) -> list[Disbursement]:
        return list(self._disb.values())

    # ---- money in --------------------------------------------------------------------------

    def allocate(self, ref: str, fund: Fund, amount_fen: int) -> list[str]:
        """Finance credits the fund; returns the waiting drafts that are now reserved, in order."""
        self._post(allocation_tx(ref, fund, amount_fen))
        return self._admit(fund)

    # ---- the disbursement life cycle -------------------------------------------------------

    def draft(self, decision_id: str, fund: Fund, clause: str, payee: Payee, amount_fen: int,
              part: Part = Part.WHOLE) -> Disbursement:
        """Reserve the amount if the fund covers it and nobody waits ahead; else queue it."""
        d.check_parts(self._parts.get(decision_id, []), part)
        plan = d.plan_reservation(available_fen=self.available(fund), amount_fen=amount_fen,
                                  waiting_ahead=len(self._queue.get(fund, [])))
        state = State.RESERVED if plan.reserve else State.WAITING
        item = Disbursement(decision_id, part, fund, clause, payee, amount_fen, state)
        self._parts[decision_id].append(part)
        self._hold_or_queue(item)
        return item

    def draft_advance(self, decision_id: str, fund: Fund, clause: str, payee: Payee,
                      advance_fen: int, planned_subsidy_fen: int, ratio: Fraction) -> Disbursement:
        """十三.5: an advance of at most `ratio` of the planned subsidy."""
        check_advance(advance_fen, planned_subsidy_fen, ratio)
        return self.draft(decision_id, fund, clause, payee, advance_fen, Part.ADVANCE)

    def approve(self, key: str, actor: Actor) -> Disbursement:
        return self._store(d.approve(self.disbursement(key), actor))

    def release(self, key: str, actor: Actor) -> Disbursement:
        """Finance releases; what the payee owes this fund is netted off first (十四)."""
        item = self.disbursement(key)
        owed = self.balance(receivable(item.fund, item.payee))
        offset = d.plan_offset(amount_fen=item.amount_fen, receivable_fen=owed)
        released = d.release(item, actor, offset)
        tx = release_tx(item.attempt_ref, item.fund, item.clause, item.payee, item.amount_fen,
                        offset)
        self._reserved[item.fund] -= item.amount_fen
        self._post(tx)
        self._releases[key] = tx
        self._store(released)
        self._admit(item.fund)
        return released

    def mark_paid(self, key: str) -> Disbursement:
        item = self.disbursement(key)
        paid = replace(item, state=d.next_state(item.state, d.Action.MARK_PAID))
        tx = paid_tx(item.attempt_ref, item.fund, item.payee, item.cash_fen)
        if tx is not None:
            self._post(tx)
        self._store(paid)
        self._after_treasury(key)
        return paid

    def mark_failed(self, key: str) -> Disbursement:
        """The treasury refused: the release is undone and the money is available again."""
        item = self.disbursement(key)
        failed = replace(item, state=d.next_state(item.state, d.Action.MARK_FAILED))
        self._post(failed_tx(self._releases.pop(key)))
        self._store(failed)
        self._admit(item.fund)
        self._after_treasury(key)
        return failed

    def retry(self, key: str) -> Disbursement:
        item = self.disbursement(key)
        if key in self._flagged:
            raise DomainError(f"{key}: its decision no longer stands; it is not retried")
        d.next_state(item.state, d.Action.RETRY, State.RESERVED)  # refuse early if not failed
        plan = d.plan_reservation(available_fen=self.available(item.fund),
                                  amount_fen=item.amount_fen,
                                  waiting_ahead=len(self._queue.get(item.fund, [])))
        again = d.retry(item, reserved=plan.reserve)
        self._hold_or_queue(again)
        return again

    def cancel(self, key: str) -> Disbursement:
        item = self.disbursement(key)
        cancelled = replace(item, state=d.next_state(item.state, d.Action.CANCEL))
        if item.state in d.HOLDS_RESERVATION:
            self._reserved[item.fund] -= item.amount_fen
        else:
            self._queue[item.fund].remove(key)
        self._store(cancelled)
        self._admit(item.fund)
        return cancelled

    # ---- clawback and settlement -----------------------------------------------------------

    def reverse(self, key: str) -> Transaction:
        """Claw back a paid disbursement (十四): the payee owes its amount to the fund."""
        item = self.disbursement(key)
        reversed_ = replace(item, state=d.next_state(item.state, d.Action.REVERSE))
        tx = reversal_tx(key, item.fund, item.clause, item.payee, item.amount_fen)
        self._post(tx)
        self._store(reversed_)
        return tx

    def recover(self, ref: str, fund: Fund, payee: Payee, amount_fen: int) -> list[str]:
        """The payee repaid: the special account is restored; returns drafts now reserved."""
        owed = self.balance(receivable(fund, payee))
        if amount_fen > owed:
            raise DomainError(f"recovery {amount_fen} fen exceeds the {owed} fen owed")
        self._post(recovery_tx(ref, fund, payee, amount_fen))
        return self._admit(fund)

    def settle(self, decision_id: str, settlement: Settlement) -> Disbursement | Transaction | None:
        """十三.5: draft the rest, or turn the unearned advance into a receivable."""
        advance = self.disbursement(f"{decision_id}:{Part.ADVANCE}")
        if advance.state is not State.PAID:
            raise DomainError(f"settle needs the advance paid; it is {advance.state.value}")
        if settlement.advance_fen != advance.amount_fen:
            raise DomainError("settlement names an advance that differs from the one paid")
        if settlement.pay_fen > 0:
            return self.draft(decision_id, advance.fund, advance.clause, advance.payee,
                              settlement.pay_fen, Part.SETTLEMENT)
        d.check_parts(self._parts[decision_id], Part.SETTLEMENT)
        self._parts[decision_id].append(Part.SETTLEMENT)
        if settlement.recover_fen == 0:
            return None
        tx = reversal_tx(f"{decision_id}:{Part.SETTLEMENT}", advance.fund, advance.clause,
                         advance.payee, settlement.recover_fen, kind="unearned_advance")
        self._post(tx)
        return tx

    # ---- decisions per trigger: supersession, revocation, holds ------------------------------

    def record_account(self, payee: Payee) -> None:
        """The payee's payment account arrived (registry.payee_account.recorded)."""
        self._accounts.add((payee.kind, payee.party_id))
        for trigger, held in list(self._holds.items()):
            if HoldReason.NO_PAYMENT_ACCOUNT in held.values():
                self._reconcile(trigger)

    def decide(self, trigger: uuid.UUID, claim: Claim, fund: Fund) -> TriggerPlan:
        """A decision for the trigger arrived: remember it and what it supersedes, then reconcile."""
        if any(c.decision_id == claim.decision_id for c in self._claims[trigger]):
            return TriggerPlan()  # a redelivery
        self._claims[trigger].append(claim)
        self._trigger_fund.setdefault(trigger, fund)
        if claim.supersedes is not None:
            self._superseded.add(claim.supersedes)
        return self._reconcile(trigger)

    def stands(self, key: str) -> bool:
        """False for money of a decision that no longer stands: never retried, clawed back if paid."""
        return key not in self._flagged

    def holds(self, trigger: uuid.UUID) -> dict[uuid.UUID, HoldReason]:
        return dict(self._holds.get(trigger, {}))

    def money_of(self, trigger: uuid.UUID) -> list[Disbursement]:
        return [self._disb[k] for k, t in self._trigger_of.items() if t == trigger]

    def paid_less_recovered(self, trigger: uuid.UUID) -> int:
        """Σ paid − Σ recovered for the trigger, from the postings on `disbursed` alone."""
        keys = {k for k, t in self._trigger_of.items() if t == trigger}
        return sum(p.amount_fen for tx in self._txs if tx.ref.split("#")[0] in keys
                   for p in tx.postings if p.account.kind is AccountKind.DISBURSED)

    def standing_fen(self, trigger: uuid.UUID) -> int:
        view = TriggerView(self._claims[trigger], frozenset(self._superseded))
        return sum(c.amount_fen for c in claims.standing(view))

    def _reconcile(self, trigger: uuid.UUID) -> TriggerPlan:
        plan = claims.decide(self._view(trigger))
        for key in plan.cancel:
            self.cancel(str(key))
            self._flagged.add(str(key))
        self._flagged.update(str(k) for k in plan.flag)
        for key in plan.claw_back:
            self.reverse(str(key))
            self._flagged.add(str(key))
        for draft in plan.draft:
            c, payee = draft.claim, draft.claim.payee
            assert payee is not None
            item = self.draft(str(c.decision_id), self._trigger_fund[trigger], c.clause, Payee(*payee),
                              c.amount_fen)
            self._trigger_of[item.key] = trigger
        self._holds[trigger] = plan.hold
        return plan

    def _view(self, trigger: uuid.UUID) -> TriggerView:
        money = [Money(k, uuid.UUID(self._disb[k].decision_id), self._disb[k].state, k in self._flagged,
                       (self._disb[k].payee.kind, self._disb[k].payee.party_id), self._disb[k].fund.source.value)
                 for k, t in self._trigger_of.items() if t == trigger]
        return TriggerView(self._claims[trigger], frozenset(self._superseded), money,
                           accounts=frozenset(self._accounts))

    def _after_treasury(self, key: str) -> None:
        trigger = self._trigger_of.get(key)
        if trigger is not None and (key in self._flagged or self._holds.get(trigger)):
            self._reconcile(trigger)

    # ---- internals -------------------------------------------------------------------------

    def _post(self, tx: Transaction) -> None:
        self._txs.append(tx)
        for p in tx.postings:
            self._balance[p.account] += p.amount_fen

    def _store(self, item: Disbursement) -> Disbursement:
        self._disb[item.key] = item
        return item

    def _hold_or_queue(self, item: Disbursement) -> None:
        if item.state is State.RESERVED:
            self._reserved[item.fund] += item.amount_fen
        else:
            self._queue[item.fund].append(item.key)
        self._store(item)

    def _admit(self, fund: Fund) -> list[str]:
        queue = self._queue.get(fund, [])
        waiting = [(k, self._disb[k].amount_fen) for k in queue]
        admitted = d.admit_waiting(available_fen=self.available(fund), waiting=waiting)
        for key in admitted:
            item = self._disb[key]
            self._reserved[fund] += item.amount_fen
            self._store(replace(item, state=d.next_state(item.state, d.Action.RESERVE)))
        del queue[: len(admitted)]
        return admitted
