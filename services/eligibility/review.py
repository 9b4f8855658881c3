"""Human review: the queue, a person's request against an automated rejection (PIPL art. 24),
and a reviewer's resolution, which is a new decision superseding the reviewed one (never an edit).

A reviewer's decision records `auto_basis` (the automated outcome it resolved). Re-evaluation
keeps it while the automated outcome is unchanged, and supersedes it when facts change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import paramstore, store
from services.eligibility.decision import APPROVED, REJECTED, Reason
from services.eligibility.reevaluate import (
    decision_row,
    load_catalog,
    lock_persons,
    store_changes,
    stored_decision,
)
from services.eligibility.trigger_items import Decided
from shared.money import fen_to_yuan, round_half_up
from shared.problems import Problem

if TYPE_CHECKING:
    from shared.app import Runtime

UNCAPPED = "out_of_catalog_at_cost"  # 四.3: actual training cost + assessment fee, on evidence


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who acts, as the token (or the swap-in header dependency) says."""

    actor_id: str
    role: str


async def _decision(session: AsyncSession, decision_id: uuid.UUID) -> dict[str, Any]:
    d = store.decisions
    row = (await session.execute(sa.select(d).where(d.c.decision_id == decision_id).with_for_update())
           ).mappings().first()
    if row is None:
        raise Problem(404, "No such decision", f"decision {decision_id} does not exist", field="decision_id")
    return dict(row)


async def request_review(session: AsyncSession, decision_id: uuid.UUID, actor: Actor,
                         reason: str) -> dict[str, Any]:
    """PIPL art. 24: a person may ask for a human to look at an automated rejection."""
    row = await _decision(session, decision_id)
    if not row["current"] or row["outcome"] != REJECTED or row["record"].get("review"):
        raise Problem(409, "Not reviewable", "only a current automated rejection can be put to human "
                      "review", field="decision_id")
    review_id = uuid.uuid4()
    stmt = insert(store.reviews).values(
        review_id=review_id, decision_id=decision_id, person_key=row["person_key"], origin="requested",
        requested_by=f"{actor.role}:{actor.actor_id}", request_reason=reason).on_conflict_do_nothing()
    if (await session.execute(stmt.returning(store.reviews.c.review_id))).first() is None:
        raise Problem(409, "Review already open", "a review of this decision is already open",
                      field="decision_id")
    return {"review_id": review_id, "decision_id": decision_id, "status": "open", "origin": "requested"}


async def list_reviews(session: AsyncSession, status: str, limit: int) -> list[dict[str, Any]]:
    r, d = store.reviews, store.decisions
    q = (sa.select(r, d.c.clause, d.c.outcome, d.c.amount_fen, d.c.trigger_id, d.c.record)
         .join(d, d.c.decision_id == r.c.decision_id).where(r.c.status == status)
         .order_by(r.c.opened_at, r.c.review_id).limit(limit))
    out = []
    for row in (await session.execute(q)).mappings():
        item = {k: v for k, v in row.items() if k != "record"}
        rec = row["record"]
        out.append(item | {"explanation_zh": rec.get("explanation_zh"), "explanation_en": rec.get("explanation_en"),
                           "reasons": rec.get("reasons", [])})
    return out


async def resolve(session: AsyncSession, runtime: Runtime, review_id: uuid.UUID, actor: Actor,
                  approve: bool, amount_fen: int | None, reason: str) -> dict[str, Any]:
    """Approve (with an amount within the plan's cap) or reject; attributed; supersedes."""
    r = store.reviews
    review = (await session.execute(sa.select(r).where(r.c.review_id == review_id).with_for_update())
              ).mappings().first()
    if review is None:
        raise Problem(404, "No such review", f"review {review_id} does not exist", field="review_id")
    if review["status"] != "open":
        raise Problem(409, "Review closed", f"the review is {review['status']}", field="review_id")
    await lock_persons(session, [review["person_key"]])
    old = await _decision(session, review["decision_id"])
    if not old["current"]:
        raise Problem(409, "Decision superseded", "facts changed; a newer decision replaced it",
                      field="review_id")
    amount = await _checked_amount(session, runtime, old, approve, amount_fen)
    row = _reviewed_row(old, actor, approve, amount, reason, review, await paramstore.current(session, runtime))
    try:
        await store_changes(session, runtime, [row], [old], [old["person_key"]])
    except IntegrityError as exc:  # 十三.1: the database refuses a 4th slot or a repeated occupation
        raise Problem(409, "Limit of 十三 reached", "approving would break a person-level limit "
                      f"({type(exc.orig).__name__})", field="amount_fen") from None
    await session.execute(sa.update(r).where(r.c.review_id == review_id).values(
        status="approved" if approve else "rejected", resolved_by=actor.actor_id, resolved_role=actor.role,
        resolved_at=sa.func.now(), resolution_reason=reason, amount_fen=amount,
        result_decision_id=row["decision_id"]))
    return {"review_id": review_id, "status": "approved" if approve else "rejected",
            "decision_id": row["decision_id"], "amount_fen": amount, "supersedes": old["decision_id"]}


