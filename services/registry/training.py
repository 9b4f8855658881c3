"""Institutions (九, 十七), training classes and completions: store the record and stage its event
in the caller's transaction. Handlers never commit. A repeat with equal content changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.domain import TrainingClassKind
from services.registry.handlers import PRODUCER, content_hash
from services.registry.record import ClassHours, DatedRatio, credit_hours
from services.registry.store import completions, institutions, training_classes
from shared.events import (
    ApprenticeshipYearCompletedV1,
    ClassCompletedV2,
    InstitutionRecordedV1,
    OrderClassCompletedV1,
    Payload,
    TrainingClassRecordedV2,
    WorkBasedTrainingMonthsRecordedV1,
    derived_event_id,
    new_envelope,
)
from shared.ids import InvalidCreditCode, check_credit_code
from shared.places import UnknownPlace, unit_on
from shared.problems import Problem

if TYPE_CHECKING:
    from shared.app import Runtime


def credit_code_warning(code: str, field: str = "credit_code") -> str | None:
    """GB 32100: a malformed code is 422; a check-character mismatch only warns (pilot codes)."""
    try:
        return check_credit_code(code).warning
    except InvalidCreditCode as exc:
        raise Problem(422, "Invalid credit code", str(exc), field=field) from None


def check_district(district: str, on: date, field: str = "district") -> None:
    """The county-level unit must exist on the date (places are dated: the 2020-07 merges)."""
    try:
        valid = unit_on(district, on) is not None
    except UnknownPlace:
        valid = False
    if not valid:
        raise Problem(422, "Unknown district", f"{district} is not a Nantong unit on {on}", field=field)


async def _upsert(session: AsyncSession, table: sa.Table, key: str, values: dict[str, Any]) -> bool:
    """Insert, or replace when the content differs; True when something changed."""
    digest = content_hash(values)
    stmt = insert(table).values(**values, content_hash=digest)
    stmt = stmt.on_conflict_do_update(
        index_elements=[key], set_={**{k: stmt.excluded[k] for k in values if k != key},
                                    "content_hash": digest, "updated_at": sa.func.now()},
        where=table.c.content_hash != digest)
    return (await session.execute(stmt.returning(table.c[key]))).first() is not None


async def record_institution(session: AsyncSession, runtime: Runtime,
                             values: dict[str, Any]) -> tuple[bool, str | None]:
    warning = credit_code_warning(values["credit_code"])
    check_district(values["district"], values["listed_from"])
    values = values | {"credit_code_warning": warning}
    changed = await _upsert(session, institutions, "credit_code", values)
    if changed:
        payload = InstitutionRecordedV1(**values)
        await runtime.emit(session, [new_envelope(payload, key=values["credit_code"], producer=PRODUCER,
                                                  event_id=derived_event_id("institution", content_hash(values)))])
    return changed, warning


def class_id_for(institution_id: str, class_code: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"skillsub:class:{institution_id}:{class_code}")


async def record_class(session: AsyncSession, runtime: Runtime, values: dict[str, Any]) -> tuple[uuid.UUID, bool]:
    class_id = class_id_for(values["institution_id"], values["class_code"])
    if values.get("district"):
        check_district(values["district"], values["start_date"])
    _check_enterprise(values)
    hours = required_hours(values, runtime.state["online_ratios"])
    values = {"class_id": class_id} | values | {"required_hours": hours}
    changed = await _upsert(session, training_classes, "class_id", values)
    if changed:
        payload = TrainingClassRecordedV2(**values)
        await runtime.emit(session, [new_envelope(payload, key=str(class_id), producer=PRODUCER,
                                                  event_id=derived_event_id("class", content_hash(values)))])
    return class_id, changed


def _check_enterprise(values: dict[str, Any]) -> None:
    """四.1 pays the enterprise that runs an order class, so the class must name it."""
    if values["kind"] == TrainingClassKind.ORDER_CLASS and not values.get("enterprise_code"):
        raise Problem(422, "Order class without its enterprise", "an order class (订单班) names the enterprise "
                      "that runs it; 四.1 pays that enterprise, not the college", field="enterprise_code")
    if values.get("enterprise_code"):
        credit_code_warning(values["enterprise_code"], field="enterprise_code")


def required_hours(values: dict[str, Any], ratios: Sequence[DatedRatio]) -> Decimal:
    """规定课时: as stated, else the class's credit hours (classroom + online × ratio on the end day)."""
    if values.get("required_hours") is not None:
        return Decimal(values["required_hours"])
    return credit_hours([ClassHours(values["end_date"], values["hours"], values["online_hours"])], ratios)


