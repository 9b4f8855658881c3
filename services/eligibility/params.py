"""Dated policy parameters: every amount, share, uplift, cap and date of the rules.

The rules read parameters only through `ParameterSet.at(day)`, the values in force on that day,
so a decision uses the parameters in force on the certificate's issue date (or the period it pays)
and records the version of each value it read. `load_parameters_text` is the only function that
parses; `load_parameters_file` / `default_parameters` are the only ones that read a file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

ParamValue = int | Fraction | dt.date | Mapping[str, Any]
PARAMETERS_FILE = Path(__file__).parent / "params" / "parameters.yaml"
TYPES = ("int", "fen", "share", "date", "fen_table", "share_table", "text_table")
# The plan's period (通政办发〔2019〕112号 is for 2019-2021): a trigger outside it gets nothing under
# this plan, unless the bureau publishes a parameter file whose period extends it.
PERIOD_KEYS = ("plan.period_from", "plan.period_to")
PAYEE_KINDS = frozenset({"worker", "enterprise", "institution"})
PAYEE_CLAUSES = frozenset({"四.1", "四.2", "四.3", "四.4", "四.5a", "四.5b", "四.7", "五.2", "五.2b", "五.3",
                           "五.4", "六"})


@dataclass(frozen=True, slots=True)
class ParameterVersion:
    """One value of one parameter with the dates it is in force (both inclusive; None = open)."""

    key: str
    value: ParamValue
    valid_from: dt.date
    valid_to: dt.date | None
    version: str
    example: bool = False

    def in_force(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True, slots=True)
class ParamView:
    """The values in force on one day, and the version id of each."""

    day: dt.date
    values: Mapping[str, ParamValue]
    versions: Mapping[str, str]
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def get(self, key: str) -> Any:
        """The value of `key`; KeyError names the key and day when none is in force."""
        try:
            return self.values[key]
        except KeyError:
            raise KeyError(f"no parameter {key!r} in force on {self.day}") from None

    def has(self, key: str) -> bool:
        return key in self.values

    def versions_of(self, keys: tuple[str, ...]) -> tuple[tuple[str, str], ...] | None:
        """(key, version) for each key, memoised; None when any key has no value that day."""
        found = self.memo.get(keys)
        if found is None and keys not in self.memo:
            found = None
            if all(k in self.versions for k in keys):
                found = tuple((k, self.versions[k]) for k in keys)
            self.memo[keys] = found
        return found


@dataclass(frozen=True)
class ParameterSet:
    """All versions of all parameters; immutable, with a per-day view cache (a pure memo)."""

    set_version: str
    versions: Mapping[str, tuple[ParameterVersion, ...]]
    _views: dict[dt.date, ParamView] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def period(self) -> tuple[dt.date, dt.date]:
        """The plan period, both days inclusive: the newest version of each period key."""
        start, end = (self.versions[k][0].value for k in PERIOD_KEYS)
        return start, end  # type: ignore[return-value]

    def in_period(self, day: dt.date) -> bool:
        start, end = self.period
        return start <= day <= end

    def nearest_in_period(self, day: dt.date) -> dt.date:
        """The period's first or last day for a day outside it (whose rules a refusal still cites)."""
        start, end = self.period
        return min(max(day, start), end)

    def period_versions(self) -> tuple[tuple[str, str], ...]:
        return tuple((k, self.versions[k][0].version) for k in PERIOD_KEYS)

    def max_in_year(self, key: str, year: int) -> Any:
        """The largest value of `key` in force on any day of `year` (the database backstop's bound)."""
        first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
        values = [e.value for e in self.versions.get(key, ())
                  if e.valid_from <= last and (e.valid_to is None or e.valid_to >= first)]
        return max(values) if values else None  # type: ignore[type-var]  # one key's values share a type

    def at(self, day: dt.date) -> ParamView:
        """The values in force on `day` (cached: the rules call this once per decision)."""
        view = self._views.get(day)
        if view is None:
            view = self._build_view(day)
            self._views[day] = view
        return view

    def _build_view(self, day: dt.date) -> ParamView:
        values: dict[str, ParamValue] = {}
        ids: dict[str, str] = {}
        for key, entries in self.versions.items():
            for entry in entries:
                if entry.in_force(day):
                    values[key] = entry.value
                    ids[key] = entry.version
                    break
        return ParamView(day, values, ids)

    def with_value(
        self, key: str, value: ParamValue, valid_from: dt.date, version: str
    ) -> ParameterSet:
        """A new set where `key` takes `value` from `valid_from` on (for what-if and tests)."""
        kept = []
        for entry in self.versions.get(key, ()):
            if entry.valid_from >= valid_from:
                continue
            end = valid_from - dt.timedelta(days=1)
            if entry.valid_to is None or entry.valid_to > end:
                entry = replace(entry, valid_to=end)
            kept.append(entry)
        new = ParameterVersion(key, value, valid_from, None, version)
        versions = dict(self.versions)
        versions[key] = _sorted([*kept, new])
        return ParameterSet(f"{self.set_version}+{key}@{version}", versions)

    def differing_keys(self, other: ParameterSet) -> frozenset[str]:
        """Keys whose dated values differ between two sets (what-if only re-runs what they touch)."""
        keys = set(self.versions) | set(other.versions)
        return frozenset(k for k in keys if _signature(self, k) != _signature(other, k))

    def example_keys(self) -> frozenset[str]:
        """Keys with at least one value marked as an example."""
        return frozenset(k for k, es in self.versions.items() if any(e.example for e in es))


