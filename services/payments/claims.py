"""What each trigger is owed, and what to do about its money. Pure: no I/O.

A trigger (a certificate, a completion) may be decided several times: each new decision names the
one it supersedes. Payments keeps every decision it received and every id named as superseded, and
brings the trigger's money in line with the decisions that still stand:

- money of a decision that no longer stands is undone: unpaid -> cancelled (the reservation is
  released at once), paid -> a receivable from the payee (十四), in flight (released, not yet
  confirmed) -> flagged, so it is clawed back when the treasury confirms it and never retried;
- a standing payable decision is drafted once, unless it is held with a named reason:
  its public notice (公示) has not ended (a V3 approval, until eligibility.notice.ended), the
  decision names no payee, the payee has no payment account on record, a 十三.5 plan will
  settle it, an earlier payment of the trigger is still in flight (the successor waits, so both
  are never paid in cash), or the chain names a decision payments has not received yet.

Only the difference moves: the claw-back of a paid predecessor is netted off the successor's
payment to the same payee at release (disbursements.plan_offset), and the successor is drafted on
the predecessor's fund when its route allows it, so the netting happens in that fund. Once every
payment settles, for every trigger: Σ paid − Σ recovered = the amount of its standing decisions.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from services.payments.disbursements import State
from services.payments.ledger import PayeeKind

APPROVED = "approved"
MoneyId = uuid.UUID | str  # a disbursement's id in the store, its key in the reference ledger
UNPAID = frozenset({State.WAITING, State.RESERVED, State.APPROVED})
# The decision contract's payee kinds (eligibility's dated "who is paid" table, docs/policy.md)
# and the ledger's: a worker is paid to the social-security card.
PAYEE_KINDS: Mapping[str, PayeeKind] = {"worker": PayeeKind.WORKER_CARD, "enterprise": PayeeKind.ENTERPRISE,
                                        "institution": PayeeKind.INSTITUTION}


class HoldReason(StrEnum):
    IN_NOTICE = "in_notice"  # 公示: the approval's public notice has not ended (eligibility.notice.ended)
    PAYEE_UNKNOWN = "payee_unknown"  # the decision names no payee (or a kind payments does not know)
    NO_PAYMENT_ACCOUNT = "no_payment_account"  # the payee has no account on record at the registry
    AWAITING_PLAN_SETTLEMENT = "awaiting_plan_settlement"  # 十三.5: the plan's settlement pays it
    PREDECESSOR_IN_FLIGHT = "predecessor_in_flight"  # an earlier payment of the trigger awaits the treasury
    EARLIER_DECISION_MISSING = "earlier_decision_missing"  # the chain names a decision not yet received


@dataclass(frozen=True, slots=True)
class Claim:
    """A decision as payments received it."""

    decision_id: uuid.UUID
    clause: str
    outcome: str
    amount_fen: int
    payee_kind: str | None
    payee_ref: str | None
    supersedes: uuid.UUID | None = None
    class_id: uuid.UUID | None = None
    in_notice: bool = False  # a V3 approval whose public notice (公示) has not ended

    @property
    def payable(self) -> bool:
        return self.outcome == APPROVED and self.amount_fen > 0

    @property
    def payee(self) -> tuple[PayeeKind, str] | None:
        kind = PAYEE_KINDS.get(self.payee_kind or "")
        return (kind, self.payee_ref) if kind is not None and self.payee_ref else None


@dataclass(frozen=True, slots=True)
class Money:
    """A disbursement of the trigger."""

    disbursement_id: MoneyId
    decision_id: uuid.UUID
    state: State
    flagged: bool  # clawback_on_paid: its decision no longer stands
    payee: tuple[PayeeKind, str]
    source: str


@dataclass(frozen=True, slots=True)
class PlanCover:
    """A 十三.5 plan for a class: decisions of that class paying its institution settle through it."""

    plan_id: uuid.UUID
    institution_id: str
    settled: bool


@dataclass(frozen=True)
class TriggerView:
    claims: Sequence[Claim]
    superseded: frozenset[uuid.UUID] = frozenset()
    money: Sequence[Money] = ()
    plan_items: frozenset[uuid.UUID] = frozenset()  # decisions a settlement paid, not yet reversed
    accounts: frozenset[tuple[PayeeKind, str]] = frozenset()  # payees with an account on record
    plans: Mapping[uuid.UUID, PlanCover] = field(default_factory=dict)  # by class id


@dataclass
class Draft:
    claim: Claim
    prefer_source: str | None = None  # the fund a clawed-back predecessor was paid from


@dataclass
class TriggerPlan:
    cancel: list[MoneyId] = field(default_factory=list)
    flag: list[MoneyId] = field(default_factory=list)
    claw_back: list[MoneyId] = field(default_factory=list)
    reverse_items: list[uuid.UUID] = field(default_factory=list)  # plan items -> receivable
    draft: list[Draft] = field(default_factory=list)
    hold: dict[uuid.UUID, HoldReason] = field(default_factory=dict)


def standing(view: TriggerView) -> list[Claim]:
    """Payable decisions nothing supersedes (what the trigger is owed)."""
    return [c for c in view.claims if c.payable and c.decision_id not in view.superseded]


def chain_gap(view: TriggerView) -> bool:
    """Some decision supersedes one payments has not received: the older ones cannot be judged."""
    known = {c.decision_id for c in view.claims}
    return any(c.supersedes is not None and c.supersedes not in known for c in view.claims)


def decide(view: TriggerView) -> TriggerPlan:
    """What to do with one trigger's money so it matches its standing decisions."""
    plan = TriggerPlan()
    owed = standing(view)
    if chain_gap(view):
        handled = {m.decision_id for m in view.money} | view.plan_items
        plan.hold = {c.decision_id: HoldReason.EARLIER_DECISION_MISSING for c in owed if c.decision_id not in handled}
        return plan
    owed_ids = {c.decision_id for c in owed}
    _undo(view, owed_ids, plan)
    in_flight = any(m.state is State.RELEASED for m in view.money)
    own = {m.decision_id: m for m in view.money}
    for claim in owed:
        _settle_claim(view, claim, own.get(claim.decision_id), in_flight, plan)
    return plan


