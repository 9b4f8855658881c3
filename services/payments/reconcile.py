"""Bring triggers' money in line with their standing decisions: load, decide (claims.decide), write.

Called whenever something a trigger's payment depends on changes: a decision for it arrives, its
payee's account arrives, the treasury answers for one of its payments, a 十三.5 plan for its class
arrives. Idempotent: run twice, the second run finds nothing to do. One advisory lock per trigger
(sorted) serialises two writers of the same trigger (a consumer and a statement import, or two
consumers across a rebalance). A batch of triggers costs a fixed handful of statements.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import claims, drafting
from services.payments import postings as pg
from services.payments.claims import Claim, HoldReason, Money, PlanCover, TriggerPlan, TriggerView
from services.payments.disbursements import HOLDS_RESERVATION, State
from services.payments.entries import reversal_tx
from services.payments.funding import FundingParams, FundingRoute, route_for
from services.payments.ledger import FundingSource, Payee, PayeeKind
from shared.events import StagedEvent

if TYPE_CHECKING:
    from shared.app import Runtime

_LOCK = sa.text("SELECT count(pg_advisory_xact_lock(hashtextextended(t::text, 12))) "
                "FROM (SELECT unnest(CAST(:ids AS uuid[])) AS t ORDER BY 1) s")
# One statement: each decision of the triggers with what its payment depends on (superseded? in its
# public notice (公示)? its payee's account on record? paid by a 十三.5 settlement? a plan for its class?).
_DECISIONS = sa.text("""
SELECT r.decision_id, r.trigger_id, r.person_key, r.clause, r.outcome, r.amount_fen, r.payee_kind, r.payee_ref,
       r.district, r.decided_on, r.class_id, r.supersedes, r.ledger_payee_kind,
       r.notice_required AND NOT EXISTS (SELECT 1 FROM notices_ended n WHERE n.decision_id = r.decision_id)
         AS in_notice,
       EXISTS (SELECT 1 FROM superseded_decisions s WHERE s.decision_id = r.decision_id) AS superseded,
       EXISTS (SELECT 1 FROM payee_accounts a WHERE a.payee_kind = r.ledger_payee_kind
               AND a.payee_ref = r.payee_ref) AS has_account,
       EXISTS (SELECT 1 FROM plan_items i WHERE i.decision_id = r.decision_id AND NOT EXISTS (
               SELECT 1 FROM ledger_transactions t WHERE t.kind = 'plan_item_reversal'
               AND t.ref = r.decision_id::text)) AS plan_item,
       p.plan_id, p.institution_id AS plan_institution, s.plan_id IS NOT NULL AS plan_settled,
       h.reason AS held_for
FROM received_decisions r LEFT JOIN training_plans p ON p.class_id = r.class_id
LEFT JOIN plan_settlements s ON s.plan_id = p.plan_id
LEFT JOIN payment_holds h ON h.decision_id = r.decision_id AND h.resolved_at IS NULL
WHERE r.trigger_id = ANY(CAST(:ids AS uuid[])) ORDER BY r.received_at, r.decision_id""")
_MONEY = sa.text("SELECT * FROM disbursements WHERE trigger_id = ANY(CAST(:ids AS uuid[])) "
                 "ORDER BY created_at, disbursement_id FOR UPDATE")
_ITEM_FUNDS = sa.text(
    "SELECT i.decision_id, i.clause, i.amount_fen, s.source, s.district, p.payee_kind, p.institution_id "
    "FROM plan_items i JOIN plan_settlements s USING (plan_id) JOIN training_plans p USING (plan_id) "
    "WHERE i.decision_id = ANY(CAST(:ids AS uuid[]))")
_FLAG = sa.text("UPDATE disbursements SET clawback_on_paid = true, updated_at = now() "
                "WHERE disbursement_id = ANY(CAST(:ids AS uuid[]))")
_HOLD = sa.text(
    "INSERT INTO payment_holds (decision_id, trigger_id, reason, payee_kind, payee_ref, class_id, amount_fen) "
    "SELECT * FROM unnest(CAST(:d AS uuid[]), CAST(:t AS uuid[]), CAST(:r AS text[]), CAST(:k AS text[]), "
    "CAST(:p AS text[]), CAST(:c AS uuid[]), CAST(:a AS bigint[])) "
    "ON CONFLICT (decision_id) DO UPDATE SET reason = excluded.reason, resolved_at = NULL, since = now() "
    "WHERE payment_holds.reason <> excluded.reason OR payment_holds.resolved_at IS NOT NULL")
_RESOLVE = sa.text("UPDATE payment_holds SET resolved_at = now() WHERE decision_id = ANY(CAST(:ids AS uuid[])) "
                   "AND resolved_at IS NULL")

Rows = list[dict[str, Any]]


async def reconcile(session: AsyncSession, runtime: Runtime, trigger_ids: Iterable[uuid.UUID]) -> list[StagedEvent]:
    """Load these triggers, decide what their money needs, write it; returns the events to emit.
    Drafts are planned in the order the triggers are given (a consumed batch: delivery order), so
    the fund's FIFO follows arrival."""
    ids = list(dict.fromkeys(trigger_ids))
    if not ids:
        return []
    await session.execute(_LOCK, {"ids": sorted(ids)})
    decisions, views, money = await _load(session, ids)
    plans = {t: claims.decide(views[t]) for t in ids}
    funding: FundingParams = runtime.state["funding"]
    return await _write(session, funding, ids, plans, decisions, money)


