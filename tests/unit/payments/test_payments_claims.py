"""claims.decide: what a trigger's money needs, from its decisions alone (no I/O)."""

from __future__ import annotations

import uuid

import pytest

from services.payments.claims import Claim, HoldReason, Money, PlanCover, TriggerView, decide
from services.payments.disbursements import State
from services.payments.ledger import PayeeKind

PK = "5f0c3c1e9b8a7d6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f"  # a person key's shape
ENTERPRISE = "91110000802100433B"
WORKER = (PayeeKind.WORKER_CARD, PK)
CLASS = uuid.UUID(int=77)


def d(n: int, amount: int = 70_000, outcome: str = "approved", supersedes: int | None = None,
      kind: str | None = "worker", ref: str | None = PK, class_id: uuid.UUID | None = None) -> Claim:
    return Claim(uuid.UUID(int=n), "四.2", outcome, amount, kind, ref,
                 uuid.UUID(int=supersedes) if supersedes else None, class_id)


def money(n: int, state: State, flagged: bool = False, payee: tuple[PayeeKind, str] = WORKER,
          source: str = "employment_subsidy") -> Money:
    return Money(uuid.UUID(int=1000 + n), uuid.UUID(int=n), state, flagged, payee, source)


def view(*claims: Claim, money_: tuple[Money, ...] = (), accounts: frozenset = frozenset({WORKER}),
         **kw: object) -> TriggerView:
    superseded = frozenset(c.supersedes for c in claims if c.supersedes)
    return TriggerView(claims, superseded, money_, accounts=accounts, **kw)  # type: ignore[arg-type]


def test_a_payable_decision_with_a_known_payee_and_account_is_drafted() -> None:
    plan = decide(view(d(1)))
    assert [x.claim.decision_id for x in plan.draft] == [uuid.UUID(int=1)] and plan.hold == {}


@pytest.mark.parametrize(("claim", "reason"), [
    (d(1, ref=None), HoldReason.PAYEE_UNKNOWN),
    (d(1, kind="enterprise", ref=None), HoldReason.PAYEE_UNKNOWN),  # never the worker's key instead
    (d(1, kind="bank", ref=ENTERPRISE), HoldReason.PAYEE_UNKNOWN),
    (d(1, kind="enterprise", ref=ENTERPRISE), HoldReason.NO_PAYMENT_ACCOUNT),
])
def test_a_decision_without_a_payable_payee_is_held_with_its_reason(claim: Claim, reason: HoldReason) -> None:
    plan = decide(view(claim))
    assert plan.draft == [] and plan.hold == {claim.decision_id: reason}


def test_a_successor_waits_while_its_predecessors_payment_is_in_flight_which_is_flagged() -> None:
    plan = decide(view(d(1), d(2, 90_000, supersedes=1), money_=(money(1, State.RELEASED),)))
    assert plan.draft == [] and plan.hold == {uuid.UUID(int=2): HoldReason.PREDECESSOR_IN_FLIGHT}
    assert plan.flag == [uuid.UUID(int=1001)]
    after = decide(view(d(1), d(2, 90_000, supersedes=1), money_=(money(1, State.PAID, flagged=True),)))
    assert after.claw_back == [uuid.UUID(int=1001)]
    assert [(x.claim.amount_fen, x.prefer_source) for x in after.draft] == [(90_000, "employment_subsidy")]


@pytest.mark.parametrize(("state", "action"), [(State.WAITING, "cancel"), (State.RESERVED, "cancel"),
                                               (State.APPROVED, "cancel"), (State.PAID, "claw_back"),
                                               (State.RELEASED, "flag"), (State.FAILED, "flag")])
def test_a_revocation_undoes_the_money_by_its_state(state: State, action: str) -> None:
    plan = decide(view(d(1), d(2, -70_000, "reversed", supersedes=1), money_=(money(1, state),)))
    assert getattr(plan, action) == [uuid.UUID(int=1001)] and plan.draft == [] and plan.hold == {}


def test_a_predecessor_arriving_after_its_successor_is_never_drafted() -> None:
    plan = decide(view(d(2, 90_000, supersedes=1), d(1)))
    assert [x.claim.decision_id for x in plan.draft] == [uuid.UUID(int=2)]


def test_a_chain_with_a_missing_link_drafts_nothing_until_it_arrives() -> None:
    plan = decide(view(d(1), d(3, 80_000, supersedes=2)))
    assert plan.draft == [] and set(plan.hold.values()) == {HoldReason.EARLIER_DECISION_MISSING}
    complete = decide(view(d(1), d(3, 80_000, supersedes=2), d(2, 60_000, supersedes=1)))
    assert [x.claim.decision_id for x in complete.draft] == [uuid.UUID(int=3)]


def test_a_plans_class_decision_paying_its_institution_waits_for_the_settlement() -> None:
    inst = (PayeeKind.INSTITUTION, ENTERPRISE)
    claim = d(1, 500_000, kind="institution", ref=ENTERPRISE, class_id=CLASS)
    plans = {CLASS: PlanCover(uuid.UUID(int=9), ENTERPRISE, settled=False)}
    assert decide(view(claim, accounts=frozenset({inst}), plans=plans)).hold == {
        claim.decision_id: HoldReason.AWAITING_PLAN_SETTLEMENT}
    late = decide(view(claim, money_=(money(1, State.RESERVED, payee=inst),), accounts=frozenset({inst}),
                       plans=plans))
    assert late.cancel == [uuid.UUID(int=1001)]
    assert late.hold == {claim.decision_id: HoldReason.AWAITING_PLAN_SETTLEMENT}
    settled = {CLASS: PlanCover(uuid.UUID(int=9), ENTERPRISE, settled=True)}
    assert decide(view(claim, accounts=frozenset({inst}), plans=settled, plan_items=frozenset({claim.decision_id}))
                  ).draft == []
    revoked = decide(view(claim, d(2, -500_000, "reversed", supersedes=1), accounts=frozenset({inst}),
                          plans=settled, plan_items=frozenset({claim.decision_id})))
    assert revoked.reverse_items == [claim.decision_id]


def test_an_approval_in_its_public_notice_is_held_in_notice_and_its_superseded_predecessor_is_undone() -> None:
    old = d(1, amount=70_000)
    newer = Claim(uuid.UUID(int=2), "四.2", "approved", 90_000, "worker", PK, uuid.UUID(int=1), in_notice=True)
    plan = decide(view(old, newer, money_=(money(1, State.RESERVED),)))
    assert plan.draft == [] and plan.hold == {uuid.UUID(int=2): HoldReason.IN_NOTICE}
    assert plan.cancel == [uuid.UUID(int=1001)]  # what the successor supersedes is undone at once


def test_a_notice_that_ended_makes_the_approval_draftable() -> None:
    ended = Claim(uuid.UUID(int=3), "四.2", "approved", 70_000, "worker", PK, in_notice=False)
    assert [x.claim.decision_id for x in decide(view(ended)).draft] == [uuid.UUID(int=3)]
