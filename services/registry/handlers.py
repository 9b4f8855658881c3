"""Registry write paths: store the fact of record and stage its events in the same transaction.
Handlers never commit: the route does, once."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.domain import PRODUCER
from services.registry.fact_contract import relative_resident_id, stored_attributes
from services.registry.store import catalog_standards, certificates, facts, people
from shared.events import (
    CatalogStandardPublishedV2,
    CertificateRevokedV1,
    PersonFactRecordedV1,
    PersonRegisteredV1,
    derived_event_id,
    new_envelope,
)
from shared.ids import mask_resident_id, parse_resident_id
from shared.pii import decrypt_pii, encrypt_pii, lookup_hash
from shared.problems import Problem

if TYPE_CHECKING:
    from services.registry.schemas import FactCreate
    from shared.app import Runtime



@dataclass(frozen=True)
class Recorded:
    read: dict[str, Any]
    created: bool


def content_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def person_key_for(runtime: Runtime, resident_id: str) -> str:
    return lookup_hash(runtime.state["pii_key"], resident_id)


async def ensure_person(session: AsyncSession, runtime: Runtime, resident_id: str,
                        district: str | None) -> str:
    """Register the person on first sight (emits `registry.person.registered`); return the key."""
    key = person_key_for(runtime, resident_id)
    rid = parse_resident_id(resident_id)
    stmt = insert(people).values(
        person_key=key, resident_id_cipher=encrypt_pii(runtime.state["pii_key"], resident_id),
        birth_date=rid.birth_date, sex=rid.sex, district=district,
    ).on_conflict_do_nothing().returning(people.c.person_key)
    if (await session.execute(stmt)).first() is not None:
        payload = PersonRegisteredV1(person_key=key, district=district, birth_date=rid.birth_date, sex=rid.sex)
        await runtime.emit(session, [new_envelope(payload, key=key, producer=PRODUCER,
                                                  event_id=derived_event_id("person", key))])
    return key


async def certificate_read(session: AsyncSession, cert_id: uuid.UUID, runtime: Runtime) -> dict[str, Any] | None:
    """The certificate with the clear resident ID: the route decides what the caller sees (PIPL)."""
    row = (await session.execute(
        sa.select(certificates, people.c.resident_id_cipher)
        .join(people, people.c.person_key == certificates.c.person_key)
        .where(certificates.c.certificate_id == cert_id))).mappings().first()
    if row is None:
        return None
    resident_id = decrypt_pii(runtime.state["pii_key"], row["resident_id_cipher"])
    return {k: row[k] for k in ("certificate_id", "number", "kind", "person_key", "occupation_code",
                                "level", "issue_date", "issued_in_nantong", "revoked_on", "issuer_code",
                                "received_on", "operation_category", "operation_item", "project_type")} | {
        "resident_id_masked": mask_resident_id(resident_id), "resident_id": resident_id}


async def revoke_certificate(session: AsyncSession, runtime: Runtime, cert_id: uuid.UUID,
                             revoked_on: date, reason: str) -> dict[str, Any]:
    """Mark revoked once and emit `registry.certificate.revoked`; revoking again changes nothing."""
    row = (await session.execute(sa.select(certificates.c.person_key, certificates.c.revoked_on)
                                 .where(certificates.c.certificate_id == cert_id).with_for_update())).first()
    if row is None:
        raise Problem(404, "Certificate not found", f"no certificate {cert_id}")
    if row.revoked_on is None:
        await session.execute(sa.update(certificates).where(certificates.c.certificate_id == cert_id)
                              .values(revoked_on=revoked_on, revoke_reason=reason))
        payload = CertificateRevokedV1(certificate_id=cert_id, person_key=row.person_key,
                                       revoked_on=revoked_on, reason=reason)
        await runtime.emit(session, [new_envelope(payload, key=row.person_key, producer=PRODUCER,
                                                  event_id=derived_event_id("certificate-revoked", cert_id))])
    read = await certificate_read(session, cert_id, runtime)
    assert read is not None
    return read


async def record_fact(session: AsyncSession, runtime: Runtime, body: FactCreate) -> tuple[dict[str, Any], bool]:
    """Store a dated fact once (its id derives from its content) and emit it. A family link's
    relative is registered too and named by person key (十三.4), never by resident ID."""
    key = await ensure_person(session, runtime, body.resident_id, None)
    relative = relative_resident_id(body.kind, body.attributes)
    relative_key = await ensure_person(session, runtime, relative, None) if relative else None
    fields = body.model_dump(exclude={"resident_id"}) | {
        "person_key": key, "attributes": stored_attributes(body.kind, body.attributes, relative_key)}
    digest = content_hash(fields)
    fact_id = uuid.uuid5(uuid.NAMESPACE_URL, f"skillsub:fact:{digest}")
    stmt = insert(facts).values(fact_id=fact_id, content_hash=digest, **fields).on_conflict_do_nothing()
    created = (await session.execute(stmt.returning(facts.c.fact_id))).first() is not None
    if created:
        payload = PersonFactRecordedV1(fact_id=fact_id, **fields)
        await runtime.emit(session, [new_envelope(payload, key=key, producer=PRODUCER,
                                                  event_id=derived_event_id("fact", fact_id))])
    read = {"fact_id": fact_id, "person_key": key, "kind": body.kind,
            "valid_from": body.valid_from, "valid_to": body.valid_to}
    return read, created


async def publish_catalog(session: AsyncSession, runtime: Runtime, version: str,
                          rows: list[dict[str, Any]]) -> int:
    """Store a Catalog version; a version already loaded is refused (versions are never edited)."""
    exists = await session.scalar(sa.select(sa.func.count()).select_from(catalog_standards)
                                  .where(catalog_standards.c.catalog_version == version))
    if exists:
        raise Problem(409, "Catalog version already loaded",
                      f"version {version} exists; publish a new version instead", field="catalog_version")
    published_at = datetime.now(UTC)  # where versions overlap, the latest published wins (eligibility)
    await session.execute(sa.insert(catalog_standards).values(
        [{"catalog_version": version, "loaded_at": published_at, **r} for r in rows]))
    envelopes = [new_envelope(CatalogStandardPublishedV2(catalog_version=version, published_at=published_at, **r),
                              key="catalog",
                              producer=PRODUCER,
                              event_id=derived_event_id("catalog", version, r["occupation_code"],
                                                        r.get("occupation_edition"), r.get("level"), r.get("kind")))
                 for r in rows]
    await runtime.emit(session, envelopes)
    return len(rows)


async def list_standards(session: AsyncSession, occupation_code: str | None,
                         on: date | None) -> list[dict[str, Any]]:
    """Catalog lines; with `on`, the one line in force per occupation, edition, level and kind:
    where versions overlap, the latest published wins (the reading eligibility applies)."""
    c = catalog_standards.c
    q = sa.select(catalog_standards)
    if occupation_code:
        q = q.where(c.occupation_code == occupation_code)
    if on:
        q = q.where(c.valid_from <= on, sa.or_(c.valid_to.is_(None), c.valid_to >= on)).distinct(
            c.occupation_code, c.occupation_edition, c.level, c.kind).order_by(
            c.occupation_code, c.occupation_edition, c.level, c.kind, c.loaded_at.desc())
    else:
        q = q.order_by(c.occupation_code, c.level, c.loaded_at)
    rows = (await session.execute(q)).mappings().all()
    return sorted(({k: v for k, v in r.items() if k != "loaded_at"} | {"published_at": r["loaded_at"]}
                   for r in rows), key=lambda r: (r["occupation_code"], r["level"] or 0))
