"""Reporting REST API: progress, ratios, funds, districts, denominators, reports, dashboard.

Shapes are documented in services/reporting/domain.py. The dashboard and every GET here are the
public part (fund use and targets, 十二 公开资金使用情况): totals only, no personal data, small
cells suppressed (docs/small-cells.md); bureau and auditor tokens read reports and fund use exact.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from services.reporting import queries
from services.reporting.handlers import targets_now
from services.reporting.projections import today
from services.reporting.public import public_report
from services.reporting.reports import MEDIA_TYPES, figures_to_dict, period_bounds, render
from shared.app import RuntimeDep, SessionDep
from shared.auth import OptionalPrincipalDep, require_roles
from shared.disclosure import min_cell_on
from shared.places import UnknownPlace, default_places
from shared.problems import Problem, problem_responses

router = APIRouter(prefix="/v1", tags=["reporting"])
pages = APIRouter(tags=["dashboard"])
STATIC = Path(__file__).with_name("static")
# Issued reports and fund use are public (十六: 季报/年报, 十二: 公开资金使用情况); bureau staff and
# auditors read the exact figures.
EXACT_REPORT_READERS = frozenset({"bureau", "auditor"})
AsOf = Annotated[dt.date | None, Query(description="Figures up to this day (default: today, Asia/Shanghai)")]


def _day(as_of: dt.date | None) -> dt.date:
    return as_of or today()


@router.get("/progress", summary="Progress toward T1–T6 (T1 person-times net of reversals)")
async def progress(session: SessionDep, runtime: RuntimeDep, as_of: AsOf = None) -> dict[str, Any]:
    return await queries.progress(session, targets_now(runtime), _day(as_of))


@router.get("/ratios", summary="Skilled ÷ employed (T2) and high-skilled ÷ skilled (T3)")
async def ratios(session: SessionDep, runtime: RuntimeDep, as_of: AsOf = None,
                 year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> dict[str, Any]:
    return await queries.ratios(session, targets_now(runtime), year, _day(as_of))


@router.get("/funds", summary="Fund use by source, district, clause and month (十二)",
            description="Without a bureau or auditor token, the public form: cut at the last month "
                        "end on or before `as_of` from the second day after it (`as_of` in the answer; "
                        "the day asked is `requested_as_of`), by source and month only (no `by_district`, "
                        "`by_clause`), and figures of fewer payments than the "
                        "small-cell threshold in force that day, with the figures that would give them "
                        "away, null with `paid_suppressed` / `reserved_suppressed` (docs/small-cells.md).",
            responses=problem_responses(401))
async def funds(session: SessionDep, reader: OptionalPrincipalDep, as_of: AsOf = None) -> dict[str, Any]:
    exact = reader is not None and reader.role in EXACT_REPORT_READERS
    return await queries.funds(session, _day(as_of), exact=exact, today=today())


@router.get("/districts", summary="One row per county-level unit, and the per-unit trend",
            description="Money paid by unit (`paid_fen`) only with a bureau or auditor token: the public "
                        "form of fund use is broken down by source only (docs/small-cells.md).",
            responses=problem_responses(401))
async def districts(session: SessionDep, runtime: RuntimeDep, reader: OptionalPrincipalDep,
                    as_of: AsOf = None) -> dict[str, Any]:
    exact = reader is not None and reader.role in EXACT_REPORT_READERS
    return await queries.districts(session, targets_now(runtime), _day(as_of), exact_paid=exact)


class EmployedFigure(BaseModel):
    district: str = Field(min_length=1, max_length=20, description="County-level code (shared/places)")
    employed: int = Field(gt=0, le=100_000_000)


class EmployedLoad(BaseModel):
    """Denominators from the statistics bureau's system (T2): employed persons per district."""

    year: int = Field(ge=2000, le=2100)
    source: str = Field(default="statistics_bureau", min_length=1, max_length=100)
    figures: list[EmployedFigure] = Field(min_length=1, max_length=100)


def _check_district(code: str, year: int, index: int) -> None:
    """The code must name a unit that existed at some day of `year` (2020 has both sides of the
    July merges)."""
    try:
        place = default_places().get(code)
    except UnknownPlace:
        raise Problem(422, "Unknown district", f"{code} is not a county-level unit",
                      field=f"figures.{index}.district") from None
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    if (place.valid_from and place.valid_from > last) or (place.valid_to and place.valid_to < first):
        raise Problem(422, "District not valid in that year", f"{code} did not exist in {year}",
                      field=f"figures.{index}.district")


def _check_districts(districts: list[str], year: int) -> None:
    """Each figure names a unit valid in `year`, once."""
    seen: set[str] = set()
    for i, district in enumerate(districts):
        _check_district(district, year, i)
        if district in seen:
            raise Problem(422, "Duplicate district", f"{district} appears twice", field=f"figures.{i}.district")
        seen.add(district)


@router.put("/statistics/employed", status_code=200, summary="Load employed persons per district")
async def put_employed(body: EmployedLoad, session: SessionDep, runtime: RuntimeDep,
                       _: Any = require_roles("bureau")) -> dict[str, Any]:
    """The statistics bureau's employed-person figures, loaded by bureau staff (the ratios' denominators)."""
    _check_districts([f.district for f in body.figures], body.year)
    await queries.add_employed(session, body.year, {f.district: f.employed for f in body.figures}, body.source)
    await session.commit()
    return {"year": body.year, "districts": len(body.figures),
            "employed": sum(f.employed for f in body.figures)}


