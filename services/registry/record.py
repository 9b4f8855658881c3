"""The worker's electronic training record (培训电子档案和学分累计制度, 十).

Credit hours = classroom hours + online hours x the online-hours ratio in force on the class's end
date (a dated parameter, params/training_record.EXAMPLE.yaml). Pure apart from `load_ratios`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import yaml

RATIOS_FILE = Path(__file__).parent / "params" / "training_record.EXAMPLE.yaml"


@dataclass(frozen=True)
class DatedRatio:
    valid_from: date
    ratio: Decimal


@dataclass(frozen=True)
class ClassHours:
    end_date: date
    hours: int
    online_hours: int


def parse_ratios(document: dict[str, Any]) -> tuple[DatedRatio, ...]:
    entries = [DatedRatio(_day(e["valid_from"]), Decimal(str(e["ratio"])))
               for e in document["online_hours_ratio"]]
    if any(not (Decimal(0) <= e.ratio <= Decimal(1)) for e in entries):
        raise ValueError("online_hours_ratio must be between 0 and 1")
    return tuple(sorted(entries, key=lambda e: e.valid_from))


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def load_ratios(path: Path = RATIOS_FILE) -> tuple[DatedRatio, ...]:
    return parse_ratios(yaml.safe_load(path.read_text(encoding="utf-8")))


def ratio_on(ratios: Sequence[DatedRatio], day: date) -> Decimal:
    """The ratio in force on `day`; before the first entry online hours count nothing."""
    started = [r for r in ratios if r.valid_from <= day]
    return started[-1].ratio if started else Decimal(0)


def credit_hours(classes: Iterable[ClassHours], ratios: Sequence[DatedRatio]) -> Decimal:
    """十: accumulated credit hours, rounded once at the end, half-up to one decimal."""
    total = sum((Decimal(c.hours) + Decimal(c.online_hours) * ratio_on(ratios, c.end_date)
                 for c in classes), Decimal(0))
    return total.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
