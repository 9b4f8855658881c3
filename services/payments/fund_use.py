"""Who reads the special account's money exactly, and what the public reads of it (pure: no I/O).

Payments' figures are live: each draft, release and treasury answer moves a balance, a reservation
and a fund-use cell at once. A reader who keeps two days' answers sees one payment as their
difference, and a subsidy's amount is a standard that names its clause (五.2b's living allowance
goes to employment-difficulty persons and low-income households). Suppressing each day's cells on
its own (shared/disclosure.py) does not stop that: a cell published at 5 payments one day and 6
the next is the sixth payment exactly, and a live balance per source and district moves by each
payment. In random histories checked day by day (tests/unit/payments/
test_payments_fund_use_small_cells.py) the spent cells gave a payment away in 2 of 100, the
balances in all 100. So the public reads no live money here:

- `GET /v1/fund-use`: the money allocated to the account (拨入: budget decisions, no person) by
  source, district and month, published whole; what was spent is published by reporting's
  `GET /v1/funds`, by source and city-wide at settled month ends with its own small-cell rules
  (docs/small-cells.md). `spent` is null for the public.
- `GET /v1/funds`: per source and district, the waiting queue suppressed as before; balance,
  reserved and available null (`money_suppressed`).

hr, finance, bureau and auditor tokens (the staff who list the disbursements themselves) read
both exact. Other roles' tokens are not for payments (shared/auth.py ROLE_AUDIENCES: refused, 401);
without a token anyone reads the public form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.money import fen_to_yuan

EXACT_READERS = frozenset({"hr", "finance", "bureau", "auditor"})
SPENT_PUBLISHED_BY = "reporting GET /v1/funds"
MONEY = ("balance_fen", "reserved_fen", "available_fen")


def reads_exact(role: str | None) -> bool:
    """Whether a reader of this role (None: no token) reads the live money exactly."""
    return role in EXACT_READERS


def fund_use_answer(year: int | None, spent: Iterable[Mapping[str, Any]],
                    allocated: Iterable[Mapping[str, Any]], *, exact: bool, k: int) -> dict[str, Any]:
    """The /v1/fund-use body: `spent` cells (source × district × clause × month) for exact readers,
    null for the public; `allocated` for everyone; `min_cell` the threshold the public form
    applies (null when exact)."""
    money_in = [dict(r) | {"allocated_yuan": fen_to_yuan(r["allocated_fen"])} for r in allocated]
    if not exact:
        return {"year": year, "min_cell": k, "spent": None, "spent_suppressed": True,
                "spent_published_by": SPENT_PUBLISHED_BY, "allocated": money_in}
    return {"year": year, "min_cell": None, "spent_suppressed": False,
            "spent": [dict(r) | {"spent_yuan": fen_to_yuan(r["spent_fen"]), "suppressed": False} for r in spent],
            "allocated": money_in}


def funds_row(cell: Mapping[str, Any], *, exact: bool) -> dict[str, Any]:
    """One /v1/funds row (its `waiting` already suppressed or not): the public form without money."""
    row = dict(cell)
    if exact:
        return row | {"money_suppressed": False}
    return row | dict.fromkeys(MONEY) | {"money_suppressed": True}
