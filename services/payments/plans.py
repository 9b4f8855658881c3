"""十三.5 advances and settlements, from the registry's training plans and eligibility's decisions.

Nobody types an amount or a payee. The advance is drafted from the plan the bureau recorded in the
registry (REFERENCE.md practice: planned headcount × yearly standard × the dated ratio, rounded
down so it never passes the cap), to the plan's institution. The settlement is what eligibility
decided for the class's completers (the decisions held "awaiting_plan_settlement"), less the
advance: the rest is drafted, or the unearned part of the advance becomes a receivable from the
institution (a recovery). Each decision the settlement pays is a plan item, so a later revocation
or re-decision of it is undone like any paid decision (reconcile.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import drafting, reconcile, store
from services.payments import postings as pg
from services.payments.advances import apprentice_advance_fen, apprentice_planned_subsidy_fen, check_advance, settle
from services.payments.claims import PAYEE_KINDS, HoldReason
from services.payments.disbursements import Actor, Part, State
from services.payments.entries import reversal_tx
from services.payments.funding import FundingParams, FundingRoute, advance_ratio, route_for
from services.payments.ledger import DomainError, FundingSource, Payee
from shared.clock import nantong_today
from shared.events import StagedEvent
from shared.problems import Problem

if TYPE_CHECKING:
    from shared.app import Runtime

p, d = store.training_plans, store.disbursements

_PAID_PER_DECISION = sa.text(
    "SELECT count(*) FROM disbursements x JOIN received_decisions r USING (decision_id) "
    "WHERE r.class_id = :class AND x.payee_ref = :payee AND x.status <> 'cancelled'")
_ACCOUNT = sa.text("SELECT 1 FROM payee_accounts WHERE payee_kind = :kind AND payee_ref = :ref LIMIT 1")
_COVERED = sa.text(
    "SELECT h.decision_id, h.trigger_id, r.clause, h.amount_fen FROM payment_holds h "
    "JOIN received_decisions r USING (decision_id) WHERE h.resolved_at IS NULL AND h.reason = :reason "
    "AND h.class_id = :class AND h.payee_ref = :payee ORDER BY h.decision_id")
_ITEMS = sa.text(
    "INSERT INTO plan_items (plan_id, decision_id, trigger_id, clause, amount_fen) SELECT :plan, * FROM unnest("
    "CAST(:d AS uuid[]), CAST(:t AS uuid[]), CAST(:c AS text[]), CAST(:a AS bigint[]))")
_CLASS_TRIGGERS = sa.text("SELECT DISTINCT trigger_id FROM received_decisions WHERE class_id = :class")


async def _plan(session: AsyncSession, plan_id: uuid.UUID) -> Mapping[str, Any]:
    row = (await session.execute(sa.select(p).where(p.c.plan_id == plan_id).with_for_update())).mappings().first()
    if row is None:
        raise Problem(404, "Unknown plan", f"no training plan {plan_id} from the registry", field="plan_id")
    return row


def _payee(plan: Mapping[str, Any]) -> Payee:
    return Payee(PAYEE_KINDS[plan["payee_kind"]], plan["institution_id"])


async def _has_account(session: AsyncSession, payee: Payee) -> None:
    if await session.scalar(_ACCOUNT, {"kind": payee.kind.value, "ref": payee.party_id}) is None:
        raise Problem(409, "No payment account", f"the plan's {payee.kind} {payee.party_id} has no account on record "
                      "at the registry", field="plan_id")


async def _settled(session: AsyncSession, plan_id: uuid.UUID) -> bool:
    s = store.plan_settlements
    return await session.scalar(sa.select(s.c.plan_id).where(s.c.plan_id == plan_id)) is not None


def _advance_route(funding: FundingParams, plan: Mapping[str, Any]) -> tuple[FundingRoute, Any]:
    today = nantong_today()
    try:
        route = route_for(funding, plan["clause"], today)
        if not route.advance_allowed:
            raise DomainError(f"clause {plan['clause']} may not be paid in advance (十三.5)")
        return route, advance_ratio(funding, today)
    except DomainError as exc:
        raise Problem(422, "No advance for this plan", str(exc), field="plan_id") from exc


async def draft_advance(session: AsyncSession, funding: FundingParams, plan_id: uuid.UUID,
                        actor: Actor) -> tuple[dict[str, Any], list[StagedEvent]]:
    """Draft the plan's advance (hr); a different hr approves it and finance releases it in a batch."""
    plan = await _plan(session, plan_id)
    route, ratio = _advance_route(funding, plan)
    payee = _payee(plan)
    if await _settled(session, plan_id):
        raise Problem(409, "Plan settled", f"plan {plan_id} is settled", field="plan_id")
    if await session.scalar(_PAID_PER_DECISION, {"class": plan["class_id"], "payee": payee.party_id}):
        raise Problem(409, "Class already paid per decision", "decisions of this class were drafted one by one; "
                      "an advance now would pay them twice", field="plan_id")
    await _has_account(session, payee)
    planned = apprentice_planned_subsidy_fen(plan["planned_headcount"], plan["standard_per_head_fen"], plan["years"])
    advance = apprentice_advance_fen(plan["planned_headcount"], plan["standard_per_head_fen"], ratio)
    check_advance(advance, planned, ratio)
    req = drafting.DraftRequest(decision_id=plan_id, person_key=f"plan:{plan_id}", clause=plan["clause"],
                                amount_fen=advance, district=plan["district"], route=route, payee=payee,
                                part=Part.ADVANCE, planned_fen=planned, drafted_by=actor.person_id)
    events, rows = await drafting.draft_many(session, [req], funding.version)
    if not rows:
        raise Problem(409, "Advance exists", f"plan {plan_id} already has an advance", field="plan_id")
    row = rows[0]
    return {"plan_id": str(plan_id), "disbursement_id": str(row["disbursement_id"]), "status": row["status"],
            "amount_fen": advance, "planned_fen": planned, "ratio": str(ratio), "source": row["source"]}, events


