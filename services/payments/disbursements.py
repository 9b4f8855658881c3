"""Disbursement life cycle, four-eyes roles, reservations and the FIFO wait. Pure: no I/O.

States:  waiting -> reserved -> approved -> released -> paid -> reversed
         (waiting|reserved|approved) -> cancelled;  released -> failed -> (reserved|waiting) by retry
A draft reserves money if the fund can cover it; otherwise it waits, in order, and is reserved
when an allocation arrives. Available = balance - reserved never goes below zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from services.payments.ledger import DomainError, Fund, Payee


class State(StrEnum):
    WAITING = "waiting"  # drafted, fund short: queued, no money held
    RESERVED = "reserved"  # drafted, money held
    APPROVED = "approved"  # HR & social security approved (人社部门牵头汇总)
    RELEASED = "released"  # finance released to the treasury (财政部门进行拨付)
    PAID = "paid"
    FAILED = "failed"  # treasury failure: release undone, may be retried
    CANCELLED = "cancelled"
    REVERSED = "reversed"  # clawed back after payment (十四)


class Action(StrEnum):
    RESERVE = "reserve"
    APPROVE = "approve"
    RELEASE = "release"
    MARK_PAID = "mark_paid"
    MARK_FAILED = "mark_failed"
    CANCEL = "cancel"
    RETRY = "retry"
    REVERSE = "reverse"


TRANSITIONS: dict[tuple[State, Action], frozenset[State]] = {
    (State.WAITING, Action.RESERVE): frozenset({State.RESERVED}),
    (State.WAITING, Action.CANCEL): frozenset({State.CANCELLED}),
    (State.RESERVED, Action.APPROVE): frozenset({State.APPROVED}),
    (State.RESERVED, Action.CANCEL): frozenset({State.CANCELLED}),
    (State.APPROVED, Action.RELEASE): frozenset({State.RELEASED}),
    (State.APPROVED, Action.CANCEL): frozenset({State.CANCELLED}),
    (State.RELEASED, Action.MARK_PAID): frozenset({State.PAID}),
    (State.RELEASED, Action.MARK_FAILED): frozenset({State.FAILED}),
    (State.FAILED, Action.RETRY): frozenset({State.RESERVED, State.WAITING}),
    (State.PAID, Action.REVERSE): frozenset({State.REVERSED}),
}

# States whose amount is held against the fund's available balance.
HOLDS_RESERVATION = frozenset({State.RESERVED, State.APPROVED})


class IllegalTransition(DomainError):
    pass


class RoleViolation(DomainError):
    pass


class Role(StrEnum):
    HR = "hr"  # 人社部门
    FINANCE = "finance"  # 财政部门


class Part(StrEnum):
    """Which part of a decision's subsidy a disbursement pays (十三.5 splits it in two)."""

    WHOLE = "whole"
    ADVANCE = "advance"
    SETTLEMENT = "settlement"


@dataclass(frozen=True, slots=True)
class Actor:
    person_id: str
    role: Role


@dataclass(frozen=True, slots=True)
class Disbursement:
    decision_id: str
    part: Part
    fund: Fund
    clause: str
    payee: Payee
    amount_fen: int
    state: State
    approved_by: str | None = None
    released_by: str | None = None
    offset_fen: int = 0  # netted against the payee's receivable at release (十四)
    attempt: int = 1  # bumped by a retry after a treasury failure

    @property
    def attempt_ref(self) -> str:
        """Reference for this attempt's release/paid/failed transactions: unique per retry."""
        return f"{self.key}#{self.attempt}"

    @property
    def key(self) -> str:
        """The unique key: one disbursement per decision part, so a decision pays at most once."""
        return f"{self.decision_id}:{self.part}"

    @property
    def cash_fen(self) -> int:
        return self.amount_fen - self.offset_fen


def next_state(state: State, action: Action, target: State | None = None) -> State:
    """The state after `action`, or IllegalTransition naming what is allowed from `state`."""
    targets = TRANSITIONS.get((state, action))
    if not targets:
        allowed = sorted(a.value for (s, a) in TRANSITIONS if s == state) or ["nothing"]
        raise IllegalTransition(
            f"cannot {action.value} a disbursement that is {state.value}; "
            f"allowed: {', '.join(allowed)}")
    if target is None and len(targets) == 1:
        return next(iter(targets))
    if target not in targets:
        raise IllegalTransition(f"{action.value} from {state.value} cannot lead to {target}")
    return target


