"""What reporting publishes of its counts: small cells and the cells that would give them away
suppressed by the one helper (shared/disclosure.py); docs/small-cells.md describes the rule.

The helper sees one table at a time, so every total a figure publishes is put into the table as a
cell of its own ("*" in the dimensions it sums over). Person-times by unit, year and quarter are one
table: `/v1/progress` by_district, by_year and by_quarter, the `/v1/districts` rows and the
per-unit trend read their cells and margins from it, so no figure shows a total another one hides.
A running total (the city's cumulative by quarter, a unit's trend) is published only up to its first
hidden quarter: two published running totals differ by the quarters between them.
Reports, skill ratios, fund use (paid and reserved, one table each): the same helper (functions below).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from services.reporting.funds import CITY, MEASURES, FundTally, Measure
from services.reporting.history import unit_for
from services.reporting.progress import ProgressTally
from services.reporting.ratios import SkillCounts
from services.reporting.reports import FUND_HEADERS, FUND_TITLE, ReportFigures, Table
from shared.disclosure import suppress, suppress_1d

ALL = "*"  # a margin: the sum over this dimension
HIDDEN_MARK = "*"  # what a report prints in a suppressed cell
Key = tuple[str, str, str]  # (unit, year, quarter)


@dataclass(frozen=True)
class PersonTimes:
    """The suppressed person-times table: count and fen per (unit, year, quarter), margins included."""

    cells: dict[Key, dict[str, Any]]
    min_cell: int

    def hidden(self, unit: str = ALL, year: str = ALL, quarter: str = ALL) -> bool:
        cell = self.cells.get((unit, year, quarter))
        return bool(cell and cell["suppressed"])


def person_times_of(tally: ProgressTally, units_on: date, k: int) -> PersonTimes:
    """The table of a tally, districts rolled into the units valid on `units_on` (as by_district)."""
    counts: Counter[tuple[str, str]] = Counter()
    amounts: Counter[tuple[str, str]] = Counter()
    for (quarter, district, _, _), n in tally.person_times.items():
        counts[(unit_for(district, units_on), quarter)] += n
    for (quarter, district, _, _), fen in tally.amounts.items():
        amounts[(unit_for(district, units_on), quarter)] += fen
    return person_times_table(counts, amounts, k)


def person_times_table(counts: Mapping[tuple[str, str], int], amounts: Mapping[tuple[str, str], int],
                       k: int) -> PersonTimes:
    """From person-times and fen by (unit, quarter label "2020Q3")."""
    cells: dict[Key, dict[str, Any]] = {}
    for unit, quarter in counts.keys() | amounts.keys():
        n, fen = counts.get((unit, quarter), 0), amounts.get((unit, quarter), 0)
        for u in (unit, ALL):
            for y, q in ((quarter[:4], quarter), (quarter[:4], ALL), (ALL, ALL)):
                cell = cells.setdefault((u, y, q), {"unit": u, "year": y, "quarter": q,
                                                    "count": 0, "amount_fen": 0})
                cell["count"] += n
                cell["amount_fen"] += fen
    shown = suppress(list(cells.values()), dims=("unit", "year", "quarter"), count="count",
                     values=("amount_fen",), k=k)
    return PersonTimes({(c["unit"], c["year"], c["quarter"]): c for c in shown}, k)


def _hide(row: dict[str, Any], hidden: bool, fields: Iterable[str]) -> dict[str, Any]:
    return row | {"suppressed": True, **{f: None for f in fields}} if hidden else row | {"suppressed": False}


def running_until_hidden(values: list[int | None], hidden: list[bool]) -> list[int | None]:
    """A running total shown up to (not including) its first hidden step."""
    out: list[int | None] = []
    for value, gone in zip(values, hidden, strict=True):
        out.append(None if gone or (out and out[-1] is None) else value)
    return out


def public_by_quarter(rows: list[dict[str, Any]], table: PersonTimes) -> list[dict[str, Any]]:
    flags = [table.hidden(ALL, r["quarter"][:4], r["quarter"]) for r in rows]
    cumulative = running_until_hidden([r["cumulative"] for r in rows], flags)
    return [_hide(r, gone, ("count", "amount_fen")) | {"cumulative": c}
            for r, gone, c in zip(rows, flags, cumulative, strict=True)]


def public_by_year(rows: list[dict[str, Any]], table: PersonTimes) -> list[dict[str, Any]]:
    return [_hide(r, table.hidden(ALL, str(r["year"])), ("count", "amount_fen")) for r in rows]


def public_unit_rows(rows: list[dict[str, Any]], table: PersonTimes, fields: Iterable[str]) -> list[dict[str, Any]]:
    names = tuple(fields)
    return [_hide(r, table.hidden(r["code"]), names) for r in rows]


def public_trend(trend: Mapping[str, Any], table: PersonTimes) -> dict[str, Any]:
    """Each unit's cumulative line up to its first hidden quarter. A line whose steps are not the
    table's cells of its unit (trend units are today's, the table's those of the as-of day) stops at
    its first non-zero quarter: nothing of it was checked, so nothing of it is shown."""
    quarters: list[str] = trend["quarters"]
    series = []
    for s in trend["series"]:
        points: list[int] = s["cumulative"]
        steps = [p - (points[i - 1] if i else 0) for i, p in enumerate(points)]
        cells = [table.cells.get((s["code"], q[:4], q)) for q in quarters]
        if all((c["suppressed"] or c["count"] == n) if c else n == 0 for c, n in zip(cells, steps, strict=True)):
            flags = [bool(c and c["suppressed"]) for c in cells]
        else:  # the line sums other districts than the table's unit (merged units, an old as-of day)
            flags = [n != 0 for n in steps]
        shown = running_until_hidden(list(points), flags)
        series.append(s | {"cumulative": shown, "suppressed": None in shown})
    return dict(trend) | {"series": series}


# --- skill ratios ----------------------------------------------------------------------------


def public_skill_rows(rows: list[dict[str, Any]], skills: Mapping[str, SkillCounts],
                      k: int) -> list[dict[str, Any]]:
    """Rows keyed "code" with skill figures: skilled and high-skilled persons are counts of people
    (each a 1-D table over units, the city total its margin). A share goes with its numerator,
    and high_skilled_share with skilled as well (the share and one count give the other)."""
    skilled = _flags({u: c.skilled for u, c in skills.items()}, k)
    high = _flags({u: c.high_skilled for u, c in skills.items()}, k)
    out = []
    for r in rows:
        s, h = skilled.get(r["code"], False), high.get(r["code"], False)
        fields = (("skilled", "skilled_share", "high_skilled_share") if s else ()) + \
                 (("high_skilled", "high_skilled_share") if h else ())
        out.append(r | {f: None for f in fields if f in r} | {"skill_suppressed": s or h})
    return out


def _flags(counts: Mapping[str, int], k: int) -> dict[str, bool]:
    cells = [{"code": u, "count": n} for u, n in counts.items()]
    return {c["code"]: c["suppressed"] for c in suppress_1d(cells, "code", values=(), k=k)}


# --- reports ---------------------------------------------------------------------------------

PERIOD, CUMULATIVE = "本期培训人次", "累计培训人次"
AMOUNT_OF = {"本期补贴金额（元）": PERIOD, "累计补贴金额（元）": CUMULATIVE}


def public_report(figures: ReportFigures, k: int) -> ReportFigures:
    """The form of an issued report anyone may read: in each table with person-times, the cells
    (row × this period / cumulative, with the column totals as cells) suppressed by the helper,
    amounts with their counts; a note under the title says what the mark means."""
    tables = tuple(_public_fund_table(_public_shares(_public_table(t, k), figures.skills, k), figures.fund_counts, k)
                   for t in figures.tables)
    note = f"{HIDDEN_MARK} 表示不足{k}人次（笔）或可据以推算者，不予公开（小单元格规则）"
    return replace(figures, tables=tables, note=note, skills=None, fund_counts=None)


SKILLED_SHARE, HIGH_SHARE, UNIT_CODE = "技能劳动者占比", "高技能人才占比", "区划代码"


def _public_shares(table: Table, skills: tuple[tuple[str, int, int], ...] | None, k: int) -> Table:
    """A district table's skill shares, suppressed as /v1/ratios suppresses them (the share and the
    published employed count give the persons): by the skilled and high-skilled persons the shares
    were computed from. A report issued before those counts were kept shows no share at all."""
    if SKILLED_SHARE not in table.headers or HIGH_SHARE not in table.headers:
        return table
    sc, hc, uc = (table.headers.index(h) for h in (SKILLED_SHARE, HIGH_SHARE, UNIT_CODE))
    if skills is None:
        skilled: dict[str, bool] = {}
        high: dict[str, bool] = {}
    else:
        skilled = _flags({u: n for u, n, _ in skills}, k)
        high = _flags({u: n for u, _, n in skills}, k)

    def hide(row: tuple[Any, ...]) -> tuple[Any, ...]:
        s, h = (True, True) if skills is None else (skilled.get(row[uc], False), high.get(row[uc], False))
        cols = ({sc, hc} if s else set()) | ({hc} if h else set())
        return tuple(HIDDEN_MARK if j in cols and v is not None else v for j, v in enumerate(row))

    return replace(table, rows=tuple(hide(r) for r in table.rows))


def _public_fund_table(table: Table, counts: tuple[tuple[str, int, int, int, int], ...] | None, k: int) -> Table:
    """六、资金使用情况: paid by source (本期 and 累计, as `period_hidden`) and the reserved balance by
    source (a 1-D table, its total a cell), each figure by the payments whose money makes it up.
    A report issued before those counts were kept shows no amount."""
    if table.title != FUND_TITLE or table.headers != FUND_HEADERS:
        return table
    if counts is None:
        return replace(table, rows=tuple((r[0], *(HIDDEN_MARK for _ in r[1:])) for r in table.rows))
    of = {name: rest for name, *rest in counts}
    unknown = (1, 1, 1, 1)  # a row without counts (none is issued so) is a small cell
    hidden = period_hidden([(name, *of.get(name, unknown)[:3]) for name, *_ in table.rows], k)
    reserved = [{"row": name, "count": of.get(name, unknown)[3]} for name, *_ in table.rows]
    reserved.append({"row": ALL, "count": sum(c["count"] for c in reserved)})
    hidden |= {(c["row"], FUND_HEADERS[3]) for c in suppress_1d(reserved, "row", values=(), k=k) if c["suppressed"]}
    spans = {1: PERIOD, 2: CUMULATIVE, 3: FUND_HEADERS[3]}
    rows = tuple(tuple(HIDDEN_MARK if j and (row[0], spans[j]) in hidden else v for j, v in enumerate(row))
                 for row in table.rows)
    return replace(table, rows=rows)


def period_hidden(rows: list[tuple[Any, int, int, int]], k: int) -> set[tuple[Any, str]]:
    """Which (row, PERIOD | CUMULATIVE) figures of a report's table to hide, from each row's counts
    (this period, before it, cumulative). The period's and the cumulative figures are one table
    with their column totals as cells: a hidden 本期 hides 累计 (the previous report's 累计 plus
    it) and the reverse. And 累计 minus 本期 is the row before the period, the previous report's
    累计: where that column (a 1-D table with its total) hides a figure, small or beside one, 累计
    goes too (so 本期 with it)."""
    rows = [*rows, (ALL, *(sum(r[i] for r in rows) for i in (1, 2, 3)))]
    before = {c["row"] for c in suppress_1d([{"row": key, "count": b} for key, _, b, _ in rows], "row", values=(), k=k)
              if c["suppressed"]}
    cells = []
    for key, period, _, total in rows:
        cells.append({"row": key, "span": PERIOD, "count": period})
        cells.append({"row": key, "span": CUMULATIVE, "count": RUNNING_HIDDEN if key in before else total})
    return {(c["row"], c["span"]) for c in suppress(cells, dims=("row", "span"), count="count", k=k)
            if c["suppressed"]}


def _public_table(table: Table, k: int) -> Table:
    if PERIOD not in table.headers or CUMULATIVE not in table.headers:
        return table
    p, c = table.headers.index(PERIOD), table.headers.index(CUMULATIVE)
    hidden = period_hidden([(i, int(r[p]), int(r[c]) - int(r[p]), int(r[c])) for i, r in enumerate(table.rows)], k)
    spans = {i: AMOUNT_OF.get(h, h) for i, h in enumerate(table.headers)}
    rows = tuple(tuple(HIDDEN_MARK if (i, spans[j]) in hidden else v for j, v in enumerate(row))
                 for i, row in enumerate(table.rows))
    return replace(table, rows=rows)


# --- fund use (十二) -------------------------------------------------------------------------

FUND_DIMS = ("source", "month")
FundKey = tuple[str, str]  # (source, month), ALL in either
# The public form breaks fund use down by source only (十二: 分账核算), beside the city's figures:
# lines of two dimensions (source and district, district and clause) beside the month's city
# figure leave a lone cell whenever the other cells of the crossing are known to hold no money
# (payments' /v1/fund-use lists which do), and no rule on the table's groups rules that out. One
# dimension is a line × month table whose hidden months are each a line's last published step.
EXACT_ONLY = ("by_district", "by_clause")  # in the exact view only (bureau and auditor tokens)
# A month is published from the second day after it ends: its last payments reach reporting within
# seconds, and a whole day's margin keeps a cut from being read before and after one of them lands.
FUND_SETTLE_DAYS = 2


def fund_cut(as_of: date, today: date) -> date:
    """The public form's cut: the last month end on or before `as_of` that is already settled."""
    day = min(as_of, today - timedelta(days=FUND_SETTLE_DAYS))
    if (day + timedelta(days=1)).day == 1:
        return day
    try:
        return day - timedelta(days=day.day)
    except OverflowError:  # before year 1's first month end: nothing is that old
        return date.min


