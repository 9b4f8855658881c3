"""Public notice (公示) storage: open a notice with each approval that pays, end it, take objections.

`plan_notices` and `insert_notices` run inside write.write_changes (the decisions' transaction); `end_due` is the
end-of-notice step a background loop runs once a minute (and the bureau may trigger): a notice
whose last day is past and which has no open objection becomes payable, and
`eligibility.notice.ended` is staged for payments. The rules are in notice.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import notice as nt
from services.eligibility import store
from services.eligibility.params import ParameterSet
from shared.clock import nantong_today
from shared.db import any_of, insert_many
from shared.events import Envelope, NoticeEndedV1, new_envelope

if TYPE_CHECKING:
    from shared.app import Runtime

PRODUCER = "eligibility"
SHOWN = ("holder_name_masked", "holder_id_last4", "occupation_code", "occupation_edition", "level", "kind",
         "number")


CARRIED = "公示异议（决定因事实变化重新作出，异议随之转来）/ objection carried over to the new decision"


class NoticeError(Exception):
    """An objection the notice cannot take (mapped to problem+json at the API edge)."""

    def __init__(self, status: int, title: str, detail: str, field: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.field = status, title, detail, field


def pays(row: Mapping[str, Any]) -> bool:
    return bool(row["outcome"] == "approved" and row["amount_fen"] > 0)


def shown(row: Mapping[str, Any]) -> dict[str, Any]:
    """The masked public fields: never the person key, the full ID or any fact."""
    rec = row["record"]
    trig = rec.get("trigger", {})
    number = trig.get("number")
    return {"name_masked": trig.get("holder_name_masked"), "id_last4": trig.get("holder_id_last4"),
            "occupation_code": trig.get("occupation_code"), "level": trig.get("level"), "kind": trig.get("kind"),
            "certificate_number_last4": number[-4:] if number else None, "clause": row["clause"],
            "amount_fen": row["amount_fen"], "institution_code": rec.get("institution_code") or trig.get("issuer_code"),
            "district": rec.get("district")}


def start(published_on: dt.date, params: ParameterSet) -> dict[str, Any]:
    """Working days and the last day of a notice published on that day (none while the calendar
    of a year it reaches is unknown: the loop retries when the library knows it)."""
    view = params.at(published_on)
    days = int(view.get(nt.WORKING_DAYS_KEY))
    try:
        ends_on: dt.date | None = nt.period_end(published_on, days)
    except nt.CalendarUnknown:
        ends_on = None
    return {"published_on": published_on, "working_days": days, "parameter_version":
            f"{nt.WORKING_DAYS_KEY}@{view.versions[nt.WORKING_DAYS_KEY]}", "ends_on": ends_on,
            "status": nt.IN_NOTICE if ends_on else nt.AWAITING_CALENDAR}


async def plan_notices(session: AsyncSession, rows: Sequence[dict[str, Any]], retired: Sequence[uuid.UUID],
                   params: ParameterSet, today: dt.date) -> dict[uuid.UUID, dict[str, Any]]:
    """Withdraw the notices of retired decisions; open one for each new approval that pays. A new
    approval with the same amount and payee as the one it supersedes keeps that notice's days
    (what the public saw has not changed); its open objection moves with it, unless this
    decision is the review that resolved that objection."""
    n = store.notices
    prior = [r["supersedes"] for r in rows if r["supersedes"]]
    old = {r["decision_id"]: dict(r) for r in (await session.execute(
        sa.select(n).where(any_of(n.c.decision_id, prior)))).mappings()} if prior else {}
    if retired:
        await session.execute(sa.update(n).where(any_of(n.c.decision_id, list(retired)), n.c.status.notin_(
            [nt.ENDED, nt.WITHDRAWN])).values(status=nt.WITHDRAWN))
    return {r["decision_id"]: _notice(r, old.get(r["supersedes"]), params, today) for r in rows if pays(r)}


async def insert_notices(session: AsyncSession, rows: Sequence[dict[str, Any]],
                         planned: Mapping[uuid.UUID, dict[str, Any]], payloads: Mapping[uuid.UUID, Any]) -> None:
    """Store the planned notices with their decisions' event payloads (the payable event repeats
    them); a notice that kept its objection gets that objection's review on the new decision."""
    if planned:
        await insert_many(session, store.notices, [
            v | {"decision_id": k, "decided": payloads[k]} for k, v in planned.items()])
    await _carry_objections(session, rows, planned)


def _notice(r: dict[str, Any], prior: dict[str, Any] | None, params: ParameterSet, today: dt.date) -> dict[str, Any]:
    base = {"person_key": r["person_key"], "shown": shown(r)}
    if prior is not None and prior["status"] != nt.WITHDRAWN and _same_public(prior, r):
        resolved = (r["record"].get("review") or {}).get("origin") == "objection"
        status = nt.IN_NOTICE if resolved or prior["status"] != nt.OBJECTED else nt.OBJECTED
        if prior["ends_on"] is None:
            status = nt.AWAITING_CALENDAR
        return base | {k: prior[k] for k in ("published_on", "working_days", "parameter_version", "ends_on")} | {
            "status": status}
    return base | start(today, params)


