"""Project-based training plans (项目制培训, 十三.5): the bureau approves an institution's plan for
one of its classes: planned headcount, occupation and level, the standard per trainee and year,
and the number of years. Payments drafts the advance from the plan and settles it from the
decisions for the class's completers, so nobody types an amount or a payee for either.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.domain import TrainingClassKind
from services.registry.handlers import PRODUCER, content_hash
from services.registry.store import institutions
from services.registry.store_payees import training_plans
from services.registry.training import get_class
from shared.events import TrainingPlanRecordedV1, derived_event_id, new_envelope
from shared.problems import Problem

if TYPE_CHECKING:
    from shared.app import Runtime

PLAN_FIELDS = ("plan_code", "clause", "planned_headcount", "standard_per_head_fen", "years",
               "occupation_code", "occupation_edition", "level")


def plan_id_for(institution_id: str, plan_code: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"skillsub:training-plan:{institution_id}:{plan_code}")


async def plan_values(session: AsyncSession, body: dict[str, Any]) -> dict[str, Any]:
    """The plan as stored: its class, that class's institution (listed), dates and district."""
    cls = await get_class(session, body["class_id"])
    if cls is None:
        raise Problem(422, "Unknown class", f"no class {body['class_id']}", field="class_id")
    inst = (await session.execute(sa.select(institutions).where(
        institutions.c.credit_code == cls["institution_id"]))).mappings().first()
    if inst is None:
        raise Problem(422, "Institution not listed", f"the class's institution {cls['institution_id']} is not "
                      "in the catalog of institutions (十七)", field="class_id")
    values = {k: body.get(k) for k in PLAN_FIELDS}
    values["occupation_code"] = values["occupation_code"] or cls["occupation_code"]
    values["occupation_edition"] = values["occupation_edition"] or cls["occupation_edition"]
    values["level"] = values["level"] or cls["level"]
    # The plan pays whom eligibility pays for the class's completers (services/eligibility/payees.py),
    # so the settlement can net their decisions against the advance: the enterprise the class names
    # (an order class, an apprenticeship, 以工代训) unless the training is project-based, else the
    # class's institution.
    enterprise = cls.get("enterprise_code") if cls["kind"] != TrainingClassKind.PROJECT_BASED else None
    return values | {
        "plan_id": plan_id_for(cls["institution_id"], body["plan_code"]),
        "institution_id": enterprise or cls["institution_id"],
        "payee_kind": "enterprise" if enterprise or inst["kind"] == "enterprise" else "institution",
        "class_id": cls["class_id"], "district": cls["district"] or inst["district"],
        "start_date": cls["start_date"], "end_date": cls["end_date"]}


async def record_plan(session: AsyncSession, runtime: Runtime, body: dict[str, Any],
                      actor: str) -> tuple[dict[str, Any], bool]:
    """Insert, or a new revision when the content changed; stage the event. (read, changed)."""
    values = await plan_values(session, body)
    digest = content_hash(values)
    t = training_plans
    old = (await session.execute(sa.select(t).where(t.c.plan_id == values["plan_id"]).with_for_update())
           ).mappings().first()
    if old is not None and old["content_hash"] == digest:
        return _read(old), False
    other = await session.scalar(sa.select(t.c.plan_id).where(t.c.class_id == values["class_id"],
                                                               t.c.plan_id != values["plan_id"]))
    if other is not None:
        raise Problem(409, "Class already has a plan", f"class {values['class_id']} is planned by {other}",
                      field="class_id")
    row = values | {"revision": (old["revision"] + 1) if old else 1, "content_hash": digest, "recorded_by": actor}
    if old is None:
        await session.execute(sa.insert(t).values(**row))
    else:
        await session.execute(sa.update(t).where(t.c.plan_id == row["plan_id"]).values(**row, updated_at=sa.func.now()))
    payload = TrainingPlanRecordedV1(**{k: row[k] for k in TrainingPlanRecordedV1.model_fields})
    await runtime.emit(session, [new_envelope(payload, key=str(row["plan_id"]), producer=PRODUCER,
                                              event_id=derived_event_id("training-plan", row["plan_id"],
                                                                        row["revision"]))])
    return _read(row), True


def _read(row: Any) -> dict[str, Any]:
    return {k: row[k] for k in TrainingPlanRecordedV1.model_fields}


async def list_plans(session: AsyncSession, institution_id: str | None) -> list[dict[str, Any]]:
    t = training_plans
    q = sa.select(t).order_by(t.c.start_date, t.c.plan_code)
    if institution_id:
        q = q.where(t.c.institution_id == institution_id)
    return [_read(r) for r in (await session.execute(q)).mappings()]


async def get_plan(session: AsyncSession, plan_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await session.execute(sa.select(training_plans).where(training_plans.c.plan_id == plan_id))
           ).mappings().first()
    return _read(row) if row else None
