"""From the registry's dated fact records to a `PersonFacts` snapshot as of one day. Pure.

The attributes per fact kind are the contract of `registry.person.fact_recorded` (docs/events.md,
services/registry/fact_contract.py). A kind holds on a day when one of its records is valid then;
a later record of the same kind supersedes. Facts keyed by a certificate number (provincial
subsidy received, degree records) describe that certificate whenever they were recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from services.eligibility.facts import DegreeRecord, PersonFacts
from shared.ids import credit_code_division
from shared.places import in_nantong

_NONE: Mapping[str, Sequence[FactRecord]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class FactRecord:
    kind: str
    valid_from: dt.date
    valid_to: dt.date | None
    attributes: Mapping[str, Any]

    def holds_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


_FLAG_KINDS = {
    "registered_unemployment": "registered_unemployed",
    "employment_difficulty": "employment_difficulty",
    "low_income_rural_household": "low_income_household",
    "dibao_household": "subsistence_allowance",
    "drawing_unemployment_benefit": "drawing_ui_benefit",
    "drawing_monthly_pension": "drawing_monthly_pension",
    "monthly_pension_entitlement": "pension_entitled",
    "veteran": "veteran",
}


def _in_force(records: Iterable[FactRecord], day: dt.date) -> dict[str, FactRecord]:
    """Per kind, the record in force on `day` that started last (a later record supersedes).
    One pass over the records, whatever the number of kinds."""
    latest: dict[str, FactRecord] = {}
    for r in records:
        if r.holds_on(day):
            best = latest.get(r.kind)
            if best is None or r.valid_from > best.valid_from:
                latest[r.kind] = r
    return latest


def _date(value: object) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) and value else None


def snapshot(person_key: str, records: Sequence[FactRecord], day: dt.date,
             relatives: Mapping[str, Sequence[FactRecord]] = _NONE) -> PersonFacts:
    """What was true of the person on `day`; `relatives` are the facts of the people the person's
    family links name (十三.4)."""
    now = _in_force(records, day)
    values: dict[str, Any] = {flag: kind in now for kind, flag in _FLAG_KINDS.items()}
    values |= _employment(now.get("employment"))
    ui, pension = now.get("unemployment_insurance_months"), now.get("pension_insurance_months")
    disability, student = now.get("disability"), now.get("student")
    values |= {
        "ui_contribution_months": int(ui.attributes.get("months", 0)) if ui else 0,
        "pension_contribution_months": int(pension.attributes.get("months", 0)) if pension else 0,
        "pension_insured_in_nantong": _insured_in_nantong(pension),
        "disabled": disability is not None,
        "disability_severe": bool(disability and disability.attributes.get("severity") == "severe"),
        "student_final_two_years": _final_two_years(student, day),
        "provincial_subsidy_certificates": frozenset(
            str(r.attributes.get("certificate_number")) for r in records if r.kind == "provincial_subsidy_received"),
        "degree_records": MappingProxyType({
            str(r.attributes["certificate_number"]): DegreeRecord(str(r.attributes.get("study_mode")),
                                                                   str(r.attributes.get("education_level")))
            for r in records if r.kind == "degree_record"}),
    }
    if relatives:
        values |= _family(records, day, relatives)
    return PersonFacts(person_id=person_key, as_of=day, **values)


def _family(records: Sequence[FactRecord], day: dt.date,
            relatives: Mapping[str, Sequence[FactRecord]]) -> dict[str, bool]:
    """十三.4: the statuses on `day` of every relative a family link in force names."""
    low_income = subsistence = severe = False
    for link in records:
        if link.kind != "family_link" or not link.holds_on(day):
            continue
        rel = _in_force(relatives.get(str(link.attributes.get("relative_person_key")), ()), day)
        low_income |= "low_income_rural_household" in rel
        subsistence |= "dibao_household" in rel
        severe |= "disability" in rel and rel["disability"].attributes.get("severity") == "severe"
    return {"family_low_income": low_income, "family_subsistence": subsistence, "family_severely_disabled": severe}


def linked_relatives(records: Iterable[FactRecord]) -> set[str]:
    """The person keys this person's family links name."""
    return {str(r.attributes["relative_person_key"]) for r in records
            if r.kind == "family_link" and r.attributes.get("relative_person_key")}


def _employment(record: FactRecord | None) -> dict[str, Any]:
    if record is None:
        return {"employed": False}
    a = record.attributes
    months = a.get("contract_months")
    return {
        "employed": True,
        "employer_id": a.get("employer_code"),
        "employer_in_nantong": _employer_in_nantong(a),
        "hire_date": _date(a.get("hire_date")) or record.valid_from,
        "contract_months": int(months) if months is not None else None,
        "open_ended_contract": bool(a.get("open_ended", False)),
    }


def _employer_in_nantong(a: Mapping[str, Any]) -> bool | None:
    """Where the employer is registered: its credit code's division (characters 3-8), else what the
    feeder said for a code that is not one; None when neither tells (a record from before the
    registry asked)."""
    division = credit_code_division(str(a.get("employer_code") or ""))
    if division is not None:
        return in_nantong(division)
    flag = a.get("employer_in_nantong")
    return flag if isinstance(flag, bool) else None


def _insured_in_nantong(pension: FactRecord | None) -> bool | None:
    """Where the person is pension-insured (参保地): the record's region code, else its flag; None
    when there is no record or it names neither."""
    if pension is None:
        return None
    region, flag = pension.attributes.get("insured_region"), pension.attributes.get("insured_in_nantong")
    if isinstance(region, str):
        return in_nantong(region)
    return flag if isinstance(flag, bool) else None


def _final_two_years(student: FactRecord | None, day: dt.date) -> bool:
    graduation = _date(student.attributes.get("expected_graduation")) if student else None
    return graduation is not None and day <= graduation <= day + dt.timedelta(days=731)