def _same_public(prior: Mapping[str, Any], r: Mapping[str, Any]) -> bool:
    return bool(prior["shown"].get("amount_fen") == r["amount_fen"]
                and prior["decided"].get("payee_ref") == r["record"].get("payee_ref"))


async def _carry_objections(session: AsyncSession, rows: Sequence[dict[str, Any]],
                            opened: Mapping[uuid.UUID, dict[str, Any]]) -> None:
    """A notice that kept its objection: the objection's review follows the new decision."""
    moved = [r for r in rows if opened.get(r["decision_id"], {}).get("status") == nt.OBJECTED]
    if moved:
        await session.execute(insert(store.reviews).values([
            {"review_id": uuid.uuid5(r["decision_id"], "objection"), "decision_id": r["decision_id"],
             "person_key": r["person_key"], "origin": "objection", "requested_by": "public:objection",
             "request_reason": CARRIED} for r in moved]).on_conflict_do_nothing())


# ---- ending notices -------------------------------------------------------------------------

async def end_due(session: AsyncSession, runtime: Runtime, today: dt.date, limit: int = 500) -> int:
    """End every notice whose last day is before `today` with no open objection; stage
    `eligibility.notice.ended` for each. Notices waiting for the calendar get their last day
    once the library knows the year. Returns the number made payable."""
    from services.eligibility.handlers import lock_persons  # the handlers import write, which imports us

    await _fill_calendar(session)
    n, d = store.notices, store.decisions
    due = (await session.execute(sa.select(n.c.decision_id, n.c.person_key).where(
        n.c.status == nt.IN_NOTICE, n.c.ends_on < today).limit(limit))).all()
    if not due:
        return 0
    await lock_persons(session, sorted({p for _, p in due}))
    # Read again under the persons' locks, by key (a re-decision may have retired one meanwhile);
    # by person it walked every due notice for each call's persons (notices has no person index).
    rows = (await session.execute(sa.select(n).join(d, d.c.decision_id == n.c.decision_id).where(
        n.c.status == nt.IN_NOTICE, n.c.ends_on < today, d.c.current, any_of(n.c.decision_id, [i for i, _ in due]))
        .with_for_update(of=n))).mappings().all()
    open_objections = await _open_objections(session, [r["decision_id"] for r in rows])
    ready = [r for r in rows if nt.payable_now(nt.NoticeState(r["status"], r["ends_on"],
                                                              open_objections.get(r["decision_id"], 0)), today)]
    if not ready:
        return 0
    await session.execute(sa.update(n).where(any_of(n.c.decision_id, [r["decision_id"] for r in ready])).values(
        status=nt.ENDED, payable_on=today))
    await runtime.emit(session, [_payable(r) for r in ready])
    return len(ready)


def _payable(r: Mapping[str, Any]) -> Envelope:
    fields = {k: v for k, v in r["decided"].items() if k != "notice_ends_on"}
    payload = NoticeEndedV1.model_validate(fields | {
        "notice_published_on": r["published_on"], "notice_ended_on": r["ends_on"]})
    return new_envelope(payload, key=r["person_key"], producer=PRODUCER,
                        event_id=uuid.uuid5(r["decision_id"], "payable"))