def fund_table(tally: FundTally, measure: Measure, k: int) -> dict[FundKey, dict[str, Any]]:
    """One measure's public figures as one table: each month's figure of every source and of the
    city is a cell (an answer publishes the city's, and the running totals of two month ends differ
    by a source's), beside the running totals by source up to the cut and the grand total, with `*`
    in the dimension they sum over. Counts are the payments whose money is in the figure
    (funds.py). A running total is hidden from the first hidden month of its line on (an earlier
    cut published the total before it)."""
    cells = _fund_cells(tally, measure)
    # A line with a small month loses its running total at once, so the total (not another month
    # of the line) is the month's complement along the line.
    forced = {(key[0], ALL) for key, c in cells.items() if key[1] != ALL and 0 < abs(c["count"]) < k}
    while True:  # a hidden month hides its line's running total, which may need a complement
        table = [c | {"count": RUNNING_HIDDEN} if key in forced else c for key, c in cells.items()]
        shown = {(c["source"], c["month"]): c
                 for c in suppress(table, dims=FUND_DIMS, count="count", values=("fen",), k=k)}
        more = {(key[0], ALL) for key, c in shown.items() if c["suppressed"] and key[1] != ALL} - forced
        if not more:
            return shown
        forced |= more


RUNNING_HIDDEN = 0.5  # a count the helper takes as small: the running total goes whatever its count


