"""Human review: the queue, a person's request (against an automated rejection or the amount of an
approval, PIPL art. 24), and a reviewer's resolution, which is a new decision superseding the
reviewed one (never an edit). The rules are in review_rules.py; this module loads, writes and then
re-decides the person, so a slot freed by a rejection goes to the next cap-rejected trigger.

A reviewer's decision records `auto_basis` (the automated outcome it resolved). Re-evaluation
keeps it while the automated outcome is unchanged, and supersedes it when facts change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import load, store
from services.eligibility.decision import APPROVED, REJECTED, Decision, Reason, Step
from services.eligibility.domain import ORDER_CLASS
from services.eligibility.handlers import lock_persons, redecide
from services.eligibility.person import Changes, Decided, Held
from services.eligibility.review_rules import Evidence, ReviewError, approved_amount, check_request, check_reviewer
from services.eligibility.write import write_changes

if TYPE_CHECKING:
    from shared.app import Runtime


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who acts, as the token says."""

    actor_id: str
    role: str


async def _decision(session: AsyncSession, decision_id: uuid.UUID) -> dict[str, Any]:
    d = store.decisions
    row = (await session.execute(sa.select(d).where(d.c.decision_id == decision_id).with_for_update())
           ).mappings().first()
    if row is None:
        raise ReviewError(404, "No such decision", f"decision {decision_id} does not exist", "decision_id")
    return dict(row)


async def request_review(session: AsyncSession, decision_id: uuid.UUID, actor: Actor,
                         reason: str) -> dict[str, Any]:
    """A person may ask for a human to look at an automated rejection or approved amount."""
    row = await _decision(session, decision_id)
    check_request(row["outcome"], row["current"], bool(row["record"].get("review")))
    review_id = uuid.uuid4()
    stmt = insert(store.reviews).values(
        review_id=review_id, decision_id=decision_id, person_key=row["person_key"], origin="requested",
        requested_by=f"{actor.role}:{actor.actor_id}", request_reason=reason).on_conflict_do_nothing()
    if (await session.execute(stmt.returning(store.reviews.c.review_id))).first() is None:
        raise ReviewError(409, "Review already open", "a review of this decision is already open", "decision_id")
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


@dataclasses.dataclass(frozen=True)
class Resolution:
    approve: bool
    amount_fen: int | None
    reason: str
    evidence: Evidence | None = None


async def resolve(session: AsyncSession, runtime: Runtime, review_id: uuid.UUID, actor: Actor,
                  res: Resolution) -> dict[str, Any]:
    """Approve (an amount within the plan's cap, or at cost on evidence) or reject; attributed;
    supersedes the reviewed decision; then the person is re-decided."""
    r = store.reviews
    review = (await session.execute(sa.select(r).where(r.c.review_id == review_id).with_for_update())
              ).mappings().first()
    if review is None:
        raise ReviewError(404, "No such review", f"review {review_id} does not exist", "review_id")
    if review["status"] != "open":
        raise ReviewError(409, "Review closed", f"the review is {review['status']}", "review_id")
    check_reviewer(review["requested_by"], actor.actor_id)
    await lock_persons(session, [review["person_key"]])
    row = await _decision(session, review["decision_id"])
    if not row["current"]:
        raise ReviewError(409, "Decision superseded", "facts changed; a newer decision replaced it", "review_id")
    old = load.held(row)
    got = await _reviewed(session, runtime, old, row, actor, res, dict(review))
    catalog, params = await load.load_reference(session, runtime)
    try:
        written = await write_changes(session, runtime, {row["person_key"]: Changes([(got, old)], [old])}, params)
        await _redecide_subject(session, runtime, row)
    except IntegrityError as exc:  # 十三.1: the database refuses a slot above the cap or a repeat
        raise ReviewError(409, "Limit of 十三 reached", "approving would break a person-level limit "
                          f"({type(exc.orig).__name__})", "amount_fen") from None
    new_id = written[0]["decision_id"]
    await session.execute(sa.update(r).where(r.c.review_id == review_id).values(
        status="approved" if res.approve else "rejected", resolved_by=actor.actor_id, resolved_role=actor.role,
        resolved_at=sa.func.now(), resolution_reason=res.reason, amount_fen=got.decision.amount_fen,
        result_decision_id=new_id))
    return {"review_id": review_id, "status": "approved" if res.approve else "rejected", "decision_id": new_id,
            "amount_fen": got.decision.amount_fen, "supersedes": old.decision_id}


async def _redecide_subject(session: AsyncSession, runtime: Runtime, row: dict[str, Any]) -> None:
    """The reviewer's decision can free or take a slot: re-decide the person (or order class)."""
    if row["trigger_kind"] == ORDER_CLASS:
        await redecide(session, runtime, [], [row["trigger_id"]])
    else:
        await redecide(session, runtime, [row["person_key"]])


async def _reviewed(session: AsyncSession, runtime: Runtime, old: Held, row: dict[str, Any], actor: Actor,
                    res: Resolution, review: dict[str, Any]) -> Decided:
    rec = row["record"]
    kept = tuple(Step(s["description_zh"], s["description_en"], s["value"]) for s in rec.get("steps", []))
    amount, steps = 0, kept
    if res.approve:
        catalog, params = await load.load_reference(session, runtime)
        facts_day = dt.date.fromisoformat(rec["facts_as_of"])
        trig = rec.get("trigger", {})
        code = catalog.canonical(trig.get("occupation_code"), trig.get("occupation_edition") or "2015")
        std = catalog.standard(code, trig.get("level"), facts_day)
        codes = [x["code"] for x in rec.get("reasons", [])]
        amount, steps = approved_amount(old.clause, codes, old.amount_fen, std, params.at(facts_day),
                                        res.amount_fen, res.evidence, kept)
    note = Reason("human_review", f"人工复核（{actor.role}:{actor.actor_id}）：{res.reason}",
                  f"human review ({actor.role}:{actor.actor_id}): {res.reason}")
    d = old.decision()._replace(outcome=APPROVED if res.approve else REJECTED, amount_fen=amount,
                            reasons=(note,), steps=steps if res.approve else (),
                            parameter_versions=tuple(_versions(rec)))
    basis = rec.get("auto_basis") or {"outcome": old.outcome, "amount_fen": old.amount_fen}
    extra = {"auto_basis": basis, "catalog_line": rec.get("catalog_line"), "shortage_list": rec.get("shortage_list"),
             "review": {"review_id": str(review["review_id"]), "origin": review["origin"], "by": actor.actor_id,
                        "role": actor.role, "reason": res.reason, "at": dt.datetime.now(dt.UTC).isoformat(),
                        "requested_by": review["requested_by"], "request_reason": review["request_reason"],
                        "evidence": dataclasses.asdict(res.evidence) if res.evidence else None}}
    return Decided(old.trigger_id, row["trigger_kind"], d, rec.get("district"),
                   dt.date.fromisoformat(rec["facts_as_of"]), tuple(rec.get("facts_used", [])),
                   rec.get("trigger", {}), rec.get("class_id"), rec.get("institution_code"),
                   tuple(rec.get("target_groups", [])), extra)


def _versions(rec: dict[str, Any]) -> list[tuple[str, str]]:
    return [tuple(v.rsplit("@", 1)) for v in rec.get("parameter_versions", [])]  # type: ignore[misc]


__all__ = ["Actor", "Decision", "Resolution", "list_reviews", "request_review", "resolve"]
