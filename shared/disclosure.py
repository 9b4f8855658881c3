"""Small-cell suppression for public figures (PIPL: aggregates must not single a person out).

A public table is a list of cells (dicts) with dimension keys, a count of people or payments, and
values derived from them (fen). A cell whose count is below the threshold in force (a dated
parameter, shared/disclosure.yaml) is suppressed: its count and values become None and
`suppressed` is True. Then the complementary cells: for every dimension, the cells that share all
other dimensions add up to a total someone can know (published beside them, or elsewhere); if one
cell of such a group is suppressed and others are not, the smallest of the others is suppressed
too, until no group has a lone suppressed cell. Zero cells stay (they single nobody out).
docs/small-cells.md describes the rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PARAMS = Path(__file__).with_name("disclosure.yaml")


@dataclass(frozen=True)
class Threshold:
    valid_from: date
    min_cell: int


@lru_cache(maxsize=4)
def thresholds(path: Path = PARAMS) -> tuple[Threshold, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rows = sorted((Threshold(r["valid_from"], int(r["min_cell"])) for r in data["thresholds"]),
                  key=lambda t: t.valid_from)
    if not rows or any(t.min_cell < 1 for t in rows):
        raise ValueError(f"{path}: thresholds must be positive")
    return tuple(rows)


def min_cell_on(day: date) -> int:
    """The threshold in force on `day` (the earliest one before the first date)."""
    table = thresholds()
    chosen = table[0]
    for t in table:
        if t.valid_from <= day:
            chosen = t
    return chosen.min_cell


def suppress(cells: Sequence[Mapping[str, Any]], *, dims: Sequence[str], count: str,
             values: Sequence[str] = (), k: int) -> list[dict[str, Any]]:
    """Copies of `cells` with small cells and their complements suppressed (see the module)."""
    out = [dict(c) for c in cells]
    hidden = {i for i, c in enumerate(out) if c[count] is not None and 0 < abs(c[count]) < k}
    while True:
        more = _complements(out, hidden, dims, count)
        if not more:
            break
        hidden |= more
    for i in hidden:
        out[i].update({count: None, "suppressed": True, **{v: None for v in values}})
    for i, c in enumerate(out):
        c.setdefault("suppressed", i in hidden)
    return out


def _complements(cells: list[dict[str, Any]], hidden: set[int], dims: Sequence[str], count: str) -> set[int]:
    extra: set[int] = set()
    for d in dims:
        groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for i, c in enumerate(cells):
            groups[tuple(c[o] for o in dims if o != d)].append(i)
        for members in groups.values():
            lone = [i for i in members if i in hidden or i in extra]
            shown = [i for i in members if i not in hidden and i not in extra and cells[i][count]]
            if len(lone) == 1 and shown:
                extra.add(min(shown, key=lambda i: abs(cells[i][count])))
    return extra


def suppress_1d(rows: Sequence[Mapping[str, Any]], key: str, *, count: str = "count",
                values: Sequence[str] = ("amount_fen",), k: int) -> list[dict[str, Any]]:
    """A one-dimensional breakdown of a published total."""
    return suppress(rows, dims=(key,), count=count, values=values, k=k)