class StaffEducationFigure(BaseModel):
    district: str = Field(min_length=1, max_length=20, description="County-level code (shared/places)")
    total_fen: int = Field(gt=0, le=10**15, description="Staff-education funds spent (职工教育经费), fen")
    frontline_fen: int = Field(ge=0, le=10**15, description="Of which on front-line workers' training, fen")


class StaffEducationLoad(BaseModel):
    """T6 (十二.3): enterprises' staff-education funds and the part spent on front-line workers,
    per district and year, as the bureau collects them."""

    year: int = Field(ge=2000, le=2100)
    source: str = Field(default="enterprise_reports", min_length=1, max_length=100)
    figures: list[StaffEducationFigure] = Field(min_length=1, max_length=100)


@router.put("/statistics/staff-education", status_code=200,
            summary="Load staff-education fund use per district (T6)")
async def put_staff_education(body: StaffEducationLoad, session: SessionDep,
                              _: Any = require_roles("bureau")) -> dict[str, Any]:
    """A later load for the same year and district replaces it in every figure (earlier loads
    stay as history); reports already issued keep the figures they were issued with."""
    _check_districts([f.district for f in body.figures], body.year)
    for i, f in enumerate(body.figures):
        if f.frontline_fen > f.total_fen:
            raise Problem(422, "Front-line part exceeds the total",
                          f"frontline_fen {f.frontline_fen} > total_fen {f.total_fen}",
                          field=f"figures.{i}.frontline_fen")
    await queries.add_staff_education(
        session, body.year, {f.district: (f.total_fen, f.frontline_fen) for f in body.figures}, body.source)
    await session.commit()
    total = sum(f.total_fen for f in body.figures)
    frontline = sum(f.frontline_fen for f in body.figures)
    return {"year": body.year, "districts": len(body.figures), "total_fen": total,
            "frontline_fen": frontline, "frontline_share": round(frontline / total, 6)}


class ReportCreate(BaseModel):
    kind: Literal["quarterly", "annual"]
    # 19xx/20xx only: year 0000 reached date() and answered 500.
    period: str = Field(pattern=r"^(19|20)\d{2}(Q[1-4])?$", examples=["2020Q3", "2020"])
    cut_off: dt.date


@router.post("/reports", status_code=201, summary="Issue a 季报/年报, frozen at its cut-off (十六)",
             responses={200: {"description": "Already issued: the same report"}})
async def create_report(body: ReportCreate, response: Response, session: SessionDep,
                        runtime: RuntimeDep, _: Any = require_roles("bureau")) -> dict[str, Any]:
    if (body.kind == "quarterly") != ("Q" in body.period):
        raise Problem(422, "Period does not match kind", "quarterly: 2020Q3; annual: 2020", field="period")
    _, end = period_bounds(body.kind, body.period)
    if body.cut_off < end:
        raise Problem(422, "Cut-off before the period's end", f"the period ends {end}", field="cut_off")
    report_id, fresh = await queries.issue_report(session, targets_now(runtime), body.kind,
                                                  body.period, body.cut_off)
    await session.commit()
    if not fresh:
        response.status_code = 200
    links = {fmt: f"/v1/reports/{report_id}.{fmt}" for fmt in MEDIA_TYPES}
    return {"report_id": str(report_id), "kind": body.kind, "period": body.period,
            "cut_off": body.cut_off.isoformat(), "links": links}


@router.get("/reports/{name}", summary="An issued report: {id}.csv | {id}.xlsx | {id}.html | {id}",
            description="Without a bureau or auditor token, the public form: person-time cells below "
                        "the small-cell threshold in force on the cut-off day, and the cells that "
                        "would give them away, are printed as * (docs/small-cells.md).",
            responses=problem_responses(401))
async def get_report(name: str, session: SessionDep,
                     reader: OptionalPrincipalDep) -> Response:
    stem, _, fmt = name.partition(".")
    try:
        report_id = uuid.UUID(stem)
    except ValueError:
        raise Problem(404, "No such report", field="report_id") from None
    if fmt and fmt not in MEDIA_TYPES:
        raise Problem(404, "Unknown format", "csv, xlsx or html", field="format")
    figures = await queries.report_figures(session, report_id)
    if figures is None:
        raise Problem(404, "No such report", field="report_id")
    if reader is None or reader.role not in EXACT_REPORT_READERS:
        figures = public_report(figures, min_cell_on(figures.cut_off))
    if not fmt:
        return Response(json.dumps(figures_to_dict(figures), ensure_ascii=False),
                        media_type="application/json")
    headers = {} if fmt == "html" else {  # the printable page opens in the browser
        "Content-Disposition": f'attachment; filename="report-{figures.period}-{report_id}.{fmt}"'}
    return Response(render(figures, fmt), media_type=MEDIA_TYPES[fmt], headers=headers)  # type: ignore[arg-type]


@pages.get("/dashboard", include_in_schema=False)
async def dashboard() -> FileResponse:
    """The public dashboard; its script and stylesheet sit beside it (no CDN, works offline)."""
    return FileResponse(STATIC / "dashboard.html", media_type="text/html; charset=utf-8")


@pages.get("/dashboard.js", include_in_schema=False)
async def dashboard_js() -> FileResponse:
    return FileResponse(STATIC / "dashboard.js", media_type="text/javascript; charset=utf-8")


@pages.get("/dashboard.css", include_in_schema=False)
async def dashboard_css() -> FileResponse:
    return FileResponse(STATIC / "dashboard.css", media_type="text/css; charset=utf-8")
