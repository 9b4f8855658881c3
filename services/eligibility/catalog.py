"""The Catalog (《目录》), the yearly lists and the occupation-code editions, as data. Pure.

Readings (docs/policy.md):
- An occupation code means something only with its edition (职业分类大典 2015 / 2022). Codes are
  compared in the 2022 edition: a 2015 code maps through the bureau's 对照表 (`EditionMap`); a code
  the table does not list kept its number.
- Catalog versions: where a later published version carries a line for the same occupation,
  edition, level and kind, that line is the standard on the days it covers (latest published
  wins); days only an older line covers keep the older line.
- Shortage lists: the latest published version of a kind and year replaces the earlier ones whole
  (never a union), so a correction can take an occupation off.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

EDITIONS = ("2015", "2022")
CANONICAL_EDITION = "2022"
EDITIONS_FILE = Path(__file__).parent / "params" / "occupation_editions.EXAMPLE.csv"


@dataclass(frozen=True, slots=True)
class EditionMap:
    """2015 code -> 2022 code, for the codes that changed (对照表)."""

    to_2022: Mapping[str, str] = field(default_factory=dict)
    version: str = "none"

    def canonical(self, code: str, edition: str) -> str:
        """The code in the 2022 edition."""
        return self.to_2022.get(code, code) if edition == "2015" else code

    def related(self, codes: set[str]) -> set[str]:
        """These codes and their counterparts in the other edition (whose holders they may touch)."""
        return codes | {self.to_2022[c] for c in codes if c in self.to_2022} | {
            old for old, new in self.to_2022.items() if new in codes}


@dataclass(frozen=True, slots=True)
class CatalogLine:
    """One Catalog line: training + appraisal standard in fen for an occupation and level."""

    occupation_code: str
    level: int | None
    training_fen: int
    appraisal_fen: int
    valid_from: dt.date
    valid_to: dt.date | None
    version: str
    edition: str = "2015"
    published: dt.datetime = dt.datetime.min.replace(tzinfo=dt.UTC)
    ref: str = field(init=False, compare=False)  # what a decision records (set once, below)

    def __post_init__(self) -> None:
        ref = f"{self.version}:{self.occupation_code}({self.edition})#{self.level or '-'}@{self.valid_from}"
        object.__setattr__(self, "ref", ref)  # version, code (edition), level and the line's first day

    @property
    def total_fen(self) -> int:
        return self.training_fen + self.appraisal_fen

    def covers(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True, slots=True)
class YearList:
    """One published version of a list for one year (codes in the 2022 edition)."""

    version: str
    codes: frozenset[str]
    published: dt.datetime = dt.datetime.min.replace(tzinfo=dt.UTC)

    @property
    def ref(self) -> str:
        return self.version


@dataclass(frozen=True, slots=True)
class Listing:
    """One entry of the catalogue of training and evaluation institutions (九, 十七): the
    (2022-edition code, level) pairs it covers (level None: every level), and its days."""

    version: str
    occupations: frozenset[tuple[str, int | None]]
    valid_from: dt.date
    valid_to: dt.date | None
    published: dt.datetime
    credit_rating: str | None = None

    def covers(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def lists(self, code: str | None, level: int | None) -> bool:
        return code is not None and ((code, None) in self.occupations or (code, level) in self.occupations)


@dataclass(frozen=True)
class CatalogView:
    """The Catalog and the market-shortage and provincial lists in force, indexed for lookups."""

    standards: Mapping[tuple[str, int | None], tuple[CatalogLine, ...]] = field(default_factory=dict)
    market: Mapping[int, YearList] = field(default_factory=dict)
    provincial: Mapping[int, YearList] = field(default_factory=dict)
    editions: EditionMap = field(default_factory=EditionMap)
    institutions: Mapping[str, tuple[Listing, ...]] = field(default_factory=dict)  # latest published first

    def listing(self, institution: str | None, day: dt.date) -> Listing | None:
        """The institution's entry in force on `day`: the latest published one whose days cover it."""
        for entry in self.institutions.get(institution or "", ()):
            if entry.covers(day):
                return entry
        return None

    def canonical(self, code: str | None, edition: str) -> str | None:
        return None if code is None else self.editions.canonical(code, edition)

    def standard(self, code: str | None, level: int | None, day: dt.date) -> CatalogLine | None:
        """The line in force on `day` for a canonical code (latest published first), or None."""
        for line in self.standards.get((code or "", level), ()):
            if line.covers(day):
                return line
        return None

    def shortage_list(self, year: int) -> YearList | None:
        """That year's 市场紧缺职业（工种） list, the latest published version."""
        return self.market.get(year)

    def provincial_list(self, year: int) -> YearList | None:
        return self.provincial.get(year)


def catalog_view(lines: Iterable[CatalogLine], lists: Iterable[tuple[str, int, YearList]] = (),
                 editions: EditionMap | None = None,
                 institutions: Iterable[tuple[str, Listing]] = ()) -> CatalogView:
    """Index lines by (2022 code, level), latest published first; keep the latest list per kind
    and year. `lists` are (kind, year, list) with codes already in the 2022 edition."""
    editions = editions or EditionMap()
    index: dict[tuple[str, int | None], list[CatalogLine]] = {}
    for line in lines:
        index.setdefault((editions.canonical(line.occupation_code, line.edition), line.level), []).append(line)
    standards = {k: tuple(sorted(v, key=lambda x: (x.published, x.valid_from), reverse=True))
                 for k, v in index.items()}
    latest: dict[str, dict[int, YearList]] = {"market": {}, "provincial_high_skill": {}}
    for kind, year, listed in lists:
        held = latest.setdefault(kind, {}).get(year)
        if held is None or (listed.published, listed.version) > (held.published, held.version):
            latest[kind][year] = listed
    by_institution: dict[str, list[Listing]] = {}
    for code, entry in institutions:
        by_institution.setdefault(code, []).append(entry)
    entries = {k: tuple(sorted(v, key=lambda e: (e.published, e.version), reverse=True))
               for k, v in by_institution.items()}
    return CatalogView(standards, latest["market"], latest["provincial_high_skill"], editions, entries)


def parse_edition_map(text: str) -> EditionMap:
    """`# version: <label>` then `code_2015,code_2022,name_zh` rows; refuses a 2015 code twice."""
    version, rows = "unversioned", []
    for line in text.removeprefix("\ufeff").splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            version = value.strip() if key.strip() == "version" else version
        elif line.strip():
            rows.append(line)
    reader = csv.DictReader(rows)
    if reader.fieldnames != ["code_2015", "code_2022", "name_zh"]:
        raise ValueError("columns must be code_2015,code_2022,name_zh")
    mapping: dict[str, str] = {}
    for row in reader:
        if row["code_2015"] in mapping:
            raise ValueError(f"{row['code_2015']} mapped twice")
        mapping[row["code_2015"]] = row["code_2022"]
    return EditionMap(mapping, version)


def load_edition_map(path: Path = EDITIONS_FILE) -> EditionMap:
    """The shipped 对照表 (example rows; the bureau replaces the file with the official one)."""
    return parse_edition_map(path.read_text(encoding="utf-8"))