def _signature(params: ParameterSet, key: str) -> tuple[tuple[Any, ...], ...]:
    return tuple(
        (e.valid_from, e.valid_to, _hashable(e.value)) for e in params.versions.get(key, ())
    )


def _hashable(value: ParamValue) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted(value.items()))
    return value


def _sorted(entries: list[ParameterVersion]) -> tuple[ParameterVersion, ...]:
    return tuple(sorted(entries, key=lambda e: e.valid_from, reverse=True))


def parse_value(kind: str, raw: Any) -> ParamValue:
    """Parse one raw YAML value by its declared type."""
    if kind in ("int", "fen"):
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"expected an integer, got {raw!r}")
        return raw
    if kind == "share":
        return Fraction(str(raw))
    if kind == "date":
        return raw if isinstance(raw, dt.date) else dt.date.fromisoformat(str(raw))
    if kind in ("fen_table", "share_table"):
        inner = "fen" if kind == "fen_table" else "share"
        return {str(k): parse_value(inner, v) for k, v in dict(raw).items()}
    if kind == "text_table":
        return {str(k): str(v) for k, v in dict(raw).items()}
    raise ValueError(f"unknown parameter type {kind!r}; expected one of {TYPES}")


def _parse_entry(key: str, kind: str, raw: Mapping[str, Any]) -> ParameterVersion:
    valid_to = raw.get("valid_to")
    entry = ParameterVersion(
        key=key,
        value=parse_value(kind, raw["value"]),
        valid_from=parse_value("date", raw["valid_from"]),  # type: ignore[arg-type]
        valid_to=None if valid_to is None else parse_value("date", valid_to),  # type: ignore[arg-type]
        version=str(raw["version"]),
        example=bool(raw.get("example", False)),
    )
    if entry.valid_to is not None and entry.valid_to < entry.valid_from:
        raise ValueError(f"{key} {entry.version}: valid_to before valid_from")
    return entry


def _check_no_overlap(key: str, entries: tuple[ParameterVersion, ...]) -> None:
    ordered = sorted(entries, key=lambda e: e.valid_from)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.valid_to is None or before.valid_to >= after.valid_from:
            raise ValueError(f"{key}: versions {before.version} and {after.version} overlap")


def load_parameters_text(text: str) -> ParameterSet:
    """Parse the YAML text of a parameter file; overlapping versions of one key are an error."""
    doc = yaml.safe_load(text)
    versions: dict[str, tuple[ParameterVersion, ...]] = {}
    for item in doc["parameters"]:
        key, kind = str(item["key"]), str(item["type"])
        if key in versions:
            raise ValueError(f"parameter {key} declared twice")
        entries = _sorted([_parse_entry(key, kind, raw) for raw in item["values"]])
        _check_no_overlap(key, entries)
        versions[key] = entries
    _check_required(versions)
    return ParameterSet(str(doc["set_version"]), versions)


NOTICE_KEY = "notice.working_days"
WAITING_KEY = "waiting.facts_days"


def _check_required(versions: Mapping[str, tuple[ParameterVersion, ...]]) -> None:
    """A file without the plan period or with an unknown payee kind would decide on a default."""
    for key in PERIOD_KEYS:
        if key not in versions:
            raise ValueError(f"parameter {key} is required (the plan period)")
    if NOTICE_KEY not in versions:  # without it an approval would be paid with no public notice
        raise ValueError(f"parameter {NOTICE_KEY} is required (the 公示 period in working days)")
    if WAITING_KEY not in versions:  # without it a certificate arriving before its facts is refused
        raise ValueError(f"parameter {WAITING_KEY} is required (days a certificate waits for its facts)")
    for entry in versions.get("payee.kind", ()):
        table: Mapping[str, str] = entry.value  # type: ignore[assignment]
        odd, missing = set(table.values()) - PAYEE_KINDS, PAYEE_CLAUSES - set(table)
        if odd:
            raise ValueError(f"payee.kind {entry.version}: {sorted(odd)} not one of {sorted(PAYEE_KINDS)}")
        if missing:
            raise ValueError(f"payee.kind {entry.version} names no payee for {sorted(missing)}")


def load_parameters_file(path: Path | str) -> ParameterSet:
    """Read and parse one parameter file."""
    return load_parameters_text(Path(path).read_text(encoding="utf-8"))


def default_parameters() -> ParameterSet:
    """The parameters shipped with the service (some values are examples; see the file)."""
    return load_parameters_file(PARAMETERS_FILE)