async def settle_plan(session: AsyncSession, runtime: Runtime, plan_id: uuid.UUID,
                      actor: Actor) -> tuple[dict[str, Any], list[StagedEvent]]:
    """Settle the plan from the decisions for its class's completers, once the class has ended."""
    funding: FundingParams = runtime.state["funding"]
    plan = await _plan(session, plan_id)
    if await _settled(session, plan_id):
        raise Problem(409, "Already settled", f"plan {plan_id} is settled: it pays at most once", field="plan_id")
    if nantong_today() <= plan["end_date"]:
        raise Problem(409, "Class not ended", f"the class ends on {plan['end_date']}; settle after it",
                      field="plan_id")
    advance = (await session.execute(sa.select(d).where(d.c.decision_id == plan_id, d.c.part == Part.ADVANCE.value)
                                     .with_for_update())).mappings().first()
    if advance is not None and advance["status"] not in (State.PAID.value, State.CANCELLED.value):
        raise Problem(409, "Advance not paid", f"the advance is {advance['status']}", field="plan_id")
    payee = _payee(plan)
    await _has_account(session, payee)
    triggers = (await session.execute(_CLASS_TRIGGERS, {"class": plan["class_id"]})).scalars().all()
    events = await reconcile.reconcile(session, runtime, triggers)  # holds as of now
    covered = (await session.execute(_COVERED, {"reason": HoldReason.AWAITING_PLAN_SETTLEMENT.value,
                                                "class": plan["class_id"], "payee": payee.party_id})).all()
    paid_advance = advance["amount_fen"] if advance is not None and advance["status"] == State.PAID.value else 0
    s = settle(sum(c.amount_fen for c in covered), paid_advance)
    source = advance["source"] if advance is not None and paid_advance else \
        route_for(funding, plan["clause"], nantong_today()).sources[0].value
    await session.execute(sa.insert(store.plan_settlements).values(
        plan_id=plan_id, earned_fen=s.earned_fen, advance_fen=paid_advance, pay_fen=s.pay_fen,
        recover_fen=s.recover_fen, source=source, district=plan["district"], settled_by=actor.person_id))
    if covered:
        await session.execute(_ITEMS, {"plan": plan_id, "d": [c.decision_id for c in covered],
                                       "t": [c.trigger_id for c in covered], "c": [c.clause for c in covered],
                                       "a": [c.amount_fen for c in covered]})
    events += await _pay_or_recover(session, funding, plan, payee, s.pay_fen, s.recover_fen, source, actor)
    events += await reconcile.reconcile(session, runtime, triggers)  # the items are paid: their holds end
    return {"plan_id": str(plan_id), "completer_decisions": len(covered), "earned_fen": s.earned_fen,
            "advance_fen": paid_advance, "pay_fen": s.pay_fen, "recover_fen": s.recover_fen}, events


async def _pay_or_recover(session: AsyncSession, funding: FundingParams, plan: Mapping[str, Any], payee: Payee,
                          pay_fen: int, recover_fen: int, source: str, actor: Actor) -> list[StagedEvent]:
    fund = pg.fund_of(source, plan["district"])
    if recover_fen > 0:  # 十三.5: the advance not earned is owed back by the institution
        await pg.post(session, [reversal_tx(f"{plan['plan_id']}:settlement", fund, plan["clause"], payee,
                                            recover_fen, kind="unearned_advance")])
    if pay_fen <= 0:
        return []
    route = route_for(funding, plan["clause"], nantong_today())
    req = drafting.DraftRequest(decision_id=plan["plan_id"], person_key=f"plan:{plan['plan_id']}",
                                clause=plan["clause"], amount_fen=pay_fen, district=plan["district"], route=route,
                                payee=payee, part=Part.SETTLEMENT, fixed_source=FundingSource(source),
                                drafted_by=actor.person_id)
    events, _ = await drafting.draft_many(session, [req], funding.version)
    return events
