"""Registry REST API: certificates, facts and people. Routes are thin: authenticate, check the
caller may do it (domain.can_write / can_read), call handlers, commit once, wake the relay."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from services.registry import handlers, people
from services.registry.access import ensure_read, ensure_write
from services.registry.domain import (
    Action,
    CertificateKind,
    InvalidCertificate,
    Resource,
    ResourceKind,
    check_certificate,
    check_certificate_identity,
)
from services.registry.fact_contract import attribute_problems
from services.registry.schemas import (
    CertificateCreate,
    CertificateRead,
    FactCreate,
    FactRead,
    PersonCreate,
    RevokeRequest,
)
from services.registry.store import certificates
from shared.app import RuntimeDep, SessionDep
from shared.auth import PrincipalDep
from shared.ids import mask_resident_id
from shared.problems import Problem

router = APIRouter(prefix="/v1", tags=["registry"])
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {401: {"description": "No valid token"},
                                                403: {"description": "Not allowed for this caller"}}


@router.post("/certificates", status_code=201, response_model=CertificateRead,
             responses={**AUTH_ERRORS, 200: {"description": "Already recorded with the same content"},
                        409: {"description": "Same number, different content"},
                        422: {"description": "Invalid certificate"}})
async def push_certificate(body: CertificateCreate, response: Response, session: SessionDep,
                           runtime: RuntimeDep, principal: PrincipalDep) -> CertificateRead:
    """Record a certificate (institutions: only their own) and emit `registry.certificate.issued`."""
    ensure_write(principal, Action.CREATE,
                 Resource(ResourceKind.CERTIFICATE, institution_id=body.issuer_code), field="issuer_code")
    try:
        check = check_certificate(CertificateKind(body.kind), body.number, body.level)
        check_certificate_identity(CertificateKind(body.kind), body.operation_category, body.operation_item,
                                   body.project_type)
    except InvalidCertificate as exc:
        raise Problem(422, "Invalid certificate", exc.reason, field=exc.field) from None
    result = await handlers.record_certificate(session, runtime, body)
    await session.commit()
    runtime.wake_relay()
    if not result.created:
        response.status_code = 200
    warnings = [check.warning] if check.warning else []
    return _shown(result.read, principal.may_see_ids, warnings)


def _shown(read: dict[str, Any], reveal: bool, warnings: list[str] | None = None) -> CertificateRead:
    return CertificateRead(**(read | {"resident_id": read["resident_id"] if reveal else None}),
                           warnings=warnings or [])


@router.get("/certificates/{certificate_id}", response_model=CertificateRead, responses=AUTH_ERRORS)
async def get_certificate(certificate_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep,
                          principal: PrincipalDep) -> CertificateRead:
    read = await handlers.certificate_read(session, certificate_id, runtime)
    if read is None:
        raise Problem(404, "Certificate not found", f"no certificate {certificate_id}")
    person = await people.person_row(session, read["person_key"])
    ensure_read(principal, Resource(ResourceKind.CERTIFICATE, institution_id=read["issuer_code"],
                                    district=person["district"] if person else None))
    return _shown(read, principal.may_see_ids)


@router.post("/certificates/{certificate_id}/revocations", response_model=CertificateRead,
             responses=AUTH_ERRORS)
async def revoke_certificate(certificate_id: uuid.UUID, body: RevokeRequest, session: SessionDep,
                             runtime: RuntimeDep, principal: PrincipalDep) -> CertificateRead:
    """Revoke (a new event, never a deletion): the issuer, or the bureau (十四)."""
    issuer = await session.scalar(certificates.select().with_only_columns(certificates.c.issuer_code)
                                  .where(certificates.c.certificate_id == certificate_id))
    if issuer is None:
        raise Problem(404, "Certificate not found", f"no certificate {certificate_id}")
    ensure_write(principal, Action.REVOKE, Resource(ResourceKind.CERTIFICATE, institution_id=issuer))
    read = await handlers.revoke_certificate(session, runtime, certificate_id, body.revoked_on, body.reason)
    await session.commit()
    runtime.wake_relay()
    return _shown(read, principal.may_see_ids)


@router.post("/facts", status_code=201, response_model=FactRead, responses=AUTH_ERRORS)
async def record_fact(body: FactCreate, response: Response, session: SessionDep,
                      runtime: RuntimeDep, principal: PrincipalDep) -> FactRead:
    """Record a dated fact (each feeder only its own kinds); emits `registry.person.fact_recorded`."""
    problems = attribute_problems(body.kind, body.attributes)
    if problems:
        raise Problem(422, "Invalid fact attributes", problems[0][1], field=problems[0][0])
    ensure_write(principal, Action.CREATE, Resource(ResourceKind.FACT, fact_kind=body.kind), field="kind")
    if body.source not in (None, principal.feeder):
        raise Problem(403, "Forbidden", "source must be the caller's own feeder", field="source")
    read, created = await handlers.record_fact(session, runtime, body.model_copy(update={"source": principal.feeder}))
    await session.commit()
    runtime.wake_relay()
    if not created:
        response.status_code = 200
    return FactRead(**read)


@router.post("/people", status_code=200, responses=AUTH_ERRORS)
async def register_person(body: PersonCreate, session: SessionDep, runtime: RuntimeDep,
                          principal: PrincipalDep) -> dict[str, Any]:
    """Register a person (实名制); district staff only in their own district. The answer is the same
    whether or not the person was already registered: it must not tell a caller who is on the register."""
    ensure_write(principal, Action.CREATE, Resource(ResourceKind.PERSON, district=body.district), field="district")
    key = handlers.person_key_for(runtime, body.resident_id)
    await people.register_people(session, runtime, [people.NewPerson(body.resident_id, body.district)])
    await session.commit()
    runtime.wake_relay()
    return {"person_key": key, "resident_id_masked": mask_resident_id(body.resident_id)}


@router.get("/people/{person_key}", responses={**AUTH_ERRORS, 404: {"description": "Unknown person"}})
async def get_person(person_key: str, session: SessionDep, runtime: RuntimeDep,
                     principal: PrincipalDep) -> dict[str, Any]:
    """The person's electronic training record (培训电子档案, 十): certificates, classes, credit hours."""
    row = await people.person_row(session, person_key)
    if row is None:
        raise Problem(404, "Person not found", "no person with this key")
    owner = principal.institution_id if principal.institution_id in await people.institutions_of(
        session, person_key) else None
    ensure_read(principal, Resource(ResourceKind.PERSON, district=row["district"], institution_id=owner))
    resident_id = people.resident_id_of(runtime, row)
    record = await people.training_record(session, runtime, person_key)
    # Without the ID grant, no birth date beside the masked ID: with the district and the last four
    # characters it would leave a handful of candidate IDs (PIPL: masks that cannot be rebuilt).
    return {"person_key": person_key, "resident_id_masked": mask_resident_id(resident_id),
            "resident_id": resident_id if principal.may_see_ids else None,
            "birth_date": row["birth_date"] if principal.may_see_ids else None, "sex": row["sex"],
            "district": row["district"]} | record
