"""Catalog versions into the store and onto the bus: the EXAMPLE files at first start, and the
bureau's uploads later. Versions are never edited: loading a version label twice is a 409."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry import handlers
from services.registry.catalog import (
    EXAMPLE_DATA,
    CatalogVersion,
    HighSkillShortageList,
    Occupation,
    ShortageList,
    load_catalog,
    load_high_skill_shortage_list,
    load_shortage_list,
)
from services.registry.store import catalog_standards, shortage_lists
from shared.clock import nantong_today
from shared.events import OccupationRef, ShortageListPublishedV2, derived_event_id, new_envelope
from shared.problems import Problem

if TYPE_CHECKING:
    from shared.app import Runtime

MARKET, PROVINCIAL = "market", "provincial_high_skill"


def catalog_rows(version: CatalogVersion) -> list[dict[str, Any]]:
    return [{"occupation_code": r.occupation.code, "occupation_edition": str(r.occupation.edition),
             "occupation_name": r.name_zh, "level": r.level, "kind": None,
             "training_fen": r.training_fen, "appraisal_fen": r.appraisal_fen,
             "valid_from": r.valid_from, "valid_to": r.valid_to} for r in version.rows]


async def publish_catalog_version(session: AsyncSession, runtime: Runtime, version: CatalogVersion) -> int:
    return await handlers.publish_catalog(session, runtime, version.version, catalog_rows(version))


async def publish_list(session: AsyncSession, runtime: Runtime, list_version: str, kind: str,
                       year: int, occupations: list[Occupation]) -> None:
    """Store one (version, kind, year) list and emit `registry.catalog.shortage_list_published`.
    A later version of the same kind and year replaces it whole for eligibility (never a union)."""
    exists = await session.scalar(sa.select(sa.func.count()).select_from(shortage_lists).where(
        shortage_lists.c.list_version == list_version, shortage_lists.c.list_kind == kind,
        shortage_lists.c.year == year))
    if exists:
        raise Problem(409, "List version already loaded",
                      f"{kind} list {list_version} for {year} exists; publish a new version",
                      field="version")
    refs = [OccupationRef(code=o.code, edition=str(o.edition)) for o in sorted(set(occupations), key=_order)]
    published_at = datetime.now(UTC)
    await session.execute(sa.insert(shortage_lists).values(
        list_version=list_version, list_kind=kind, year=year, occupation_codes=sorted({o.code for o in refs}),
        occupations=[r.model_dump() for r in refs], loaded_at=published_at))
    payload = ShortageListPublishedV2(list_version=list_version, list_kind=kind, year=year, occupations=refs,
                                      published_at=published_at)
    await runtime.emit(session, [new_envelope(payload, key="catalog", producer=handlers.PRODUCER,
                                              event_id=derived_event_id("list", list_version, kind, year))])


def _order(o: Occupation) -> tuple[str, int]:
    return o.code, o.edition


async def publish_shortage_list(session: AsyncSession, runtime: Runtime, sl: ShortageList) -> None:
    await publish_list(session, runtime, sl.version, MARKET, sl.year, list(sl.names))


def provincial_by_year(hl: HighSkillShortageList, last_year: int) -> dict[int, list[Occupation]]:
    """Eligibility reads the provincial list per year: an occupation counts in any year it was listed."""
    years: dict[int, set[Occupation]] = {}
    for e in hl.entries:
        end = e.valid_to.year if e.valid_to else max(last_year, e.valid_from.year)
        for year in range(e.valid_from.year, end + 1):
            years.setdefault(year, set()).add(e.occupation)
    return {y: sorted(c, key=_order) for y, c in years.items()}


async def publish_provincial_list(session: AsyncSession, runtime: Runtime, hl: HighSkillShortageList,
                                  today: date | None = None) -> None:
    last_year = (today or nantong_today()).year
    for year, occupations in sorted(provincial_by_year(hl, last_year).items()):
        await publish_list(session, runtime, hl.version, PROVINCIAL, year, occupations)


async def load_examples_if_empty(session: AsyncSession, runtime: Runtime) -> bool:
    """At first start, load the EXAMPLE Catalog and lists (clearly marked example in their files)."""
    if await session.scalar(sa.select(sa.func.count()).select_from(catalog_standards)):
        return False
    await publish_catalog_version(session, runtime, load_catalog(EXAMPLE_DATA / "catalog.EXAMPLE.csv"))
    for path in sorted(EXAMPLE_DATA.glob("shortage_*.EXAMPLE.csv")):
        await publish_shortage_list(session, runtime, load_shortage_list(path))
    provincial = EXAMPLE_DATA / "provincial_high_skill_shortage.EXAMPLE.csv"
    await publish_provincial_list(session, runtime, load_high_skill_shortage_list(provincial))
    return True