def check_parts(existing: Iterable[Part], new: Part) -> None:
    """A decision pays once: either whole, or one advance then one settlement (十三.5)."""
    have = set(existing)
    if new in have:
        raise DomainError(f"decision already has a {new.value} disbursement: it pays at most once")
    if (new is Part.WHOLE and have) or (new is not Part.WHOLE and Part.WHOLE in have):
        raise DomainError("a decision is paid either whole or as advance plus settlement")
    if new is Part.SETTLEMENT and Part.ADVANCE not in have:
        raise DomainError("a settlement needs an advance first (十三.5)")


def check_approver(actor: Actor) -> None:
    if actor.role is not Role.HR:
        raise RoleViolation(f"approval needs role hr (十二.2), {actor.person_id} acts as {actor.role}")


def check_releaser(actor: Actor, approved_by: str | None) -> None:
    """Finance releases, and never the person who approved (four eyes, 十二.2)."""
    if actor.role is not Role.FINANCE:
        raise RoleViolation(f"release needs role finance (十二.2), {actor.person_id} acts as {actor.role}")
    if approved_by is None:
        raise RoleViolation("release needs a prior approval")
    if actor.person_id == approved_by:
        raise RoleViolation(f"{actor.person_id} approved this disbursement and may not release it")


def check_drafter(actor: Actor) -> None:
    """Manual items (allocations, recoveries, 十三.5 advances) are drafted by payment staff."""
    if actor.role not in (Role.HR, Role.FINANCE):
        raise RoleViolation(f"drafting needs role hr or finance, {actor.person_id} acts as {actor.role}")


def check_item_approver(actor: Actor, drafted_by: str) -> None:
    """Maker-checker: hr approves a manual item, and never the person who drafted it."""
    check_approver(actor)
    if actor.person_id == drafted_by:
        raise RoleViolation(f"{actor.person_id} drafted this item and may not approve it")


def check_item_releaser(actor: Actor, drafted_by: str, approved_by: str | None) -> None:
    """Finance releases a manual item: neither its drafter nor its approver (three people)."""
    check_releaser(actor, approved_by)
    if actor.person_id == drafted_by:
        raise RoleViolation(f"{actor.person_id} drafted this item and may not release it")


def approve(d: Disbursement, actor: Actor) -> Disbursement:
    check_approver(actor)
    state = next_state(d.state, Action.APPROVE)
    return replace(d, state=state, approved_by=actor.person_id)


def release(d: Disbursement, actor: Actor, offset_fen: int) -> Disbursement:
    check_releaser(actor, d.approved_by)
    state = next_state(d.state, Action.RELEASE)
    return replace(d, state=state, released_by=actor.person_id, offset_fen=offset_fen)


def retry(d: Disbursement, reserved: bool) -> Disbursement:
    """A failed payment goes back for a fresh reservation, approval and release."""
    target = State.RESERVED if reserved else State.WAITING
    state = next_state(d.state, Action.RETRY, target)
    return replace(d, state=state, approved_by=None, released_by=None, offset_fen=0,
                   attempt=d.attempt + 1)


# ---- reservations and the wait -------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ReservationPlan:
    reserve: bool  # True: hold the money now; False: join the end of the fund's queue
    reason: str


def plan_reservation(*, available_fen: int, amount_fen: int, waiting_ahead: int) -> ReservationPlan:
    """Reserve only if the fund covers it and nobody waits ahead (no queue jumping)."""
    if type(amount_fen) is not int or amount_fen <= 0:
        raise DomainError(f"disbursement amount must be a positive int fen, got {amount_fen!r}")
    if waiting_ahead > 0:
        return ReservationPlan(False, f"{waiting_ahead} draft(s) already wait for this fund")
    if amount_fen > available_fen:
        return ReservationPlan(False, f"available {available_fen} fen < {amount_fen} fen")
    return ReservationPlan(True, "covered")


def admit_waiting(*, available_fen: int, waiting: Sequence[tuple[str, int]]) -> list[str]:
    """Which queued drafts (key, amount), oldest first, a new available balance now reserves.

    Strict FIFO: stop at the first that does not fit, so a large draft is never starved by
    smaller ones behind it.
    """
    admitted: list[str] = []
    for key, amount in waiting:
        if amount > available_fen:
            break
        admitted.append(key)
        available_fen -= amount
    return admitted


def plan_offset(*, amount_fen: int, receivable_fen: int) -> int:
    """How much of a payment nets off what the payee owes the same fund (十四)."""
    return max(0, min(amount_fen, receivable_fen))