def _fund_cells(tally: FundTally, measure: Measure) -> dict[FundKey, dict[str, Any]]:
    fen: Counter[FundKey] = Counter()  # each line's month figures first, then the running totals
    held: Counter[FundKey] = Counter()
    sums = tally.fen(measure)
    holders = {d: n for (m, d), n in tally.holders.items() if m == measure}
    for dims in sums.keys() | holders.keys():
        month, source = dims[0], dims[1]
        value, n = sums.get(dims, 0), holders.get(dims, 0)
        for key in ((source, month), (ALL, month)):
            fen[key] += value
            held[key] += n
    count: Counter[FundKey] = Counter()
    for (m, month, dim, name), n in tally.month_payments.items():
        if m == measure and dim in (CITY, "source"):
            count[(ALL if dim == CITY else name, month)] += n
    for key in list(fen):
        fen[(key[0], ALL)] += fen[key]
        count[(key[0], ALL)] += held[key]  # the payments holding the measure at the cut
    # money with no payment counted (counts older than the counting) is a small cell
    return {key: dict(zip(FUND_DIMS, key, strict=True)) | {
        "fen": fen[key], "count": max(count[key], 1 if fen[key] else 0)} for key in fen.keys() | count.keys()}


def public_funds(view: Mapping[str, Any], tally: FundTally, k: int) -> dict[str, Any]:
    """`funds.fund_view` of a cut without the EXACT_ONLY parts, each figure null with
    `<measure>_suppressed` where the measure's table hides it (`suppressed`: either is hidden)."""
    tables = {m: fund_table(tally, m, k) for m in MEASURES}

    def hide(row: Mapping[str, Any], key: FundKey) -> dict[str, Any]:
        out = dict(row)
        for m, table in tables.items():
            gone = bool(key in table and table[key]["suppressed"])
            out[f"{m}_suppressed"] = gone
            if gone:
                out[f"{m}_fen"] = None
        return out | {"suppressed": any(out[f"{m}_suppressed"] for m in MEASURES)}

    public = {part: v for part, v in view.items() if part not in EXACT_ONLY}
    return public | {
        "min_cell": k,
        "totals": hide(view["totals"], (ALL, ALL)),
        "by_source": [hide(r, (r["source"], ALL)) for r in view["by_source"]],
        "by_month": [hide(r, (ALL, r["month"])) for r in view["by_month"]],
    }


def exact_funds(view: Mapping[str, Any]) -> dict[str, Any]:
    """The exact view in the public form's shape (`min_cell` null, nothing suppressed)."""
    flags = dict.fromkeys((*(f"{m}_suppressed" for m in MEASURES), "suppressed"), False)
    return dict(view) | {"min_cell": None, "totals": view["totals"] | flags} | {
        part: [r | flags for r in view[part]] for part in ("by_source", "by_district", "by_clause", "by_month")}
