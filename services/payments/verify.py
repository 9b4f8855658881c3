"""verify-ledger: recompute everything the payments database summarises from the postings alone,
and report any drift. Run by `skillsub verify-ledger`, `GET /v1/ledger/verification` (auditors),
and the chaos and storm tests.

Checks:
  balanced        every transaction sums to zero; every fund's postings net to zero (十二.2)
  fund_balance    funds.balance_fen = Σ postings on the fund's special account
  fund_reserved   funds.reserved_fen = Σ amounts of its reserved and approved drafts
  no_overdraft    no fund's available balance below zero; no payee owes a negative amount
  status_history  each disbursement's status agrees with the transactions of its attempts
                  (released -> a release; paid -> release and paid; failed -> release and failed; ...)
  trigger_paid    for every settled trigger: Σ paid − Σ recovered = Σ its standing decisions
  plan_paid       for every settled 十三.5 plan whose money settled: advance + settlement − unearned
                  = what its completers earned = Σ its plan items
A trigger is settled when nothing of it is unpaid, in flight, failed awaiting a retry or held.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments.disbursements import State

UNSETTLED = frozenset({State.WAITING, State.RESERVED, State.APPROVED, State.RELEASED})


@dataclass
class Report:
    drift: list[dict[str, Any]] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.drift

    def add(self, check: str, **detail: Any) -> None:
        self.drift.append({"check": check, **{k: _plain(v) for k, v in detail.items()}})

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "drift": self.drift[:1000], "drift_count": len(self.drift)}


def _plain(v: Any) -> Any:
    return str(v) if isinstance(v, uuid.UUID) else v


# ---- pure checks ----------------------------------------------------------------------------

def expected_disbursed(status: State, amount_fen: int) -> int:
    """What a disbursement's postings leave on `disbursed`: the amount while released or paid."""
    return amount_fen if status in (State.RELEASED, State.PAID) else 0


def history_problem(status: State, attempt: int, cash_fen: int, kinds: Mapping[int, set[str]],
                    reversed_: bool) -> str | None:
    """Does the status agree with the transactions of each attempt (kinds[attempt])?"""
    for earlier in range(1, attempt):
        if kinds.get(earlier, set()) != {"release", "failed"}:
            return f"attempt {earlier} was retried but has {sorted(kinds.get(earlier, set()))}, not release+failed"
    now = kinds.get(attempt, set())
    paid_ok = "paid" in now or cash_fen == 0
    expected: dict[State, bool] = {
        State.WAITING: not now, State.RESERVED: not now, State.APPROVED: not now, State.CANCELLED: not now,
        State.RELEASED: now == {"release"},
        State.PAID: "release" in now and paid_ok and "failed" not in now,
        State.FAILED: now == {"release", "failed"},
        State.REVERSED: "release" in now and paid_ok and "failed" not in now,
    }
    if not expected[status]:
        return f"status {status} but attempt {attempt} has {sorted(now) or 'no transactions'}"
    if reversed_ != (status is State.REVERSED):
        return f"status {status} {'with' if reversed_ else 'without'} a reversal"
    return None


def settled(states: Iterable[tuple[State, bool]], held: bool) -> bool:
    """(state, flagged) of a trigger's money: nothing unpaid or in flight, no failure awaiting retry."""
    return not held and all(s not in UNSETTLED and not (s is State.FAILED and not flagged) for s, flagged in states)


# ---- loading and comparing --------------------------------------------------------------------

