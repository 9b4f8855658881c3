"""The attributes each fact kind may carry: the contract eligibility's projection reads
(services/eligibility/projection.py, docs/events.md). Pure; returns problems, never raises.

Kinds not listed carry no attributes: they hold while valid (registered unemployment, 低保,
按月领取养老金资格, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from services.registry.domain import FactKind
from shared.ids import credit_code_division, is_valid_resident_id, parse_resident_id
from shared.places import in_nantong

# 学习形式 of a degree record; every mode but full_time is further education of someone in work (四.5b).
STUDY_MODES = ("full_time", "part_time", "adult", "self_study", "online", "open_university")
EDUCATION_LEVELS = ("secondary", "associate", "bachelor", "master", "doctor")
RELATIONS = ("parent", "child", "spouse", "grandparent", "grandchild")  # 直系亲属 (十三.4)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_text(v: Any) -> bool:
    return isinstance(v, str) and 0 < len(v) <= 64


def _is_date(v: Any) -> bool:
    try:
        date.fromisoformat(v)
    except (TypeError, ValueError):
        return False
    return True


def _is_division(v: Any) -> bool:
    return isinstance(v, str) and len(v) == 6 and v.isdigit()


def _is_severity(v: Any) -> bool:
    return v in ("mild", "moderate", "severe")


def _is_resident_id(v: Any) -> bool:
    return isinstance(v, str) and is_valid_resident_id(v)


def _is_study_mode(v: Any) -> bool:
    return v in STUDY_MODES


def _is_education_level(v: Any) -> bool:
    return v in EDUCATION_LEVELS


def _is_relation(v: Any) -> bool:
    return v in RELATIONS


Check = Callable[[Any], bool]
_DESCRIBE: Mapping[Check, str] = {
    _is_int: "a whole number >= 0", _is_bool: "true or false", _is_text: "text of 1-64 characters",
    _is_date: "an ISO date", _is_division: "a six-digit division code (GB/T 2260)",
    _is_severity: "mild, moderate or severe",
    _is_resident_id: "a GB 11643 resident ID with its check character",
    _is_study_mode: f"one of {', '.join(STUDY_MODES)}", _is_education_level: f"one of {', '.join(EDUCATION_LEVELS)}",
    _is_relation: f"one of {', '.join(RELATIONS)}",
}
# kind -> (required attributes, optional attributes)
CONTRACT: Mapping[FactKind, tuple[Mapping[str, Check], Mapping[str, Check]]] = {
    FactKind.EMPLOYMENT: ({"employer_code": _is_text, "hire_date": _is_date},
                          {"contract_months": _is_int, "open_ended": _is_bool,
                           "employer_in_nantong": _is_bool}),
    FactKind.UNEMPLOYMENT_INSURANCE_MONTHS: ({"months": _is_int}, {}),
    # insured_region: the division where the person is insured (参保地), as the pension-insurance
    # system records it; one of it and insured_in_nantong is required (_location_problems).
    FactKind.PENSION_INSURANCE_MONTHS: ({"months": _is_int}, {"insured_region": _is_division,
                                                             "insured_in_nantong": _is_bool}),
    FactKind.DISABILITY: ({"severity": _is_severity}, {}),
    # The feeder names the relative by resident ID; the registry stores and sends the relative's
    # person_key instead (relative_attributes), never the number.
    FactKind.FAMILY_LINK: ({"relative_resident_id": _is_resident_id, "relation": _is_relation}, {}),
    FactKind.STUDENT: ({"expected_graduation": _is_date}, {}),
    FactKind.PROVINCIAL_SUBSIDY_RECEIVED: ({"certificate_number": _is_text}, {}),
    FactKind.DEGREE_RECORD: ({"certificate_number": _is_text, "study_mode": _is_study_mode,
                              "education_level": _is_education_level}, {}),
}


def attribute_problems(kind: FactKind, attributes: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, reason) for every attribute that breaks the contract of `kind`."""
    required, optional = CONTRACT.get(kind, ({}, {}))
    problems = [(f"attributes.{name}", "required") for name in required if name not in attributes]
    for name, value in attributes.items():
        check = required.get(name) or optional.get(name)
        if check is None:
            problems.append((f"attributes.{name}", f"not an attribute of {kind}"))
        elif not check(value):
            problems.append((f"attributes.{name}", f"must be {_DESCRIBE[check]}"))
    return problems or _location_problems(kind, attributes)


def _location_problems(kind: FactKind, a: Mapping[str, Any]) -> list[tuple[str, str]]:
    """四.5b reads where the employer is registered and where the person is insured: a record must
    let eligibility know both, and what it says must agree with itself."""
    if kind is FactKind.EMPLOYMENT:
        division = credit_code_division(str(a["employer_code"]))
        flag = a.get("employer_in_nantong")
        if division is None and flag is None:
            return [("attributes.employer_in_nantong",
                     "required when employer_code is not a GB 32100 credit code (whose characters 3-8 name "
                     "the division where the employer is registered)")]
        if division is not None and flag is not None and flag != in_nantong(division):
            return [("attributes.employer_in_nantong", f"contradicts employer_code, registered in division {division}")]
    elif kind is FactKind.PENSION_INSURANCE_MONTHS:
        region, flag = a.get("insured_region"), a.get("insured_in_nantong")
        if region is None and flag is None:
            return [("attributes.insured_region", "required: the division code of the region where the person "
                     "is pension-insured (参保地)")]
        if region is not None and flag is not None and flag != in_nantong(region):
            return [("attributes.insured_in_nantong", f"contradicts insured_region {region}")]
    return []


def relative_resident_id(kind: FactKind, attributes: Mapping[str, Any]) -> str | None:
    """The relative a family link names (the registry registers them and keys the fact by them)."""
    if kind is not FactKind.FAMILY_LINK:
        return None
    return parse_resident_id(str(attributes["relative_resident_id"])).number


def stored_attributes(kind: FactKind, attributes: Mapping[str, Any], relative_key: str | None) -> dict[str, Any]:
    """The attributes as stored and sent: a family link's resident ID replaced by the person key."""
    if kind is not FactKind.FAMILY_LINK:
        return dict(attributes)
    return {k: v for k, v in attributes.items() if k != "relative_resident_id"} | {"relative_person_key": relative_key}