def _undo(view: TriggerView, owed_ids: set[uuid.UUID], plan: TriggerPlan) -> None:
    for m in view.money:
        if m.decision_id in owed_ids:
            continue
        if m.state in UNPAID:
            plan.cancel.append(m.disbursement_id)
        elif m.state in (State.RELEASED, State.FAILED) and not m.flagged:
            plan.flag.append(m.disbursement_id)
        elif m.state is State.PAID:
            plan.claw_back.append(m.disbursement_id)
    plan.reverse_items = sorted(d for d in view.plan_items if d not in owed_ids)


def _settle_claim(view: TriggerView, claim: Claim, own: Money | None, in_flight: bool, plan: TriggerPlan) -> None:
    cover = _cover(view, claim)
    if own is not None:
        if cover is not None and own.state in UNPAID:  # the plan arrived after the draft: it settles it
            plan.cancel.append(own.disbursement_id)
            plan.hold[claim.decision_id] = HoldReason.AWAITING_PLAN_SETTLEMENT
        elif cover is not None and own.state is State.CANCELLED:
            plan.hold[claim.decision_id] = HoldReason.AWAITING_PLAN_SETTLEMENT
        return
    if claim.decision_id in view.plan_items:
        return
    reason = _hold_reason(view, claim, cover, in_flight)
    if reason is not None:
        plan.hold[claim.decision_id] = reason
        return
    plan.draft.append(Draft(claim, _predecessor_source(view, claim)))


def _hold_reason(view: TriggerView, claim: Claim, cover: PlanCover | None, in_flight: bool) -> HoldReason | None:
    if claim.in_notice:
        return HoldReason.IN_NOTICE
    payee = claim.payee
    if payee is None:
        return HoldReason.PAYEE_UNKNOWN
    if cover is not None:
        return HoldReason.AWAITING_PLAN_SETTLEMENT
    if payee not in view.accounts:
        return HoldReason.NO_PAYMENT_ACCOUNT
    if in_flight:
        return HoldReason.PREDECESSOR_IN_FLIGHT
    return None


def _cover(view: TriggerView, claim: Claim) -> PlanCover | None:
    """An unsettled plan of the claim's class that pays the same institution the claim pays."""
    cover = view.plans.get(claim.class_id) if claim.class_id is not None else None
    if cover is None or cover.settled or claim.payee_ref != cover.institution_id:
        return None
    return cover


def _predecessor_source(view: TriggerView, claim: Claim) -> str | None:
    """The fund of the last payment to the same payee that is (being) clawed back: netting there."""
    paid = [m for m in view.money if m.payee == claim.payee and m.state in (State.PAID, State.REVERSED)]
    return paid[-1].source if paid else None
