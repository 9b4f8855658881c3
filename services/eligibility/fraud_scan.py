"""Fraud signals, the thin service part: after each consumed batch, load the state around what it
touched (the persons re-decided, the months of the certificates it carried, the contact digests it
recorded), run the pure detectors of fraud.py, and store new signals in the review queue. Signals
never change a decision: reviewers confirm or dismiss them (api_fraud.py), and the institution's
credit rating is derived from them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import fraud, paramstore, store
from services.eligibility.fraud_store import fraud_signals, trainee_contacts
from services.eligibility.params import ParamView
from shared.clock import nantong_today
from shared.db import insert_many
from shared.events import Event, TraineeContactRecordedV1

if TYPE_CHECKING:
    from services.eligibility.handlers import Touched
    from shared.app import Runtime

THRESHOLD_KEYS = ("fraud.volume.factor", "fraud.volume.history_months", "fraud.volume.min_count",
                  "fraud.shared_contact.min_trainees")
CREDIT_KEYS = ("credit.points_confirmed", "credit.points_open", "credit.bands")


def collect_contact(ev: Event[TraineeContactRecordedV1], t: Touched) -> None:
    p = ev.payload
    t.add("contacts", {"person_key": p.person_key, "institution_code": p.institution_code,
                       "contact_kind": p.contact_kind, "digest": p.digest, "recorded_on": p.recorded_on})


def thresholds(view: ParamView) -> fraud.Thresholds:
    return fraud.Thresholds(view.get("fraud.volume.factor"), view.get("fraud.volume.history_months"),
                            view.get("fraud.volume.min_count"), view.get("fraud.shared_contact.min_trainees"))


def credit_rules(view: ParamView) -> fraud.CreditRules:
    return fraud.CreditRules(view.get("credit.points_confirmed"), view.get("credit.points_open"),
                             view.get("credit.bands"))


async def scan(session: AsyncSession, runtime: Runtime, t: Touched, persons: Sequence[str]) -> int:
    """Load -> detect -> write for one batch; the number of signals the state shows."""
    contacts = t.rows.get("contacts", [])
    if contacts:
        await insert_many(session, trainee_contacts, contacts)
    judged = {(r["payload"]["issuer_code"], fraud.month_of(dt.date.fromisoformat(r["payload"]["issue_date"])))
              for r in t.rows.get("certs", []) if r["payload"].get("issuer_code")}
    if not (persons or contacts or judged):
        return 0
    view = (await paramstore.current(session, runtime)).at(nantong_today())
    limits = thresholds(view)
    certs, enrolments = await _person_state(session, persons)
    classes = await _classes(session, {c.class_id for c in certs if c.class_id} | {k for _, k in enrolments})
    volumes = await _volumes(session, judged, limits.history_months)
    found = fraud.detect(certs, classes, enrolments, volumes, judged, await _contacts(session, contacts), limits)
    return await _write(session, found, view.versions_of(THRESHOLD_KEYS) or ())


async def _person_state(session: AsyncSession, persons: Sequence[str]
                        ) -> tuple[list[fraud.Certificate], list[tuple[str, str]]]:
    if not persons:
        return [], []
    c, k = store.certificates, store.completions
    rows = (await session.execute(sa.select(c.c.certificate_id, c.c.person_key, c.c.payload).where(
        c.c.person_key.in_(sorted(persons))))).all()
    certs = [fraud.Certificate(str(cid), pk, p.get("issuer_code") or "", dt.date.fromisoformat(p["issue_date"]),
                               p.get("class_id")) for cid, pk, p in rows]
    done = (await session.execute(sa.select(k.c.person_key, k.c.class_id).distinct().where(
        k.c.person_key.in_(sorted(persons))))).all()
    enrolments = {(pk, str(cl)) for pk, cl in done} | {(x.person_key, x.class_id) for x in certs if x.class_id}
    return certs, sorted(enrolments)


async def _classes(session: AsyncSession, ids: set[str]) -> dict[str, fraud.TrainingClass]:
    if not ids:
        return {}
    tc = store.training_classes
    rows = (await session.execute(sa.select(tc.c.class_id, tc.c.payload).where(
        tc.c.class_id.in_(sorted(uuid.UUID(i) for i in ids))))).all()
    return {str(cid): fraud.TrainingClass(str(cid), p["institution_id"], dt.date.fromisoformat(p["start_date"]),
                                          dt.date.fromisoformat(p["end_date"])) for cid, p in rows}


VOLUMES_SQL = """
SELECT payload->>'issuer_code', date_trunc('month', (payload->>'issue_date')::date)::date, count(*)
FROM certificates
WHERE payload->>'issuer_code' = ANY(:codes) AND (payload->>'issue_date')::date >= :since
  AND (payload->>'issue_date')::date < :until
GROUP BY 1, 2
"""


async def _volumes(session: AsyncSession, judged: set[tuple[str, dt.date]], history: int
                   ) -> dict[tuple[str, dt.date], int]:
    if not judged:
        return {}
    first = min(m for _, m in judged)
    last = max(m for _, m in judged)
    since = fraud.months_before(first, history)[0] if history else first
    until = (last + dt.timedelta(days=32)).replace(day=1)
    rows = await session.execute(sa.text(VOLUMES_SQL), {
        "codes": sorted({i for i, _ in judged}), "since": since, "until": until})
    return {(code, month): int(n) for code, month, n in rows}


async def _contacts(session: AsyncSession, new: list[dict[str, Any]]) -> list[fraud.Contact]:
    if not new:
        return []
    tc = trainee_contacts
    keys = sorted({(r["contact_kind"], r["digest"]) for r in new})
    rows = (await session.execute(sa.select(tc.c.person_key, tc.c.institution_code, tc.c.contact_kind, tc.c.digest)
                                  .where(sa.tuple_(tc.c.contact_kind, tc.c.digest).in_(keys)))).all()
    return [fraud.Contact(*r) for r in rows]


async def _write(session: AsyncSession, found: list[fraud.Signal], versions: Any) -> int:
    if not found:
        return 0
    rows = [{"signal_id": uuid.uuid5(uuid.NAMESPACE_URL, f"skillsub:fraud-signal:{s.subject}"), "kind": s.kind,
             "subject": s.subject, "institution_code": s.institution_code, "person_key": s.person_key,
             "evidence": dict(s.evidence), "parameter_versions": dict(versions)} for s in found]
    stmt = insert(fraud_signals).values(rows)
    # A pattern seen again keeps its signal; while open, its evidence follows the newest state (a
    # fourth trainee on a shared phone), and a reviewer's resolution is never reopened.
    stmt = stmt.on_conflict_do_update(index_elements=["subject"], set_={"evidence": stmt.excluded.evidence},
                                      where=fraud_signals.c.status == "open")
    await session.execute(stmt)
    return len(rows)