# ---- load ---------------------------------------------------------------------------------

async def _load(session: AsyncSession, ids: list[uuid.UUID]) -> tuple[dict[uuid.UUID, dict[str, Any]],
                                                                      dict[uuid.UUID, TriggerView], Rows]:
    """Two statements whatever the number of triggers: their decisions (with flags), their money."""
    decisions = {r["decision_id"]: r for r in pg.dict_rows(await session.execute(_DECISIONS, {"ids": ids}))}
    money = pg.dict_rows(await session.execute(_MONEY, {"ids": ids}))
    superseded = frozenset(d for d, r in decisions.items() if r["superseded"])
    accounts = frozenset((PayeeKind(r["ledger_payee_kind"]), r["payee_ref"]) for r in decisions.values()
                         if r["has_account"])
    plans = {r["class_id"]: PlanCover(r["plan_id"], r["plan_institution"], r["plan_settled"])
             for r in decisions.values() if r["plan_id"] is not None}
    by_trigger: dict[uuid.UUID, list[Claim]] = defaultdict(list)
    items: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for r in decisions.values():
        by_trigger[r["trigger_id"]].append(_claim(r))
        if r["plan_item"]:
            items[r["trigger_id"]].add(r["decision_id"])
    money_of: dict[uuid.UUID, list[Money]] = defaultdict(list)
    for r in money:
        money_of[r["trigger_id"]].append(_money(r))
    views = {t: TriggerView(by_trigger[t], superseded, money_of[t], frozenset(items[t]), accounts, plans)
             for t in ids}
    return decisions, views, money


def _claim(r: Mapping[str, Any]) -> Claim:
    return Claim(r["decision_id"], r["clause"], r["outcome"], r["amount_fen"], r["payee_kind"], r["payee_ref"],
                 r["supersedes"], r["class_id"], in_notice=r["in_notice"])


def _money(r: Mapping[str, Any]) -> Money:
    return Money(r["disbursement_id"], r["decision_id"], _STATES[r["status"]], r["clawback_on_paid"],
                 (_KINDS[r["payee_kind"]], r["payee_ref"]), r["source"])


_STATES = {m.value: m for m in State}
_KINDS = {m.value: m for m in PayeeKind}


# ---- write --------------------------------------------------------------------------------

async def _write(session: AsyncSession, funding: FundingParams, ids: list[uuid.UUID],
                 plans: Mapping[uuid.UUID, TriggerPlan], decisions: Mapping[uuid.UUID, dict[str, Any]],
                 money: Rows) -> list[StagedEvent]:
    by_id = {r["disbursement_id"]: r for r in money}
    merged = TriggerPlan()
    for p in plans.values():
        merged.cancel += p.cancel
        merged.flag += p.flag
        merged.claw_back += p.claw_back
        merged.reverse_items += p.reverse_items
        merged.draft += p.draft
        merged.hold.update(p.hold)
    events = await cancel(session, [by_id[i] for i in merged.cancel])
    if merged.flag:
        await session.execute(_FLAG, {"ids": merged.flag})
    events += await drafting.claw_back(session, [by_id[i] for i in merged.claw_back])
    await _reverse_items(session, merged.reverse_items)
    routes: dict[tuple[str, Any], FundingRoute] = {}  # one lookup per (clause, decision date) a batch
    requests = [_request(funding, routes, decisions[d.claim.decision_id], d) for d in merged.draft]
    # Under the triggers' locks, with their money read: what is drafted here was not drafted before.
    drafted, _ = await drafting.draft_many(session, requests, funding.version, checked=True)
    await _holds(session, merged.hold, decisions)
    return events + drafted


