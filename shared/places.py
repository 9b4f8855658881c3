"""Nantong's county-level units (县（市）、区), dated, with the 2020-07 merges.

Data: places.yaml beside this module (edited by the bureau). Validity dates are inclusive.
Registry records the unit as it was; reporting rolls old units up with `successor` so a trend line
for today's 崇川区 includes old 崇川 and 港闸 before 2020-07.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PLACES_FILE = Path(__file__).with_name("places.yaml")
# GB/T 2260: every division of Nantong (the city 320600, its districts, counties and county-level
# cities, the development zone's statistical code 320671) starts with these four digits.
NANTONG_PREFIX = "3206"


class UnknownPlace(KeyError):
    """No unit has this code (or synthetic id)."""


@dataclass(frozen=True)
class DatedName:
    name_zh: str
    valid_from: date | None


@dataclass(frozen=True)
class Place:
    """One county-level unit. `successor` is set only for units that ended by merging."""

    code: str
    names: tuple[DatedName, ...]
    valid_from: date | None
    valid_to: date | None
    successor: str | None

    def valid_on(self, day: date) -> bool:
        started = self.valid_from is None or self.valid_from <= day
        return started and (self.valid_to is None or day <= self.valid_to)

    def name_on(self, day: date | None = None) -> str:
        """The name in use on `day`; the latest name when no day is given."""
        named = [n for n in self.names if _started(n.valid_from, day)]
        return (named or list(self.names))[-1].name_zh


def _started(valid_from: date | None, day: date | None) -> bool:
    return day is None or valid_from is None or valid_from <= day


@dataclass(frozen=True)
class Places:
    """All units by code. Build with `parse_places` or `load_places`."""

    units: Mapping[str, Place]

    def get(self, code: str) -> Place:
        try:
            return self.units[code]
        except KeyError:
            raise UnknownPlace(code) from None

    def unit_on(self, code: str, day: date) -> Place | None:
        """The unit with this code if it existed on `day`, else None."""
        place = self.get(code)
        return place if place.valid_on(day) else None

    def units_valid_on(self, day: date) -> tuple[Place, ...]:
        return tuple(p for p in self.units.values() if p.valid_on(day))

    def successor(self, code: str) -> str:
        """The current unit an old unit rolled into (following chains); itself if still current."""
        seen: set[str] = set()
        while (nxt := self.get(code).successor) is not None:
            if code in seen:
                raise ValueError(f"successor cycle at {code}")
            seen.add(code)
            code = nxt
        return code

    def rolled_into(self, code: str) -> frozenset[str]:
        """Every code whose history rolls up into `code`, itself included (for district scopes)."""
        target = self.successor(code)
        return frozenset(c for c in self.units if self.successor(c) == target)


def parse_places(document: Mapping[str, Any]) -> Places:
    """Build Places from the YAML document; refuses successors that do not exist."""
    units = {str(raw["code"]): _place(raw) for raw in document["units"]}
    for place in units.values():
        if place.successor is not None and place.successor not in units:
            raise ValueError(f"{place.code}: successor {place.successor} is not a known unit")
    return Places(units)


def _place(raw: Mapping[str, Any]) -> Place:
    names = tuple(DatedName(str(n["name_zh"]), _day(n.get("from"))) for n in raw["names"])
    successor = raw.get("successor")
    return Place(
        code=str(raw["code"]),
        names=names,
        valid_from=_day(raw.get("valid_from")),
        valid_to=_day(raw.get("valid_to")),
        successor=None if successor is None else str(successor),
    )


def _day(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def in_nantong(division: str) -> bool:
    """A six-digit GB/T 2260 division code lies in Nantong (any of its units, current or retired)."""
    return len(division) == 6 and division.isdigit() and division.startswith(NANTONG_PREFIX)


def load_places(path: Path = PLACES_FILE) -> Places:
    """Read and parse a places file (the only I/O in this module)."""
    return parse_places(yaml.safe_load(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def default_places() -> Places:
    return load_places()


def unit_on(code: str, day: date) -> Place | None:
    return default_places().unit_on(code, day)


def units_valid_on(day: date) -> tuple[Place, ...]:
    return default_places().units_valid_on(day)


def successor(code: str) -> str:
    return default_places().successor(code)


def rolled_into(code: str) -> frozenset[str]:
    return default_places().rolled_into(code)


def name_zh(code: str, day: date | None = None) -> str:
    return default_places().get(code).name_on(day)
