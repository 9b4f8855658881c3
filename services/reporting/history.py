"""Districts across the 2020-07 merges (see shared/places.py and REFERENCE.md).

Two readings of the same history:
- a report for a past period shows the units of that period (`unit_for(code, period_end)`);
- a trend line maps old units to the unit that exists today (`latest_unit(code)`).
Figures are stored under the code recorded at the time and rolled up only when read, so neither
reading ever rewrites stored counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import TypeVar

from shared.places import Place, Places, UnknownPlace, default_places

K = TypeVar("K")


def _place(places: Places, code: str) -> Place | None:
    try:
        return places.get(code)
    except UnknownPlace:
        return None


def unit_for(code: str, day: date, places: Places | None = None) -> str:
    """The unit that covered `code`'s ground on `day`.

    An ended unit follows its successors until one is valid on `day`. A unit that did not exist
    yet on `day` (a new code on an old record) cannot be split back, so it stays itself; so does
    an unknown code, to keep its figures visible rather than lose them.
    """
    places = places or default_places()
    place = _place(places, code)
    while place is not None and not place.valid_on(day):
        ended = place.valid_to is not None and place.valid_to < day
        if not ended or place.successor is None:
            break  # not started yet on `day`: there is no way back to its predecessors
        place = _place(places, place.successor)
    return place.code if place is not None else code


def latest_unit(code: str, places: Places | None = None) -> str:
    """Today's unit for a code (trend lines); unknown codes stay themselves."""
    places = places or default_places()
    return places.successor(code) if _place(places, code) is not None else code


def unit_name(code: str, day: date | None = None, places: Places | None = None) -> str:
    place = _place(places or default_places(), code)
    return place.name_on(day) if place is not None else f"未知区划({code})"


def units_listed(day: date, extra: Iterable[str] = (), places: Places | None = None) -> list[str]:
    """Units valid on `day` in the bureau's order, then any other codes that carry figures."""
    places = places or default_places()
    listed = [p.code for p in places.units_valid_on(day)]
    return listed + sorted(set(extra) - set(listed))


def roll_up(
    values: Mapping[K, int], district_of: Callable[[K], str], to_unit: Callable[[str], str]
) -> dict[str, int]:
    """Sum values keyed by anything that names a district, by the unit `to_unit` maps it to."""
    out: dict[str, int] = {}
    for key, value in values.items():
        unit = to_unit(district_of(key))
        out[unit] = out.get(unit, 0) + value
    return out