async def cancel(session: AsyncSession, rows: Rows) -> list[StagedEvent]:
    """Cancel unpaid drafts: their reservations are released at once and the funds' queues move."""
    if not rows:
        return []
    keys = {(r["source"], r["district"]) for r in rows}
    await pg.lock_funds(session, keys)
    await pg.set_status(session, rows, State.CANCELLED, queued_seq=None, clawback_on_paid=True)
    await pg.move_funds(session, {}, pg.sum_by_fund([r for r in rows if State(r["status"]) in HOLDS_RESERVATION],
                                                    sign=-1))
    admitted = await pg.admit_queues(session, keys)
    return pg.status_events(rows, State.CANCELLED) + pg.status_events(admitted, State.RESERVED)


async def _reverse_items(session: AsyncSession, decision_ids: Sequence[uuid.UUID]) -> None:
    """A decision a 十三.5 settlement paid no longer stands: its share is owed back by the institution."""
    if not decision_ids:
        return
    rows = await session.execute(_ITEM_FUNDS, {"ids": list(decision_ids)})
    await pg.post(session, [reversal_tx(str(r.decision_id), pg.fund_of(r.source, r.district), r.clause,
                                        Payee(PayeeKind(r.payee_kind), r.institution_id), r.amount_fen,
                                        kind="plan_item_reversal") for r in rows])


def _request(funding: FundingParams, routes: dict[tuple[str, Any], FundingRoute], r: Mapping[str, Any],
             draft: claims.Draft) -> drafting.DraftRequest:
    key = (r["clause"], r["decided_on"])
    route = routes.get(key) or routes.setdefault(key, route_for(funding, *key))
    payee = draft.claim.payee
    assert payee is not None  # claims.decide holds a claim without a payee
    return drafting.DraftRequest(
        decision_id=r["decision_id"], person_key=r["person_key"], clause=r["clause"], amount_fen=r["amount_fen"],
        district=r["district"] or drafting.UNASSIGNED_DISTRICT, route=route, payee=Payee(*payee),
        fixed_source=_pinned(route, draft.prefer_source), trigger_id=r["trigger_id"])


def _pinned(route: FundingRoute, source: str | None) -> FundingSource | None:
    """Draft a successor on its predecessor's fund when the route allows it: the claw-back nets there."""
    return FundingSource(source) if source is not None and source in route.sources else None


async def _holds(session: AsyncSession, hold: Mapping[uuid.UUID, HoldReason],
                 decisions: Mapping[uuid.UUID, dict[str, Any]]) -> None:
    """Record new or changed holds; resolve those whose decision is drafted or no longer payable."""
    held = sorted(d for d, reason in hold.items() if decisions[d]["held_for"] != reason.value)
    if held:
        rows = [decisions[d] for d in held]
        await session.execute(_HOLD, {"d": held, "t": [r["trigger_id"] for r in rows],
                                      "r": [hold[d].value for d in held], "k": [r["payee_kind"] for r in rows],
                                      "p": [r["payee_ref"] for r in rows], "c": [r["class_id"] for r in rows],
                                      "a": [r["amount_fen"] for r in rows]})
    ended = sorted(d for d, r in decisions.items() if r["held_for"] is not None and d not in hold)
    if ended:
        await session.execute(_RESOLVE, {"ids": ended})


_OPEN_HOLD_TRIGGERS = sa.text("SELECT DISTINCT trigger_id FROM payment_holds WHERE resolved_at IS NULL "
                              "AND trigger_id = ANY(CAST(:ids AS uuid[]))")


async def after_treasury(session: AsyncSession, runtime: Runtime,
                         rows: Sequence[Mapping[str, Any]]) -> list[StagedEvent]:
    """The treasury answered for these payments: triggers whose decision moved on, or whose successor
    waits for this answer, are reconciled (claw back what was paid, draft what waited)."""
    triggers = {r["trigger_id"] for r in rows if r.get("trigger_id") is not None}
    if not triggers:
        return []
    waiting = set((await session.execute(_OPEN_HOLD_TRIGGERS, {"ids": sorted(triggers)})).scalars())
    moved = {r["trigger_id"] for r in rows if r.get("trigger_id") is not None and r["clawback_on_paid"]}
    return await reconcile(session, runtime, waiting | moved)