async def _checked_amount(session: AsyncSession, runtime: Runtime, old: dict[str, Any], approve: bool,
                          amount_fen: int | None) -> int:
    if not approve:
        return 0
    if amount_fen is None or amount_fen <= 0:
        raise Problem(422, "Amount required", "an approval needs an amount in fen > 0", field="amount_fen")
    cap = await plan_cap(session, runtime, old)
    if cap is None and UNCAPPED not in {x["code"] for x in old["record"].get("reasons", [])}:
        raise Problem(422, "No plan cap", f"clause {old['clause']} gives no cap for this case",
                      field="amount_fen")
    if cap is not None and amount_fen > cap:
        raise Problem(422, "Above the plan's cap", f"{fen_to_yuan(amount_fen)} exceeds the cap of "
                      f"{fen_to_yuan(cap)} yuan", field="amount_fen")
    return amount_fen


async def plan_cap(session: AsyncSession, runtime: Runtime, old: dict[str, Any]) -> int | None:
    """The most the plan allows for this decision: its proposed amount ("up to", 四.1) when it has
    one; otherwise the clause's top rate on the facts date (shortage share, uplift, table maximum)."""
    if old["amount_fen"] > 0:
        return int(old["amount_fen"])
    params = await paramstore.current(session, runtime)
    view = params.at(dt.date.fromisoformat(old["record"]["facts_as_of"]))
    trig = old["record"].get("trigger", {})
    std = (await load_catalog(session, runtime)).standard(
        trig.get("occupation_code"), trig.get("level"), view.day)
    total = Fraction(std.total_fen) if std else None
    caps = {
        "四.2": lambda: total and total * view.get("四.2.shortage_share"),
        "四.3": lambda: total and total * view.get("四.3.shortage_share"),
        "四.4": lambda: total and total * view.get("四.4.share") * view.get("四.4.shortage_uplift"),
        "五.2": lambda: total and total * view.get("五.2.share"),
        "四.5a": lambda: max(view.get("四.5a.reward_fen").values()),
        "四.5b": lambda: view.get("四.5b.reward_fen"),
        "四.7": lambda: max(view.get("四.7.per_year_fen").values()),
        "五.3": lambda: view.get("五.3.per_month_fen") * view.get("五.3.max_months"),
        "五.4": lambda: max(view.get("五.4.training_fen").values()) + view.get("五.4.certificate_reward_fen"),
        "六": lambda: max(view.get("六.training_fen").values()),
    }
    found = caps.get(old["clause"], lambda: None)()
    return round_half_up(Fraction(found)) if found else None


def _reviewed_row(old: dict[str, Any], actor: Actor, approve: bool, amount: int, reason: str,
                  review: Any, params: Any) -> dict[str, Any]:
    outcome = APPROVED if approve else REJECTED
    note = Reason("human_review", f"人工复核（{actor.role}:{actor.actor_id}）：{reason}",
                  f"human review ({actor.role}:{actor.actor_id}): {reason}")
    d = dataclasses.replace(stored_decision(old), outcome=outcome, amount_fen=amount, reasons=(note,))
    rec = old["record"]
    trigger = rec.get("trigger", {})
    got = Decided(old["trigger_id"], old["trigger_kind"], d, rec.get("district") or trigger.get("district"),
                  dt.date.fromisoformat(rec["facts_as_of"]), rec.get("facts_used", []), trigger,
                  rec.get("payee_kind", "worker"), rec.get("payee_ref"))
    basis = rec.get("auto_basis") or {"outcome": old["outcome"], "amount_fen": old["amount_fen"]}
    extra = {"auto_basis": basis, "steps": rec.get("steps", []),
             "review": {"review_id": str(review["review_id"]), "origin": review["origin"],
                        "by": actor.actor_id, "role": actor.role, "reason": reason,
                        "at": dt.datetime.now(dt.UTC).isoformat(),
                        "requested_by": review["requested_by"], "request_reason": review["request_reason"]}}
    row = decision_row(old["person_key"], got, old["decision_id"], params.set_version, extra)
    row["occupation_key"], row["counts_toward_cap"] = old["occupation_key"], old["counts_toward_cap"]
    row["record"]["parameter_versions"] = rec.get("parameter_versions", [])
    return row
