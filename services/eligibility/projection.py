"""From the registry's dated fact records to a `PersonFacts` snapshot as of one day. Pure.

The attribute names per fact kind are the contract documented in docs/events.md
(registry.person.fact_recorded): employment {employer_code, hire_date, contract_months,
open_ended, employer_in_nantong}; unemployment_insurance_months {months};
pension_insurance_months {months, insured_in_nantong}; disability {severity};
family_link {relative_poor_or_severely_disabled}; student {expected_graduation};
provincial_subsidy_received {certificate_number}; the other kinds hold while valid.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.eligibility.facts import PersonFacts


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


def snapshot(person_key: str, records: list[FactRecord], day: dt.date) -> PersonFacts:
    """What was true of the person on `day`."""
    now = _in_force(records, day)
    values: dict[str, Any] = {flag: kind in now for kind, flag in _FLAG_KINDS.items()}
    values |= _employment(now.get("employment"))
    ui = now.get("unemployment_insurance_months")
    pension = now.get("pension_insurance_months")
    disability = now.get("disability")
    family = now.get("family_link")
    student = now.get("student")
    values |= {
        "ui_contribution_months": int(ui.attributes.get("months", 0)) if ui else 0,
        "pension_contribution_months": int(pension.attributes.get("months", 0)) if pension else 0,
        "pension_insured_in_nantong": bool(pension.attributes.get("insured_in_nantong", True)) if pension else False,
        "disabled": disability is not None,
        "disability_severe": bool(disability and disability.attributes.get("severity") == "severe"),
        "family_of_poor_or_severely_disabled": bool(
            family and family.attributes.get("relative_poor_or_severely_disabled")),
        "student_final_two_years": _final_two_years(student, day),
        "provincial_subsidy_certificates": frozenset(
            str(r.attributes.get("certificate_number")) for r in records
            if r.kind == "provincial_subsidy_received" and r.valid_from <= day),
    }
    return PersonFacts(person_id=person_key, as_of=day, **values)


def _employment(record: FactRecord | None) -> dict[str, Any]:
    if record is None:
        return {"employed": False}
    a = record.attributes
    months = a.get("contract_months")
    return {
        "employed": True,
        "employer_id": a.get("employer_code"),
        "employer_in_nantong": bool(a.get("employer_in_nantong", True)),
        "hire_date": _date(a.get("hire_date")) or record.valid_from,
        "contract_months": int(months) if months is not None else None,
        "open_ended_contract": bool(a.get("open_ended", False)),
    }


def _final_two_years(student: FactRecord | None, day: dt.date) -> bool:
    graduation = _date(student.attributes.get("expected_graduation")) if student else None
    return graduation is not None and day <= graduation <= day + dt.timedelta(days=731)
