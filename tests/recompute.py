"""An attacker's arithmetic on published figures: which hidden cells can be solved exactly.

Each published figure is an equation: a set of base cells (e.g. person-times of one unit in one
quarter) and the sum it shows. Counts are not negative, so a published zero makes each of its cells
zero; then Gaussian elimination over the rationals: a cell is solved when the equations' row space
holds it alone. Used by the small-cell tests (unit and security) to show a suppressed cell cannot
be recomputed from the others or from totals.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from fractions import Fraction

Equation = tuple[frozenset[Hashable], int]


def solvable(equations: Iterable[Equation], *, signed: bool = False) -> dict[Hashable, Fraction]:
    """Every base cell the equations determine, with its value. `signed`: cells may be negative
    (a month's net flow of money), so a zero sum says nothing of its cells one by one."""
    eqs = [(set(cells), Fraction(value)) for cells, value in equations]
    known: dict[Hashable, Fraction] = {}
    while True:
        before = len(known)
        if not signed:
            _zeros(eqs, known)
        _eliminate(eqs, known)
        if len(known) == before:
            return known


def _zeros(eqs: list[tuple[set[Hashable], Fraction]], known: dict[Hashable, Fraction]) -> None:
    for cells, value in eqs:
        rest = cells - known.keys()
        if rest and value - sum(known[c] for c in cells & known.keys()) == 0:
            known.update(dict.fromkeys(rest, Fraction(0)))


def _eliminate(eqs: list[tuple[set[Hashable], Fraction]], known: dict[Hashable, Fraction]) -> None:
    columns = sorted({c for cells, _ in eqs for c in cells} - known.keys(), key=repr)
    index = {c: i for i, c in enumerate(columns)}
    rows = []
    for cells, value in eqs:
        row = [Fraction(0)] * (len(columns) + 1)
        for c in cells:
            if c in index:
                row[index[c]] = Fraction(1)
        row[-1] = value - sum(known[c] for c in cells & known.keys())
        if any(row[:-1]):
            rows.append(row)
    for pivot_row in _rref(rows, len(columns)):
        nonzero = [i for i, v in enumerate(pivot_row[:-1]) if v]
        if len(nonzero) == 1:
            known[columns[nonzero[0]]] = pivot_row[-1] / pivot_row[nonzero[0]]


def _rref(rows: list[list[Fraction]], width: int) -> list[list[Fraction]]:
    r = 0
    for col in range(width):
        pivot = next((i for i in range(r, len(rows)) if rows[i][col]), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        lead = rows[r][col]
        rows[r] = [v / lead for v in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][col]:
                factor = rows[i][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[r], strict=True)]
        r += 1
    return rows[:r]


def progress_equations(progress: dict, units: Iterable[str], quarters: Iterable[str]) -> list[Equation]:
    """What public `/v1/progress` says about person-times by (unit, quarter)."""
    units, quarters = list(units), list(quarters)
    detail = progress["person_times_detail"]
    every = frozenset((u, q) for u in units for q in quarters)
    eqs: list[Equation] = [(every, progress["person_times"])]
    for r in detail["by_district"]:
        if r["count"] is not None:
            eqs.append((frozenset((r["code"], q) for q in quarters), r["count"]))
    for r in detail["by_year"]:
        if r["count"] is not None:
            eqs.append((frozenset((u, q) for u in units for q in quarters if q[:4] == str(r["year"])), r["count"]))
    for r in detail["by_quarter"]:
        if r["count"] is not None:
            eqs.append((frozenset((u, r["quarter"]) for u in units), r["count"]))
        if r["cumulative"] is not None:
            eqs.append((frozenset((u, q) for u in units for q in quarters if q <= r["quarter"]), r["cumulative"]))
    return eqs


def districts_equations(districts: dict, quarters: Iterable[str]) -> list[Equation]:
    """What public `/v1/districts` says: the rows' person-times and each unit's trend line."""
    quarters = list(quarters)
    eqs: list[Equation] = []
    for r in districts["districts"]:
        if r["person_times"] is not None:
            eqs.append((frozenset((r["code"], q) for q in quarters), r["person_times"]))
    labels = districts["trend"]["quarters"]
    for s in districts["trend"]["series"]:
        for label, point in zip(labels, s["cumulative"], strict=True):
            if point is not None:
                eqs.append((frozenset((s["code"], q) for q in quarters if q <= label), point))
    return eqs


def funds_equations(funds: list[dict], totals: dict) -> list[Equation]:
    """What public payments `/v1/funds` and `/v1/funds/totals` say of the waiting queue: each fund's
    count (source, district) and the total over all funds."""
    eqs: list[Equation] = [(frozenset([(f["source"], f["district"])]), f["waiting"])
                           for f in funds if f["waiting"] is not None]
    if totals["waiting"] is not None:
        eqs.append((frozenset((f["source"], f["district"]) for f in funds), totals["waiting"]))
    return eqs


FUND_PARTS = (("by_source", 2, "source"), ("by_district", 3, "code"), ("by_clause", 4, "clause"),
              ("by_month", 1, "month"))


def fund_use_equations(view: dict, cells: Iterable[tuple]) -> list[Equation]:
    """What reporting `/v1/funds` says of its base cells (measure, month, source, unit, clause):
    every figure not null (the totals, each row of by_source, by_district, by_clause, by_month)
    is the sum of the cells of its measure that it covers, up to the answer's cut. The cells are
    net flows of money, which can be negative: solve them with `signed=True`."""
    last = view["as_of"][:7]  # the answer's figures run to its cut's month
    cells = [c for c in cells if c[1] <= last]
    eqs: list[Equation] = []
    for measure in ("paid", "reserved"):
        mine = [c for c in cells if c[0] == measure]
        if view["totals"][f"{measure}_fen"] is not None:
            eqs.append((frozenset(mine), view["totals"][f"{measure}_fen"]))
        for part, index, key in FUND_PARTS:
            for row in view.get(part, []):  # the public form has by_source and by_month only
                if row[f"{measure}_fen"] is not None:
                    eqs.append((frozenset(c for c in mine if c[index] == row[key]), row[f"{measure}_fen"]))
    return eqs


def sums_determined(equations: Iterable[Equation], targets: Iterable[frozenset[Hashable]]) -> list[frozenset[Hashable]]:
    """Which of the `targets` (sets of base cells, such as one unit's cells of one month) the
    equations determine as a sum: its row lies in their row space. For signed cells (no zero rule)."""
    eqs = list(equations)
    columns = sorted({c for cells, _ in eqs for c in cells} | {c for t in targets for c in t}, key=repr)
    index = {c: i for i, c in enumerate(columns)}

    def row(cells: Iterable[Hashable]) -> list[Fraction]:
        out = [Fraction(0)] * (len(columns) + 1)
        for c in cells:
            out[index[c]] = Fraction(1)
        return out

    basis = _rref([row(cells) for cells, _ in eqs], len(columns))
    pivots = [(next(i for i, v in enumerate(r[:-1]) if v), r) for r in basis]
    found = []
    for target in targets:
        t = row(target)
        for col, r in pivots:
            if t[col]:
                factor = t[col]
                t = [a - factor * b for a, b in zip(t, r, strict=True)]
        if not any(t[:-1]):
            found.append(target)
    return found