_UNBALANCED = "SELECT txn_id, sum(amount_fen) FROM ledger_postings GROUP BY txn_id HAVING sum(amount_fen) <> 0"
_FUND_NETS = """SELECT split_part(account, '|', 2), split_part(account, '|', 3), sum(amount_fen) FROM ledger_postings
GROUP BY 1, 2 HAVING sum(amount_fen) <> 0"""
_FUNDS = """SELECT f.source, f.district, f.balance_fen, f.reserved_fen,
  coalesce((SELECT sum(p.amount_fen) FROM ledger_postings p
            WHERE p.account = 'special|' || f.source || '|' || f.district || '||'), 0),
  coalesce((SELECT sum(d.amount_fen) FROM disbursements d WHERE d.source = f.source AND d.district = f.district
            AND d.status IN ('reserved', 'approved')), 0)
FROM funds f ORDER BY 1, 2"""
_NEGATIVE_OWED = """SELECT account, sum(amount_fen) FROM ledger_postings WHERE account LIKE 'receivable|%'
GROUP BY account HAVING sum(amount_fen) < 0"""
_MONEY_TX = """SELECT t.kind, t.ref, coalesce(sum(p.amount_fen) FILTER (WHERE p.account LIKE 'disbursed|%'), 0)
FROM ledger_transactions t JOIN ledger_postings p USING (txn_id)
WHERE t.kind IN ('release', 'paid', 'failed', 'reversal') GROUP BY t.kind, t.ref"""
_DISBURSEMENTS = """SELECT disbursement_id, decision_id, part, status, attempt, amount_fen, offset_fen, trigger_id,
clawback_on_paid FROM disbursements"""
_STANDING = """SELECT r.trigger_id, coalesce(sum(r.amount_fen) FILTER (WHERE r.outcome = 'approved' AND r.amount_fen > 0
  AND NOT EXISTS (SELECT 1 FROM superseded_decisions s WHERE s.decision_id = r.decision_id)), 0),
  bool_or(r.supersedes IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM received_decisions k WHERE k.decision_id = r.supersedes))
FROM received_decisions r GROUP BY r.trigger_id"""
_HELD = "SELECT DISTINCT trigger_id FROM payment_holds WHERE resolved_at IS NULL"
_ITEMS = """SELECT i.trigger_id, i.plan_id, i.amount_fen, EXISTS (SELECT 1 FROM ledger_transactions t
  WHERE t.kind = 'plan_item_reversal' AND t.ref = i.decision_id::text) FROM plan_items i"""
_PLANS = """SELECT s.plan_id, s.earned_fen, coalesce((SELECT sum(i.amount_fen) FROM plan_items i
  WHERE i.plan_id = s.plan_id), 0),
  coalesce((SELECT sum(p.amount_fen) FROM ledger_transactions t JOIN ledger_postings p USING (txn_id)
            WHERE p.account LIKE 'disbursed|%' AND (t.ref LIKE s.plan_id::text || ':%')), 0)
FROM plan_settlements s"""


async def verify_ledger(session: AsyncSession) -> Report:
    """Every check above, from the postings and rows as they are now."""
    report = Report()
    await _balanced(session, report)
    await _funds(session, report)
    money = [dict(r) for r in (await session.execute(sa.text(_DISBURSEMENTS))).mappings()]
    tx = [tuple(r) for r in await session.execute(sa.text(_MONEY_TX))]
    disbursed = _histories(money, tx, report)
    plan_money = await _plans(session, money, report)
    await _triggers(session, money, disbursed, plan_money, report)
    return report


async def _balanced(session: AsyncSession, report: Report) -> None:
    for txn, total in await session.execute(sa.text(_UNBALANCED)):
        report.add("balanced", txn_id=txn, sum_fen=int(total))
    for source, district, total in await session.execute(sa.text(_FUND_NETS)):
        report.add("balanced", fund=f"{source}/{district}", net_fen=int(total))
    report.checked["transactions"] = int(await session.scalar(sa.text("SELECT count(*) FROM ledger_transactions")))


async def _funds(session: AsyncSession, report: Report) -> None:
    rows = (await session.execute(sa.text(_FUNDS))).all()
    for source, district, balance, reserved, special, holding in rows:
        fund = f"{source}/{district}"
        if balance != special:
            report.add("fund_balance", fund=fund, stored_fen=balance, from_postings_fen=int(special))
        if reserved != holding:
            report.add("fund_reserved", fund=fund, stored_fen=reserved, open_reservations_fen=int(holding))
        if balance - reserved < 0:
            report.add("no_overdraft", fund=fund, available_fen=balance - reserved)
    for account, total in await session.execute(sa.text(_NEGATIVE_OWED)):
        report.add("no_overdraft", receivable=account.split("|")[3], owed_fen=int(total))
    report.checked["funds"] = len(rows)


