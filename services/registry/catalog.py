"""The bureau's Catalog files: occupation standards, yearly shortage lists, provincial list.

《南通市区职业技能培训补贴和鉴定补贴标准目录》 ("the Catalog", RULES.md) gives per occupation and
level a training standard and an appraisal standard; Std = their sum (四.2, 四.3, 四.4, 五.2).
The bureau edits CSV files; each parsed file is an immutable version identified by its label and
the SHA-256 of its text, so a decision can record exactly which version it used (十二.5: standards
change over time, by new versions, never by editing one in place).

File format: UTF-8 CSV (a BOM from spreadsheet programs is accepted). Lines starting with `#` are
comments; `# key: value` comments are directives (`version` is required, `example: true` marks
example data, `year` names a shortage list's year). Amounts are yuan in the file, fen in memory.
Dates are ISO, inclusive at both ends; an empty valid_to means open-ended.
Validation collects every error with its line and field, then refuses the whole file.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

from services.registry.domain import (
    OCCUPATION_EDITIONS,
    SKILL_LEVELS,
    Occupation,
    parse_occupation,
)
from shared.money import yuan_to_fen

T = TypeVar("T")
CATALOG_COLUMNS = (
    "occupation_code", "edition", "name_zh", "level",
    "training_yuan", "appraisal_yuan", "valid_from", "valid_to",
)
SHORTAGE_COLUMNS = ("occupation_code", "edition", "name_zh")
HIGH_SKILL_COLUMNS = ("occupation_code", "edition", "name_zh", "valid_from", "valid_to")


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.reason}"


class CatalogError(ValueError):
    """A file was refused; `errors` lists every problem found, by line and field."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = tuple(errors)


@dataclass(frozen=True)
class CatalogRow:
    occupation: Occupation
    name_zh: str
    level: int
    training_fen: int
    appraisal_fen: int
    valid_from: date
    valid_to: date | None
    line: int

    @property
    def standard_fen(self) -> int:
        """Std: training standard + appraisal standard."""
        return self.training_fen + self.appraisal_fen

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class CatalogVersion:
    version: str
    digest: str
    example: bool
    rows: tuple[CatalogRow, ...]

    def row_on(self, occupation: Occupation, level: int, day: date) -> CatalogRow | None:
        """The standard in force on `day` (the certificate's issue date), if the Catalog has one."""
        return next((r for r in self.rows if _is(r, occupation, level) and r.valid_on(day)), None)


@dataclass(frozen=True)
class ShortageList:
    """One year's 市场紧缺职业（工种）目录: shortage doubles 四.2/四.3 and raises 四.4."""

    year: int
    version: str
    digest: str
    example: bool
    names: Mapping[Occupation, str] = field(default_factory=dict)

    def contains(self, occupation: Occupation) -> bool:
        return occupation in self.names


@dataclass(frozen=True)
class HighSkillEntry:
    occupation: Occupation
    name_zh: str
    valid_from: date
    valid_to: date | None


@dataclass(frozen=True)
class HighSkillShortageList:
    """The provincial high-skill shortage list (省高技能人才紧缺型), excluded by 四.4 and 四.5a."""

    version: str
    digest: str
    example: bool
    entries: tuple[HighSkillEntry, ...]

    def contains(self, occupation: Occupation, day: date) -> bool:
        return any(e.occupation == occupation and _within(e, day) for e in self.entries)


def _is(row: CatalogRow, occupation: Occupation, level: int) -> bool:
    return row.occupation == occupation and row.level == level


def _within(entry: HighSkillEntry, day: date) -> bool:
    return entry.valid_from <= day and (entry.valid_to is None or day <= entry.valid_to)


# --- Reading lines, directives and fields -------------------------------------------------


@dataclass(frozen=True)
class _Sheet:
    directives: Mapping[str, str]
    records: tuple[tuple[int, Mapping[str, str]], ...]
    digest: str


