"""Registry REST API: certificates, people's facts, the Catalog. Routes are thin: validate at
the edge, call store/handlers, commit once, wake the outbox relay."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.registry import handlers
from services.registry.domain import CertificateKind, InvalidCertificate, check_certificate
from shared.app import RuntimeDep, SessionDep
from shared.ids import InvalidResidentId, parse_resident_id
from shared.problems import Problem

router = APIRouter(prefix="/v1", tags=["registry"])

OccupationCode = Annotated[str, Field(pattern=r"^\d-\d{2}-\d{2}-\d{2}$", examples=["6-18-01-01"])]


class CertificateCreate(BaseModel):
    """A certificate pushed by the institution or evaluation body that issued it."""

    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=4, max_length=64)
    kind: CertificateKind
    resident_id: str = Field(min_length=18, max_length=18, description="GB 11643 resident ID")
    occupation_code: OccupationCode | None = None
    occupation_edition: Literal["2015", "2022"] = "2015"
    level: int | None = Field(default=None, ge=1, le=5)
    issue_date: date
    issuer_code: str = Field(min_length=18, max_length=18, description="GB 32100 credit code")
    issued_in_nantong: bool = True
    district: str | None = Field(default=None, max_length=16)
    class_id: uuid.UUID | None = None
    training_kind: str | None = Field(default=None, max_length=32)
    training_start_date: date | None = None

    @field_validator("resident_id")
    @classmethod
    def _resident_id(cls, value: str) -> str:
        try:
            return parse_resident_id(value).number
        except InvalidResidentId as exc:
            raise ValueError(f"invalid resident ID: {exc.reason}") from None


class CertificateRead(BaseModel):
    certificate_id: uuid.UUID
    number: str
    kind: str
    person_key: str
    resident_id_masked: str
    occupation_code: str | None
    level: int | None
    issue_date: date
    issued_in_nantong: bool
    revoked_on: date | None = None
    warnings: list[str] = Field(default_factory=list)


class RevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revoked_on: date
    reason: str = Field(min_length=2, max_length=500)


class FactCreate(BaseModel):
    """A dated fact from a government feeder. Never overwrites: a later record supersedes by date."""

    model_config = ConfigDict(extra="forbid")

    resident_id: str = Field(min_length=18, max_length=18)
    kind: str = Field(min_length=2, max_length=64)
    valid_from: date
    valid_to: date | None = None
    source: str = Field(min_length=2, max_length=64)
    attributes: dict[str, str | int | bool | None] = Field(default_factory=dict)

    _check_id = field_validator("resident_id")(CertificateCreate._resident_id.__func__)  # type: ignore[attr-defined]


class FactRead(BaseModel):
    fact_id: uuid.UUID
    person_key: str
    kind: str
    valid_from: date
    valid_to: date | None


class StandardRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    occupation_code: OccupationCode
    occupation_edition: Literal["2015", "2022"] = "2015"
    occupation_name: str = Field(min_length=1, max_length=100)
    level: int | None = Field(default=None, ge=1, le=5)
    kind: CertificateKind | None = None
    training_fen: int = Field(ge=0)
    appraisal_fen: int = Field(ge=0)
    valid_from: date
    valid_to: date | None = None


class CatalogVersionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    catalog_version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    standards: list[StandardRow] = Field(min_length=1, max_length=20000)


@router.post("/certificates", status_code=201, response_model=CertificateRead,
             responses={200: {"description": "Already recorded with the same content"},
                        409: {"description": "Same number, different content"},
                        422: {"description": "Invalid certificate"}})
async def push_certificate(body: CertificateCreate, response: Response, session: SessionDep,
                           runtime: RuntimeDep) -> CertificateRead:
    """Record a certificate and emit `registry.certificate.issued`. Pushing it again is harmless."""
    try:
        check = check_certificate(body.kind, body.number, body.level)
    except InvalidCertificate as exc:
        raise Problem(422, "Invalid certificate", exc.reason, field=exc.field) from None
    result = await handlers.record_certificate(session, runtime, body)
    await session.commit()
    runtime.wake_relay()
    if not result.created:
        response.status_code = 200
    warnings = [check.warning] if check.warning else []
    return CertificateRead(**result.read, warnings=warnings)


@router.get("/certificates/{certificate_id}", response_model=CertificateRead)
async def get_certificate(certificate_id: uuid.UUID, session: SessionDep) -> CertificateRead:
    read = await handlers.certificate_read(session, certificate_id)
    if read is None:
        raise Problem(404, "Certificate not found", f"no certificate {certificate_id}")
    return CertificateRead(**read)


@router.post("/certificates/{certificate_id}/revocations", response_model=CertificateRead)
async def revoke_certificate(certificate_id: uuid.UUID, body: RevokeRequest, session: SessionDep,
                             runtime: RuntimeDep) -> CertificateRead:
    """Revoke a certificate (a new event, never a deletion); downstream reverses its subsidies."""
    read = await handlers.revoke_certificate(session, runtime, certificate_id, body.revoked_on, body.reason)
    await session.commit()
    runtime.wake_relay()
    return CertificateRead(**read)


@router.post("/facts", status_code=201, response_model=FactRead)
async def record_fact(body: FactCreate, response: Response, session: SessionDep,
                      runtime: RuntimeDep) -> FactRead:
    """Record a dated fact about a person from a government feeder; emits `registry.person.fact_recorded`."""
    read, created = await handlers.record_fact(session, runtime, body)
    await session.commit()
    runtime.wake_relay()
    if not created:
        response.status_code = 200
    return FactRead(**read)


@router.post("/catalog/versions", status_code=201)
async def publish_catalog_version(body: CatalogVersionCreate, session: SessionDep,
                                  runtime: RuntimeDep) -> dict[str, object]:
    """Load a new Catalog version (never edits an old one) and publish its rows."""
    count = await handlers.publish_catalog(session, runtime, body.catalog_version,
                                           [row.model_dump() for row in body.standards])
    await session.commit()
    runtime.wake_relay()
    return {"catalog_version": body.catalog_version, "rows": count}


@router.get("/catalog/standards")
async def list_standards(session: SessionDep, occupation_code: str | None = None,
                         on: date | None = None) -> list[dict[str, object]]:
    """Public: the Catalog's standards (fen), optionally for one occupation and date."""
    return await handlers.list_standards(session, occupation_code, on)