def _histories(money: list[dict[str, Any]], tx: list[tuple[str, str, int]], report: Report) -> dict[uuid.UUID, int]:
    """Per disbursement: check its status history; return what its postings left on `disbursed`."""
    kinds: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    net: dict[str, int] = defaultdict(int)
    reversed_keys = set()
    for kind, ref, amount in tx:
        key, _, attempt = ref.partition("#")
        if kind == "reversal":
            reversed_keys.add(ref)
        else:
            kinds[key][int(attempt)].add(kind)
        net[key] += int(amount)
    out = {}
    for r in money:
        key, status = f"{r['decision_id']}:{r['part']}", State(r["status"])
        problem = history_problem(status, r["attempt"], r["amount_fen"] - r["offset_fen"], kinds.get(key, {}),
                                  key in reversed_keys)
        if problem:
            report.add("status_history", disbursement_id=r["disbursement_id"], problem=problem)
        if net[key] != expected_disbursed(status, r["amount_fen"]):
            report.add("status_history", disbursement_id=r["disbursement_id"],
                       problem=f"postings leave {net[key]} fen spent, a {status} payment leaves "
                               f"{expected_disbursed(status, r['amount_fen'])}")
        out[r["disbursement_id"]] = net[key]
    report.checked["disbursements"] = len(money)
    return out


async def _plans(session: AsyncSession, money: list[dict[str, Any]], report: Report) -> dict[uuid.UUID, bool]:
    """Settled plans whose money settled: spent on them = earned = Σ items. Returns plan -> money settled."""
    parts: dict[uuid.UUID, list[State]] = defaultdict(list)
    for r in money:
        if r["part"] in ("advance", "settlement"):
            parts[r["decision_id"]].append(State(r["status"]))
    done = {}
    for plan_id, earned, items, spent in await session.execute(sa.text(_PLANS)):
        done[plan_id] = all(s not in UNSETTLED for s in parts.get(plan_id, []))
        if items != earned:
            report.add("plan_paid", plan_id=plan_id, earned_fen=earned, items_fen=int(items))
        if done[plan_id] and spent != earned:
            report.add("plan_paid", plan_id=plan_id, earned_fen=earned, spent_fen=int(spent))
    report.checked["plans_settled"] = len(done)
    return done


async def _triggers(session: AsyncSession, money: list[dict[str, Any]], disbursed: Mapping[uuid.UUID, int],
                    plan_money: Mapping[uuid.UUID, bool], report: Report) -> None:
    held = set((await session.execute(sa.text(_HELD))).scalars())
    states: dict[uuid.UUID, list[tuple[State, bool]]] = defaultdict(list)
    paid: dict[uuid.UUID, int] = defaultdict(int)
    for r in money:
        if r["trigger_id"] is not None:
            states[r["trigger_id"]].append((State(r["status"]), r["clawback_on_paid"]))
            paid[r["trigger_id"]] += disbursed[r["disbursement_id"]]
    pending_plans: set[uuid.UUID] = set()
    for trigger, plan_id, amount, item_reversed in await session.execute(sa.text(_ITEMS)):
        if not plan_money.get(plan_id, False):
            pending_plans.add(trigger)
        elif not item_reversed:
            paid[trigger] += int(amount)
    checked = pending = 0
    for trigger, owed, gap in await session.execute(sa.text(_STANDING)):
        if gap or trigger in pending_plans or not settled(states.get(trigger, []), trigger in held):
            pending += 1
            continue
        checked += 1
        if paid[trigger] != owed:
            report.add("trigger_paid", trigger_id=trigger, paid_less_recovered_fen=paid[trigger],
                       standing_decisions_fen=int(owed))
    report.checked["triggers_settled"], report.checked["triggers_pending"] = checked, pending