def _read_sheet(text: str, columns: tuple[str, ...], errors: list[RowError]) -> _Sheet:
    text = text.removeprefix("\ufeff")
    directives: dict[str, str] = {}
    data: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#"):
            _directive(line, directives)
        elif line.strip():
            data.append((number, line))
    records = _records(data, columns, errors)
    return _Sheet(directives, records, hashlib.sha256(text.encode("utf-8")).hexdigest())


def _directive(line: str, directives: dict[str, str]) -> None:
    key, sep, value = line[1:].partition(":")
    if sep and key.strip().isidentifier():
        directives.setdefault(key.strip().lower(), value.strip())


def _records(
    data: list[tuple[int, str]], columns: tuple[str, ...], errors: list[RowError]
) -> tuple[tuple[int, Mapping[str, str]], ...]:
    if not data:
        errors.append(RowError(1, "header", "no header line"))
        return ()
    header_line, header_text = data[0]
    header = [h.strip() for h in next(csv.reader([header_text]))]
    if header != list(columns):
        errors.append(RowError(header_line, "header", f"columns must be {','.join(columns)}"))
        return ()
    return tuple((n, _cells(n, line, header, errors)) for n, line in data[1:])


def _cells(number: int, line: str, header: list[str], errors: list[RowError]) -> dict[str, str]:
    cells = [c.strip() for c in next(csv.reader([line]))]
    if len(cells) != len(header):
        errors.append(RowError(number, "row", f"{len(cells)} fields, expected {len(header)}"))
        return {}
    return dict(zip(header, cells, strict=True))


class _Fields:
    """Parses one record's fields, recording a RowError for each bad one instead of stopping."""

    def __init__(self, line: int, cells: Mapping[str, str], errors: list[RowError]) -> None:
        self.line, self.cells, self.errors = line, cells, errors
        self.failed = not cells

    def get(self, name: str, parse: Callable[[str], T]) -> T:
        if not self.cells:  # the row's shape was already reported; spare the field noise
            return None  # type: ignore[return-value]  # never used: `failed` drops the record
        try:
            return parse(self.cells.get(name, ""))
        except ValueError as exc:
            self.errors.append(RowError(self.line, name, str(exc)))
            self.failed = True
            return None  # type: ignore[return-value]  # never used: `failed` drops the record

    def occupation(self) -> Occupation:
        edition = self.get("edition", _edition)
        # With a bad edition the code is still checked for shape, under a placeholder edition.
        return self.get("occupation_code", lambda code: parse_occupation(code, edition or 2015))


def _integer(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"not a whole number: {text!r}")
    return int(text)


def _edition(text: str) -> int:
    edition = _integer(text)
    if edition not in OCCUPATION_EDITIONS:
        raise ValueError(f"classification edition must be one of {sorted(OCCUPATION_EDITIONS)}")
    return edition


def _text(text: str) -> str:
    if not text:
        raise ValueError("required")
    return text


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def _optional_day(text: str) -> date | None:
    return _day(text) if text else None


def _level(text: str) -> int:
    level = _integer(text)
    if level not in SKILL_LEVELS:
        raise ValueError("skill level must be 1 (高级技师) to 5 (初级工)")
    return level


def _fen(text: str) -> int:
    fen = yuan_to_fen(text)
    if fen < 0:
        raise ValueError("must not be negative")
    return fen


def _date_range(fields: _Fields) -> tuple[date, date | None]:
    start, end = fields.get("valid_from", _day), fields.get("valid_to", _optional_day)
    if start is not None and end is not None and end < start:
        fields.errors.append(RowError(fields.line, "valid_to", "before valid_from"))
        fields.failed = True
    return start, end


def _header(sheet: _Sheet, errors: list[RowError]) -> tuple[str, bool]:
    version = sheet.directives.get("version", "")
    if not version:
        errors.append(RowError(1, "version", "a '# version: <label>' line is required"))
    return version, sheet.directives.get("example", "").lower() in ("true", "yes", "1")


def _refuse_if(errors: list[RowError]) -> None:
    if errors:
        raise CatalogError(sorted(errors, key=lambda e: e.line))