def credited_hours(body: dict[str, Any], ratios: Sequence[DatedRatio]) -> Decimal | None:
    """The credit hours a trainee completed (五.2 "学完规定课时"); None when no hours were sent."""
    if body.get("hours") is None:
        return None
    return credit_hours([ClassHours(body["completed_on"], body["hours"], body.get("online_hours") or 0)], ratios)


async def get_class(session: AsyncSession, class_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await session.execute(sa.select(training_classes).where(training_classes.c.class_id == class_id))
           ).mappings().first()
    return dict(row) if row else None


def completion_payload(kind: str, cls: dict[str, Any], base: dict[str, Any], body: dict[str, Any],
                       ratios: Sequence[DatedRatio]) -> Payload:
    """The event for a completion, by kind; the class kind must fit (四.1, 四.7, 五.3)."""
    base = base | {"class_kind": cls["kind"]}
    if kind == "apprenticeship_year_completed":
        _class_kind_is(cls, TrainingClassKind.NEW_APPRENTICESHIP)
        return ApprenticeshipYearCompletedV1(**base, apprenticeship_year=_need(body, "apprenticeship_year"))
    if kind == "work_based_months":
        _class_kind_is(cls, TrainingClassKind.WORK_BASED)
        return WorkBasedTrainingMonthsRecordedV1(**base, months=_need(body, "months"))
    hours = {"hours": body.get("hours"), "online_hours": body.get("online_hours")}
    if kind == "order_class_completed":
        _class_kind_is(cls, TrainingClassKind.ORDER_CLASS)
        return OrderClassCompletedV1(**base, **hours)
    return ClassCompletedV2(**base, **hours, credited_hours=credited_hours(body, ratios))


def _class_kind_is(cls: dict[str, Any], kind: TrainingClassKind) -> None:
    if cls["kind"] != kind:
        raise Problem(422, "Completion does not fit the class", f"the class is {cls['kind']}, not {kind}",
                      field="kind")


def _need(body: dict[str, Any], name: str) -> Any:
    if body.get(name) is None:
        raise Problem(422, "Missing value", f"{name} is required for this completion", field=name)
    return body[name]


async def record_completion(session: AsyncSession, runtime: Runtime, person_key: str, cls: dict[str, Any],
                            body: dict[str, Any]) -> tuple[uuid.UUID, bool]:
    """Record once (id from its content); emits the event for its kind, keyed by the person."""
    ident = {k: body.get(k) for k in ("kind", "completed_on", "apprenticeship_year", "months")}
    completion_id = uuid.uuid5(uuid.NAMESPACE_URL, f"skillsub:completion:{person_key}:{cls['class_id']}:"
                                                   f"{content_hash(ident)}")
    base = {"completion_id": completion_id, "person_key": person_key, "class_id": cls["class_id"],
            "institution_id": cls["institution_id"], "completed_on": body["completed_on"]}
    payload = completion_payload(body["kind"], cls, base, body, runtime.state["online_ratios"])
    row = base | {k: body.get(k) for k in ("kind", "apprenticeship_year", "months", "hours", "online_hours")}
    stmt = insert(completions).values(**row).on_conflict_do_nothing().returning(completions.c.completion_id)
    created = (await session.execute(stmt)).first() is not None
    if created:
        await runtime.emit(session, [new_envelope(payload, key=person_key, producer=PRODUCER,
                                                  event_id=derived_event_id("completion", completion_id))])
    return completion_id, created


async def list_institutions(session: AsyncSession, on: date | None, district: str | None, *,
                            limit: int = 1000, offset: int = 0) -> list[dict[str, Any]]:
    q = sa.select(institutions).order_by(institutions.c.credit_code).limit(limit).offset(offset)
    if on:
        q = q.where(institutions.c.listed_from <= on,
                    sa.or_(institutions.c.listed_to.is_(None), institutions.c.listed_to >= on))
    if district:
        q = q.where(institutions.c.district == district)
    return [{k: v for k, v in r.items() if k not in ("content_hash", "updated_at")}
            for r in (await session.execute(q)).mappings()]


async def list_classes(session: AsyncSession, institution_id: str | None, on: date | None, *,
                       limit: int = 1000, offset: int = 0) -> list[dict[str, Any]]:
    q = (sa.select(training_classes).order_by(training_classes.c.start_date, training_classes.c.class_code,
                                              training_classes.c.class_id).limit(limit).offset(offset))
    if institution_id:
        q = q.where(training_classes.c.institution_id == institution_id)
    if on:
        q = q.where(training_classes.c.start_date <= on, training_classes.c.end_date >= on)
    return [{k: v for k, v in r.items() if k not in ("content_hash", "updated_at")}
            for r in (await session.execute(q)).mappings()]
