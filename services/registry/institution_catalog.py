"""The catalogue of training and evaluation institutions (培训和评价机构目录, 九, 十七): the bureau's
dated entries (institution, occupations and levels, listed from/to, credit rating), uploaded as
JSON and published only once a second bureau officer approves (shared/approvals.py, through the
Catalog's approval route). Versions are never edited: a version label loaded twice is a 409.
An entry decides the days it covers; where two entries of one institution cover a day, the later
published decides; an entry listing no occupation takes the institution off for its days.
Public read: `GET /v1/catalog/institutions`."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.store import institution_listings
from shared.events import InstitutionCatalogEntryPublishedV1, ListedOccupation, derived_event_id, new_envelope
from shared.ids import InvalidCreditCode, check_credit_code
from shared.problems import Problem

if TYPE_CHECKING:
    from shared.app import Runtime

PRODUCER = "registry"
OccupationCode = Annotated[str, Field(pattern=r"^\d-\d{2}-\d{2}-\d{2}$", examples=["6-18-01-01"])]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListedOccupationIn(_Strict):
    occupation_code: OccupationCode
    edition: Literal["2015", "2022"] = "2015"
    levels: list[Annotated[int, Field(ge=1, le=5)]] = Field(default_factory=list, max_length=5,
                                                             description="empty: every level")


class InstitutionEntryIn(_Strict):
    institution_code: str = Field(min_length=18, max_length=18, description="GB 32100 credit code")
    occupations: list[ListedOccupationIn] = Field(max_length=500, description="empty: taken off for these days")
    valid_from: dt.date
    valid_to: dt.date | None = None
    credit_rating: Literal["A", "B", "C", "D"] | None = Field(default=None, description="信用等级 (十七)")

    @field_validator("institution_code")
    @classmethod
    def _code(cls, v: str) -> str:
        try:
            return check_credit_code(v).code  # a pilot code failing its check character is genuine
        except InvalidCreditCode as exc:
            raise ValueError(f"invalid credit code: {exc.reason}") from None

    @model_validator(mode="after")
    def _days(self) -> InstitutionEntryIn:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class InstitutionCatalogUpload(_Strict):
    listing_version: str = Field(min_length=1, max_length=64)
    entries: list[InstitutionEntryIn] = Field(min_length=1, max_length=5000)


async def publish(session: AsyncSession, runtime: Runtime, upload: InstitutionCatalogUpload) -> int:
    """Store the version's entries and emit one event per entry."""
    t = institution_listings
    if await session.scalar(sa.select(sa.func.count()).select_from(t).where(
            t.c.listing_version == upload.listing_version)):
        raise Problem(409, "Listing version already loaded", f"institution catalogue {upload.listing_version} "
                      "exists; publish a new version", field="listing_version")
    codes = [e.institution_code for e in upload.entries]
    if len(set(codes)) != len(codes):
        raise Problem(422, "Institution listed twice", "one entry per institution in a version",
                      field="entries.institution_code")
    now = dt.datetime.now(dt.UTC)
    payloads = [InstitutionCatalogEntryPublishedV1(
        listing_version=upload.listing_version, institution_code=e.institution_code,
        occupations=[ListedOccupation(code=o.occupation_code, edition=o.edition, levels=sorted(set(o.levels)))
                     for o in e.occupations], valid_from=e.valid_from, valid_to=e.valid_to,
        credit_rating=e.credit_rating, published_at=now) for e in upload.entries]
    await session.execute(sa.insert(t), [{
        "listing_version": p.listing_version, "institution_code": p.institution_code,
        "occupations": [o.model_dump() for o in p.occupations], "valid_from": p.valid_from,
        "valid_to": p.valid_to, "credit_rating": p.credit_rating, "published_at": now} for p in payloads])
    await runtime.emit(session, [new_envelope(p, key="catalog", producer=PRODUCER, event_id=derived_event_id(
        "institution-listing", p.listing_version, p.institution_code)) for p in payloads])
    return len(payloads)


async def entries(session: AsyncSession, institution_code: str | None, on: dt.date | None) -> list[dict[str, Any]]:
    """Published entries, latest first; `on`: only those whose days cover that day."""
    t = institution_listings
    q = sa.select(t).order_by(t.c.institution_code, t.c.published_at.desc(), t.c.listing_version)
    if institution_code:
        q = q.where(t.c.institution_code == institution_code)
    if on is not None:
        q = q.where(t.c.valid_from <= on, sa.or_(t.c.valid_to.is_(None), t.c.valid_to >= on))
    return [dict(r) for r in (await session.execute(q)).mappings()]
