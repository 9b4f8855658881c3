"""Dated funding routing (十二.1, 十二.5): which source pays which clause, with fallbacks.

Who is paid is not here: every decision names its payee (eligibility's dated "who is paid" table,
docs/policy.md), and a 十三.5 advance pays its plan's institution.

`parse_funding` is pure; `load_funding` is the one function here that reads a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

from services.payments.disbursements import plan_reservation
from services.payments.ledger import DomainError, FundingSource

DEFAULT_PATH = Path(__file__).parent / "params" / "funding.yaml"


@dataclass(frozen=True, slots=True)
class Validity:
    valid_from: date
    valid_to: date | None  # exclusive; None = open

    def covers(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on < self.valid_to)

    def overlaps(self, other: Validity) -> bool:
        starts_before_other_ends = other.valid_to is None or self.valid_from < other.valid_to
        ends_after_other_starts = self.valid_to is None or other.valid_from < self.valid_to
        return starts_before_other_ends and ends_after_other_starts


@dataclass(frozen=True, slots=True)
class FundingRoute:
    clause: str
    validity: Validity
    sources: tuple[FundingSource, ...]  # first is primary, the rest are fallbacks in order
    advance_allowed: bool  # 十三.5


@dataclass(frozen=True, slots=True)
class AdvanceRatio:
    validity: Validity
    ratio: Fraction


@dataclass(frozen=True, slots=True)
class FundingParams:
    version: str  # recorded with every disbursement, so a payment says which routing it used
    example: bool
    routes: tuple[FundingRoute, ...]
    advance_ratios: tuple[AdvanceRatio, ...]


def load_funding(path: Path = DEFAULT_PATH) -> FundingParams:
    """Read and validate a funding YAML file."""
    import yaml

    with path.open(encoding="utf-8") as fh:
        return parse_funding(yaml.safe_load(fh))


def parse_funding(data: Mapping[str, Any]) -> FundingParams:
    """Validate parsed YAML: known sources, no overlapping dates per clause."""
    routes = tuple(_route(r) for r in data.get("routes") or ())
    ratios = tuple(_ratio(r) for r in data.get("advance_ratio") or ())
    _no_overlaps([(r.clause, r.validity) for r in routes])
    _no_overlaps([("advance_ratio", r.validity) for r in ratios])
    return FundingParams(version=str(data["version"]), example=bool(data.get("example", False)),
                         routes=routes, advance_ratios=ratios)


def route_for(params: FundingParams, clause: str, on: date) -> FundingRoute:
    """The route in force for `clause` on `on`, or a DomainError naming the gap."""
    for route in params.routes:
        if route.clause == clause and route.validity.covers(on):
            return route
    raise DomainError(f"no funding route for clause {clause} on {on} (funding {params.version})")


def advance_ratio(params: FundingParams, on: date) -> Fraction:
    """The 十三.5 advance cap in force on `on`."""
    for item in params.advance_ratios:
        if item.validity.covers(on):
            return item.ratio
    raise DomainError(f"no advance ratio (十三.5) in force on {on} (funding {params.version})")


def choose_source(route: FundingRoute, amount_fen: int,
                  available_by_source: Mapping[FundingSource, int],
                  waiting_by_source: Mapping[FundingSource, int] | None = None) -> FundingSource:
    """First source in the route that can reserve now; else the primary, where the draft waits."""
    waiting = waiting_by_source or {}
    for source in route.sources:
        plan = plan_reservation(available_fen=available_by_source.get(source, 0),
                                amount_fen=amount_fen, waiting_ahead=waiting.get(source, 0))
        if plan.reserve:
            return source
    return route.sources[0]


def _validity(raw: Mapping[str, Any]) -> Validity:
    start, end = raw.get("valid_from"), raw.get("valid_to")
    if not isinstance(start, date) or (end is not None and not isinstance(end, date)):
        raise DomainError(f"valid_from/valid_to must be dates: {dict(raw)!r}")
    if end is not None and end <= start:
        raise DomainError(f"valid_to {end} must come after valid_from {start}")
    return Validity(start, end)


ROUTE_KEYS = frozenset({"clause", "valid_from", "valid_to", "sources", "advance_allowed"})


def _route(raw: Mapping[str, Any]) -> FundingRoute:
    unknown = set(raw) - ROUTE_KEYS
    if unknown:  # e.g. an old file's `payee`: who is paid is each decision's, not the route's
        raise DomainError(f"route {raw.get('clause')}: unknown key(s) {sorted(unknown)}")
    sources = tuple(FundingSource(s) for s in raw.get("sources") or ())
    if not sources or len(set(sources)) != len(sources):
        raise DomainError(f"route {raw.get('clause')}: sources must be non-empty and distinct")
    clause = str(raw.get("clause") or "")
    if not clause:
        raise DomainError("every route names its clause id")
    return FundingRoute(clause=clause, validity=_validity(raw), sources=sources,
                        advance_allowed=bool(raw.get("advance_allowed", False)))


def _ratio(raw: Mapping[str, Any]) -> AdvanceRatio:
    ratio = Fraction(str(raw["ratio"]))
    if not 0 <= ratio <= 1:
        raise DomainError(f"advance ratio must lie within 0..1, got {ratio}")
    return AdvanceRatio(validity=_validity(raw), ratio=ratio)


def _no_overlaps(items: list[tuple[str, Validity]]) -> None:
    for i, (key, validity) in enumerate(items):
        for other_key, other in items[i + 1:]:
            if key == other_key and validity.overlaps(other):
                raise DomainError(f"{key}: overlapping validity {validity} and {other}")
