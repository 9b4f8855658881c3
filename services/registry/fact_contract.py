"""The attributes each fact kind may carry: the contract eligibility's projection reads
(services/eligibility/projection.py, docs/events.md). Pure; returns problems, never raises.

Kinds not listed carry no attributes: they hold while valid (registered unemployment, 低保, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from services.registry.domain import FactKind


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


def _is_severity(v: Any) -> bool:
    return v in ("mild", "moderate", "severe")


Check = Callable[[Any], bool]
_DESCRIBE: Mapping[Check, str] = {
    _is_int: "a whole number >= 0", _is_bool: "true or false", _is_text: "text of 1-64 characters",
    _is_date: "an ISO date", _is_severity: "mild, moderate or severe",
}
# kind -> (required attributes, optional attributes)
CONTRACT: Mapping[FactKind, tuple[Mapping[str, Check], Mapping[str, Check]]] = {
    FactKind.EMPLOYMENT: ({"employer_code": _is_text, "hire_date": _is_date},
                          {"contract_months": _is_int, "open_ended": _is_bool,
                           "employer_in_nantong": _is_bool}),
    FactKind.UNEMPLOYMENT_INSURANCE_MONTHS: ({"months": _is_int}, {}),
    FactKind.PENSION_INSURANCE_MONTHS: ({"months": _is_int}, {"insured_in_nantong": _is_bool}),
    FactKind.DISABILITY: ({"severity": _is_severity}, {}),
    FactKind.FAMILY_LINK: ({"relative_poor_or_severely_disabled": _is_bool}, {}),
    FactKind.STUDENT: ({"expected_graduation": _is_date}, {}),
    FactKind.PROVINCIAL_SUBSIDY_RECEIVED: ({"certificate_number": _is_text}, {}),
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
    return problems