# --- The Catalog ---------------------------------------------------------------------------


def parse_catalog(text: str) -> CatalogVersion:
    """Parse a Catalog CSV; refuse it whole if any line is wrong or two rows overlap in time."""
    errors: list[RowError] = []
    sheet = _read_sheet(text, CATALOG_COLUMNS, errors)
    version, example = _header(sheet, errors)
    rows = [r for n, cells in sheet.records if (r := _catalog_row(n, cells, errors))]
    _check_overlaps(rows, errors)
    _refuse_if(errors)
    return CatalogVersion(version, sheet.digest, example, tuple(rows))


def _catalog_row(line: int, cells: Mapping[str, str], errors: list[RowError]) -> CatalogRow | None:
    f = _Fields(line, cells, errors)
    occupation, name = f.occupation(), f.get("name_zh", _text)
    level = f.get("level", _level)
    training, appraisal = f.get("training_yuan", _fen), f.get("appraisal_yuan", _fen)
    start, end = _date_range(f)
    if f.failed:
        return None
    return CatalogRow(occupation, name, level, training, appraisal, start, end, line)


def _check_overlaps(rows: list[CatalogRow], errors: list[RowError]) -> None:
    """Two standards for one occupation and level on the same day would make Std ambiguous."""
    for i, row in enumerate(rows):
        for earlier in rows[:i]:
            if _is(earlier, row.occupation, row.level) and _overlap(earlier, row):
                reason = f"overlaps line {earlier.line} for the same occupation and level"
                errors.append(RowError(row.line, "valid_from", reason))


def _overlap(a: CatalogRow, b: CatalogRow) -> bool:
    a_end, b_end = a.valid_to or date.max, b.valid_to or date.max
    return a.valid_from <= b_end and b.valid_from <= a_end


# --- Shortage lists ------------------------------------------------------------------------


def parse_shortage_list(text: str) -> ShortageList:
    """Parse one year's market-shortage list; the year comes from a '# year: YYYY' line."""
    errors: list[RowError] = []
    sheet = _read_sheet(text, SHORTAGE_COLUMNS, errors)
    version, example = _header(sheet, errors)
    year = _list_year(sheet, errors)
    names: dict[Occupation, str] = {}
    for line, cells in sheet.records:
        f = _Fields(line, cells, errors)
        occupation, name = f.occupation(), f.get("name_zh", _text)
        if not f.failed:
            names[occupation] = name
    _refuse_if(errors)
    return ShortageList(year, version, sheet.digest, example, names)


def _list_year(sheet: _Sheet, errors: list[RowError]) -> int:
    year = sheet.directives.get("year", "")
    if not (year.isascii() and year.isdigit() and len(year) == 4):
        errors.append(RowError(1, "year", "a '# year: YYYY' line is required"))
        return 0
    return int(year)


def parse_high_skill_shortage_list(text: str) -> HighSkillShortageList:
    """Parse the provincial high-skill shortage list, whose entries carry their own dates."""
    errors: list[RowError] = []
    sheet = _read_sheet(text, HIGH_SKILL_COLUMNS, errors)
    version, example = _header(sheet, errors)
    entries: list[HighSkillEntry] = []
    for line, cells in sheet.records:
        f = _Fields(line, cells, errors)
        occupation, name = f.occupation(), f.get("name_zh", _text)
        start, end = _date_range(f)
        if not f.failed:
            entries.append(HighSkillEntry(occupation, name, start, end))
    _refuse_if(errors)
    return HighSkillShortageList(version, sheet.digest, example, tuple(entries))


# --- Loaders (the only I/O here) -----------------------------------------------------------

EXAMPLE_DATA = Path(__file__).with_name("catalog_data")


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8-sig")


def load_catalog(path: Path) -> CatalogVersion:
    return parse_catalog(read_text(path))


def load_shortage_list(path: Path) -> ShortageList:
    return parse_shortage_list(read_text(path))


def load_high_skill_shortage_list(path: Path) -> HighSkillShortageList:
    return parse_high_skill_shortage_list(read_text(path))