async def _open_objections(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not ids:
        return {}
    rv = store.reviews
    rows = await session.execute(sa.select(rv.c.decision_id, sa.func.count()).where(
        rv.c.decision_id.in_(list(ids)), rv.c.origin == "objection", rv.c.status == "open").group_by(rv.c.decision_id))
    return {r[0]: int(r[1]) for r in rows}


async def _fill_calendar(session: AsyncSession) -> None:
    n = store.notices
    waiting = (await session.execute(sa.select(n.c.decision_id, n.c.published_on, n.c.working_days).where(
        n.c.status == nt.AWAITING_CALENDAR).with_for_update(skip_locked=True))).all()
    for decision_id, published_on, days in waiting:
        try:
            ends_on = nt.period_end(published_on, days)
        except nt.CalendarUnknown:
            continue
        await session.execute(sa.update(n).where(n.c.decision_id == decision_id).values(
            ends_on=ends_on, status=nt.IN_NOTICE))


# ---- objections and the public list -----------------------------------------------------------

async def object_to(session: AsyncSession, decision_id: uuid.UUID, contact: str, reason: str,
                    today: dt.date) -> dict[str, Any]:
    """Anyone may object during the period: the decision goes to a reviewer, and it is not payable
    while the objection is open."""
    n = store.notices
    row = (await session.execute(sa.select(n).where(n.c.decision_id == decision_id).with_for_update())
           ).mappings().first()
    if row is None:
        raise NoticeError(404, "No such notice", f"no notice for decision {decision_id}", "decision_id")
    state = nt.NoticeState(row["status"], row["ends_on"], 0)
    if not nt.may_object(state, today):
        raise NoticeError(409, "Notice period over", f"the notice is {row['status']}, its last day "
                          f"{row['ends_on']}", "decision_id")
    review_id = uuid.uuid5(decision_id, "objection")
    await session.execute(insert(store.reviews).values(
        review_id=review_id, decision_id=decision_id, person_key=row["person_key"], origin="objection",
        requested_by="public:objection", request_reason=reason).on_conflict_do_nothing())
    objection_id = uuid.uuid4()
    await session.execute(insert(store.notice_objections).values(
        objection_id=objection_id, decision_id=decision_id, review_id=review_id, contact=contact, reason=reason))
    if row["status"] == nt.IN_NOTICE:
        await session.execute(sa.update(n).where(n.c.decision_id == decision_id).values(status=nt.OBJECTED))
    return {"objection_id": objection_id, "decision_id": decision_id, "review_id": review_id,
            "notice_status": nt.OBJECTED if row["status"] == nt.IN_NOTICE else row["status"]}


async def objections(session: AsyncSession, status: str | None, limit: int,
                     with_contact: bool) -> list[dict[str, Any]]:
    """Objections with their review's status (open until a reviewer resolves it), newest first;
    the objector's contact only for the reviewers who answer it (`with_contact`)."""
    o, rv = store.notice_objections, store.reviews
    q = sa.select(o.c.objection_id, o.c.decision_id, o.c.review_id, o.c.reason, o.c.contact, o.c.received_at,
                  rv.c.status).join(rv, rv.c.review_id == o.c.review_id)
    if status is not None:
        q = q.where(rv.c.status == status)
    rows = (await session.execute(q.order_by(o.c.received_at.desc(), o.c.objection_id).limit(limit))).mappings()
    return [{k: v for k, v in r.items() if k != "contact" or with_contact} for r in rows]


async def public_list(session: AsyncSession, today: dt.date, limit: int, offset: int) -> list[dict[str, Any]]:
    """Notices whose period runs today or is still open (in notice, objected, awaiting the calendar)."""
    n = store.notices
    q = sa.select(n).where(n.c.status.in_([nt.IN_NOTICE, nt.OBJECTED, nt.AWAITING_CALENDAR]),
                           sa.or_(n.c.ends_on.is_(None), n.c.ends_on >= today)).order_by(
        n.c.published_on.desc(), n.c.decision_id).limit(limit).offset(offset)
    return [public_item(r) for r in (await session.execute(q)).mappings()]


async def public_one(session: AsyncSession, decision_id: uuid.UUID) -> dict[str, Any] | None:
    n = store.notices
    row = (await session.execute(sa.select(n).where(n.c.decision_id == decision_id))).mappings().first()
    return None if row is None else public_item(row)


def public_item(r: Mapping[str, Any]) -> dict[str, Any]:
    return {"decision_id": r["decision_id"], "published_on": r["published_on"], "ends_on": r["ends_on"],
            "working_days": r["working_days"], "status": r["status"]} | dict(r["shown"])


async def awaiting_calendar(session: AsyncSession) -> int:
    """Notices that cannot end because the installed calendar does not know their last day's year."""
    n = store.notices
    return int((await session.execute(sa.select(sa.func.count()).select_from(n).where(
        n.c.status == nt.AWAITING_CALENDAR))).scalar_one())


async def of_decisions(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """Notice status by decision (for the decision APIs)."""
    if not ids:
        return {}
    n = store.notices
    rows = await session.execute(sa.select(n.c.decision_id, n.c.status, n.c.published_on, n.c.ends_on,
                                           n.c.payable_on).where(n.c.decision_id.in_(list(ids))))
    return {r.decision_id: {"status": r.status, "published_on": r.published_on, "ends_on": r.ends_on,
                            "payable_on": r.payable_on} for r in rows}


async def run_loop(runtime: Runtime) -> None:
    """Every `eligibility_notice_poll_seconds` (a day changes at midnight in Nantong): end due
    notices, and decide the certificates whose wait for their holder's facts is over."""
    from services.eligibility.handlers import expire_pending  # the handlers import write, which imports us

    assert runtime.maker is not None
    while True:
        async with runtime.maker() as session, session.begin():
            made = await end_due(session, runtime, nantong_today())
        async with runtime.maker() as session, session.begin():
            made += await expire_pending(session, runtime, nantong_today())
        if made:
            runtime.wake_relay()
        await asyncio.sleep(runtime.settings.eligibility_notice_poll_seconds)
