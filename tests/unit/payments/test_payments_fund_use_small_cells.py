"""Payments' live money as an attacker keeps it day by day (services/payments/fund_use.py).

`GET /v1/fund-use` and `GET /v1/funds` answer live figures. An attacker who saves the public answer
every day knows, for each day, the published cells; the unknowns are the money each cell took on
each day it took any (the attacker knows which cells hold money: every other one is 0, the
strongest case). A payment is given away when the arithmetic (tests/recompute.py) determines one
day's money of a cell that took fewer than K payments that day.

The forms before this change give payments away: each day's spent cells suppressed on their own
in a few random histories (a cell published at 5 payments one day and at 6 the next), live
balances per source and district in every one; the public form now
(allocations only, no live money) in none, and the staff's exact form in all of them, so the
check can fail.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable
from typing import Any

from services.payments.fund_use import fund_use_answer, funds_row
from shared.disclosure import suppress
from tests.recompute import Equation, solvable

K = 5
SOURCES = ("unemployment_insurance_surplus", "local_talent")
DISTRICTS = ("320612", "320681")
CLAUSES = {"四.4": 150_000, "五.2b": 90_000}  # each its standard (五.2b: low-income living allowance)
START = dt.date(2020, 8, 16)
DAYS = 24  # into September: two months' cells, cells crossing the threshold from day to day

Cell = tuple[str, str, str, str]  # source, district, clause, month
Payment = tuple[dt.date, Cell, int]


def history(seed: int) -> list[Payment]:
    rnd = random.Random(seed)
    out = []
    for day in (START + dt.timedelta(days=i) for i in range(DAYS)):
        for _ in range(rnd.choice((0, 1, 2, 3, 4, 6))):
            clause = rnd.choice(list(CLAUSES))
            out.append((day, (rnd.choice(SOURCES), rnd.choice(DISTRICTS), clause, f"{day:%Y-%m}"), CLAUSES[clause]))
    return out


def spent_rows(payments: list[Payment], day: dt.date) -> list[dict[str, Any]]:
    """What FUND_USE_SQL returns on `day`: each cell's money and payments up to then."""
    money: Counter[Cell] = Counter()
    n: Counter[Cell] = Counter()
    for paid_on, cell, amount in payments:
        if paid_on <= day:
            money[cell] += amount
            n[cell] += 1
    return [{"source": s, "district": d, "clause": c, "month": m, "spent_fen": money[s, d, c, m],
             "payments": n[s, d, c, m]} for (s, d, c, m) in sorted(money)]


def funds_cells(payments: list[Payment], day: dt.date) -> list[dict[str, Any]]:
    """The funds table on `day` (balance after 1,000,000 fen allocated to each fund, nothing reserved)."""
    spent: Counter[tuple[str, str]] = Counter()
    for paid_on, (s, d, _, _), amount in payments:
        if paid_on <= day:
            spent[s, d] += amount
    return [{"source": s, "district": d, "balance_fen": 1_000_000 - spent[s, d], "reserved_fen": 0,
             "available_fen": 1_000_000 - spent[s, d], "waiting": 0} for s in SOURCES for d in DISTRICTS]


def fund_use_before(payments: list[Payment], day: dt.date) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The public fund use as it was: spent cells suppressed each day on their own (no balances)."""
    cells = suppress(spent_rows(payments, day), dims=("source", "district", "clause", "month"),
                     count="payments", values=("spent_fen",), k=K)
    return {"spent": cells}, []


def balances_before(payments: list[Payment], day: dt.date) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The public funds as they were: live balances per source and district (no fund use)."""
    return {"spent": None}, funds_cells(payments, day)


def now(exact: bool) -> Callable[[list[Payment], dt.date], tuple[dict[str, Any], list[dict[str, Any]]]]:
    def answer(payments: list[Payment], day: dt.date) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        use = fund_use_answer(2020, spent_rows(payments, day) if exact else [], [], exact=exact, k=K)
        return use, [funds_row(c, exact=exact) for c in funds_cells(payments, day)]
    return answer


def daily_equations(payments: list[Payment], answers: Callable[[list[Payment], dt.date],
                    tuple[dict[str, Any], list[dict[str, Any]]]]) -> list[Equation]:
    """Every figure the attacker saved, as a sum of (cell, day) unknowns."""
    held = sorted({(cell, day) for day, cell, _ in payments})
    eqs: list[Equation] = []
    for day in (START + dt.timedelta(days=i) for i in range(DAYS)):
        use, funds = answers(payments, day)
        for row in use["spent"] or []:
            if row["spent_fen"] is not None:
                cell = (row["source"], row["district"], row["clause"], row["month"])
                eqs.append((frozenset(u for u in held if u[0] == cell and u[1] <= day), row["spent_fen"]))
        for row in funds:
            if row["balance_fen"] is not None:  # the money spent from the fund is 1,000,000 - balance
                eqs.append((frozenset(u for u in held if u[0][:2] == (row["source"], row["district"])
                                      and u[1] <= day), 1_000_000 - row["balance_fen"]))
    return eqs


def payments_given_away(payments: list[Payment], answers: Callable[..., Any]) -> list[Hashable]:
    per_day = Counter((cell, day) for day, cell, _ in payments)
    solved = solvable(daily_equations(payments, answers))
    return [u for u, value in solved.items() if value and 0 < per_day[u] < K]


def test_each_day_suppressed_on_its_own_and_live_balances_gave_payments_away_and_the_public_form_gives_none() -> None:
    seeds = range(100)
    leaks: dict[str, int] = defaultdict(int)
    for seed in seeds:
        payments = history(seed)
        leaks["fund-use before"] += bool(payments_given_away(payments, fund_use_before))
        leaks["balances before"] += bool(payments_given_away(payments, balances_before))
        assert payments_given_away(payments, now(exact=False)) == [], seed
        leaks["exact"] += bool(payments_given_away(payments, now(exact=True)))
    print(f"histories giving a payment away, of {len(seeds)}: {dict(leaks)}")
    assert leaks["exact"] == len(seeds)  # the attack finds payments when the figures are there
    # measured: the spent cells alone gave a payment away in 2 of these 100, the balances in all
    assert leaks["fund-use before"] > 0 and leaks["balances before"] == len(seeds)


def test_the_public_fund_use_names_where_spending_is_published_and_keeps_the_allocations() -> None:
    allocated = [{"source": SOURCES[0], "district": DISTRICTS[0], "month": "2020-08", "allocated_fen": 1_000_000}]
    public = fund_use_answer(2020, [], allocated, exact=False, k=K)
    assert public == {"year": 2020, "min_cell": K, "spent": None, "spent_suppressed": True,
                      "spent_published_by": "reporting GET /v1/funds",
                      "allocated": [allocated[0] | {"allocated_yuan": "10000.00"}]}
    rows = spent_rows(history(1), START + dt.timedelta(days=DAYS))
    staff = fund_use_answer(2020, rows, allocated, exact=True, k=K)
    assert staff["min_cell"] is None and [r["spent_fen"] for r in staff["spent"]] == [r["spent_fen"] for r in rows]
    row = funds_row({"source": "s", "district": "d", "balance_fen": 5, "reserved_fen": 1, "available_fen": 4,
                     "waiting": None, "suppressed": True}, exact=False)
    assert (row["balance_fen"], row["reserved_fen"], row["available_fen"], row["money_suppressed"]) == (
        None, None, None, True) and row["suppressed"] is True
