"""Small cells in public fund use (reporting `GET /v1/funds`, docs/small-cells.md): payments'
events folded as the projection folds them (projections.fold_payments), the public form of a cut
(public.fund_cut, public_funds), and an attacker's arithmetic (tests/recompute.py) on what it
publishes: no base cell (month × source × unit × clause) of fewer than K payments is determined.
The attacker's base-cell counts are worked out here from the flows, not from the counters."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import Iterable
from itertools import count, zip_longest
from typing import Any

import pytest

from services.reporting.funds import FundFlow, FundTally, fund_view
from services.reporting.history import unit_for
from services.reporting.projections import DisbursementEvent, fold_payments
from services.reporting.public import exact_funds, fund_cut, public_funds
from shared.clock import NANTONG
from shared.events import DisbursementDraftedV1, DisbursementStatusChangedV1, Event, new_envelope
from tests.recompute import fund_use_equations, solvable, sums_determined

K = 5
UIS, TALENT = "unemployment_insurance_surplus", "local_talent"
TONGZHOU, QIDONG = "320612", "320681"
TRAINING, DISABLED = "四.4", "四.5"  # 四.5: the disability route, the clause a small cell gives away
_people = count()


class Payment:
    """One disbursement's events as payments emits them, each on a Nantong day."""

    def __init__(self, district: str = TONGZHOU, clause: str = TRAINING, amount_fen: int = 150_000,
                 source: str = UIS) -> None:
        self.id, self.decision = uuid.uuid4(), uuid.uuid4()
        self.person = f"p-{next(_people)}"
        self.fields = {"clause": clause, "amount_fen": amount_fen, "funding_source": source, "district": district}
        self.events: list[DisbursementEvent] = []

    def then(self, status: str, on: dt.date) -> Payment:
        cls = DisbursementStatusChangedV1 if self.events else DisbursementDraftedV1
        payload = cls(disbursement_id=self.id, decision_id=self.decision, person_key=self.person,
                      status=status, **self.fields)
        at = dt.datetime.combine(on, dt.time(10), NANTONG)
        envelope = new_envelope(payload, key=self.person, producer="payments", occurred_at=at)
        self.events.append(Event(envelope, payload))  # type: ignore[arg-type]
        return self

    def paid(self, on: dt.date) -> Payment:
        return self.then("reserved", on).then("approved", on).then("released", on).then("paid", on)


def events_of(payments: Iterable[Payment]) -> list[DisbursementEvent]:
    return [e for p in payments for e in p.events]


def fold(events: list[DisbursementEvent], batch: int | None = None) -> tuple[list[FundFlow], FundTally]:
    """As the projection: in batches of `batch` events, the states carried between them, each
    batch's counters added to the stored ones."""
    states: dict[str, dict[str, Any]] = {}
    flows, total = [], FundTally()
    size = batch or len(events) or 1
    for start in range(0, len(events), size):
        got, tally = fold_payments(events[start:start + size], states, dt.date(2020, 12, 31))
        flows += got
        for mine, theirs in ((total.paid, tally.paid), (total.reserved, tally.reserved),
                             (total.holders, tally.holders), (total.month_payments, tally.month_payments)):
            mine.update(theirs)
    return flows, total


def up_to(tally: FundTally, cut: dt.date) -> FundTally:
    """What queries.load_funds reads for a cut: the counters of months up to the cut's."""
    last = f"{cut:%Y-%m}"
    return FundTally(Counter({d: v for d, v in tally.paid.items() if d[0] <= last}),
                     Counter({d: v for d, v in tally.reserved.items() if d[0] <= last}),
                     Counter({k: v for k, v in tally.holders.items() if k[1][0] <= last}),
                     Counter({k: v for k, v in tally.month_payments.items() if k[1] <= last}))


def public(tally: FundTally, as_of: dt.date, today: dt.date) -> dict[str, Any]:
    cut = fund_cut(as_of, today)
    part = up_to(tally, cut)
    return public_funds(fund_view(part, cut), part, K)


def base_cells(events: list[DisbursementEvent], cut: dt.date) -> dict[tuple[str, ...], tuple[int, int]]:
    """(measure, month, source, unit, clause) -> (fen, payments whose net flow there is not zero)."""
    nets: Counter[tuple[str, ...]] = Counter()
    states: dict[str, dict[str, Any]] = {}
    for e in events:  # each event on its own, to know whose flows they are
        got, _ = fold_payments([e], states, cut)
        for f in got:
            if f.on <= cut:
                key = (f.measure, f"{f.on:%Y-%m}", f.source, unit_for(f.district, cut), f.clause)
                nets[(*key, str(e.payload.disbursement_id))] += f.amount_fen
    cells: dict[tuple[str, ...], tuple[int, int]] = {}
    for key, fen in nets.items():
        value, n = cells.get(key[:5], (0, 0))
        cells[key[:5]] = (value + fen, n + (fen != 0))
    return cells


def small_ones_determined(views: list[dict[str, Any]], cells: dict[tuple[str, ...], tuple[int, int]],
                          events: list[DisbursementEvent] | None = None) -> dict:
    """The cells of fewer than K payments that the published figures determine: base cells, and
    with `events` each month's figure of one source, unit or clause (two month ends' running totals
    differ by it). The attacker knows which cells hold money (`cells`: payments' /v1/fund-use lists
    them), so every other cell is 0."""
    eqs = [eq for v in views for eq in fund_use_equations(v, cells)]
    solved = solvable(eqs, signed=True)
    found: dict[Any, Any] = {c: v for c, v in solved.items() if 0 < cells.get(c, (0, 0))[1] < K}
    lines = {key: members for key, (members, n) in month_lines(cells, events or []).items() if 0 < n < K}
    by_members = {frozenset(m): key for key, m in lines.items()}
    for members in sums_determined(eqs, by_members):
        found[by_members[members]] = "sum"
    return found


def month_lines(cells: dict[tuple[str, ...], tuple[int, int]], events: list[DisbursementEvent]
                ) -> dict[tuple[str, ...], tuple[set[tuple[str, ...]], int]]:
    """(measure, month, slice index, value) -> (its base cells, payments with a non-zero net flow in it)."""
    nets: Counter[tuple[str, ...]] = Counter()
    states: dict[str, dict[str, Any]] = {}
    for e in events:
        got, _ = fold_payments([e], states, dt.date(2020, 12, 31))
        for f in got:
            unit = unit_for(f.district, dt.date(2020, 12, 31))
            for index, value in ((2, f.source), (3, unit), (4, f.clause)):
                nets[(f.measure, f"{f.on:%Y-%m}", str(index), value, str(e.payload.disbursement_id))] += f.amount_fen
    out: dict[tuple[str, ...], tuple[set[tuple[str, ...]], int]] = {}
    for key, fen in nets.items():
        members, n = out.get(key[:4], (set(), 0))
        out[key[:4]] = (members, n + (fen != 0))
    for key, (members, _) in out.items():
        members |= {c for c in cells if c[0] == key[0] and c[1] == key[1] and c[int(key[2])] == key[3]}
    return out


def running_lines(cells: dict[tuple[str, ...], tuple[int, int]], events: list[DisbursementEvent],
                  cuts: Iterable[dt.date]) -> dict[frozenset[tuple[str, ...]], tuple[str, ...]]:
    """The running totals at each cut (of the city and of every source, unit and clause) that hold
    fewer than K payments' money: their base cells -> (measure, cut month, slice index, value)."""
    nets: Counter[tuple[str, ...]] = Counter()
    states: dict[str, dict[str, Any]] = {}
    months = sorted(f"{c:%Y-%m}" for c in cuts)
    for e in events:
        got, _ = fold_payments([e], states, dt.date(2020, 12, 31))
        for f in got:
            unit = unit_for(f.district, dt.date(2020, 12, 31))
            for last in (m for m in months if f"{f.on:%Y-%m}" <= m):
                for index, value in (("0", "*"), ("2", f.source), ("3", unit), ("4", f.clause)):
                    nets[(f.measure, last, index, value, str(e.payload.disbursement_id))] += f.amount_fen
    held: Counter[tuple[str, ...]] = Counter(key[:4] for key, fen in nets.items() if fen)
    return {frozenset(c for c in cells if c[0] == m and c[1] <= last and (i == "0" or c[int(i)] == v)): (m, last, i, v)
            for (m, last, i, v), n in held.items() if n < K}


def nonzero(counts: Counter[Any]) -> dict[Any, int]:
    return {k: v for k, v in counts.items() if v}


AUG, SEP, OCT = dt.date(2020, 8, 31), dt.date(2020, 9, 30), dt.date(2020, 10, 31)
SETTLED_OCT = dt.date(2020, 11, 2)  # the second day after October: every month to October published


def test_a_district_and_clause_cell_of_one_payment_cannot_be_recomputed_from_any_published_figure() -> None:
    # six training subsidies in 通州, one disability-route payment in 启东: its district row, its
    # clause row, and what the others would leave of the city total are all it would take. The
    # public form breaks fund use down by source only.
    payments = [Payment().paid(dt.date(2020, 8, 10)) for _ in range(6)]
    payments.append(Payment(QIDONG, DISABLED, 240_000).paid(dt.date(2020, 8, 12)))
    payments.append(Payment(source=TALENT).paid(dt.date(2020, 8, 13)))
    events = events_of(payments)
    _, tally = fold(events)
    view = public(tally, AUG, SETTLED_OCT)
    assert view["as_of"] == "2020-08-31" and view["min_cell"] == K
    assert "by_district" not in view and "by_clause" not in view
    sources = {r["source"]: r for r in view["by_source"]}
    assert sources[TALENT]["paid_fen"] is None and sources[TALENT]["paid_suppressed"]  # one payment
    assert sources[UIS]["paid_fen"] is None  # beside the published total it would give that one away
    assert view["totals"]["paid_fen"] == 7 * 150_000 + 240_000  # eight payments: published
    cells = base_cells(events, AUG)
    assert cells[("paid", "2020-08", UIS, QIDONG, DISABLED)] == (240_000, 1)
    assert small_ones_determined([view], cells, events) == {}
    # the same arithmetic on the exact figures finds it (so the check can fail)
    exact = exact_funds(fund_view(up_to(tally, AUG), AUG))
    assert ("paid", "2020-08", UIS, QIDONG, DISABLED) in small_ones_determined([exact], cells)


def test_two_breakdowns_beside_the_city_figure_would_leave_a_lone_cell_that_no_group_rule_hides() -> None:
    # why the public form has one breakdown: with 启东's clause 四.4 cell the only money outside
    # 通州 and outside 四.5 (its other cells are known to be empty: payments' /v1/fund-use lists
    # them), the city figure minus 通州's line minus 四.5's line is that one payment, though every
    # line, cell and two-way sum holding it is hidden. Seed 199 of the random histories below.
    events = events_of(random_payments(random.Random(199)))
    _, tally = fold(events)
    views = [public(tally, cut, dt.date(2020, 12, 2)) for cut in (AUG, SEP, OCT, dt.date(2020, 11, 30))]
    cells = base_cells(events, dt.date(2020, 11, 30))
    target = ("paid", "2020-08", UIS, QIDONG, TRAINING)
    assert cells[target] == (150_000, 1)
    assert small_ones_determined(views, cells, events) == {}
    # the two lines a form with district and clause rows published at the August cut (each of five
    # payments, so not small) are all it takes beside the public figures
    august = [c for c in cells if c[:2] == ("paid", "2020-08")]
    lines = [(frozenset(c for c in august if keep(c)), sum(cells[c][0] for c in august if keep(c)))
             for keep in (lambda c: c[3] == TONGZHOU, lambda c: c[4] == DISABLED)]
    eqs = [eq for v in views for eq in fund_use_equations(v, cells)]
    assert target not in solvable(eqs, signed=True)
    assert solvable(eqs + lines, signed=True)[target] == 150_000


def test_one_payment_still_reserved_among_many_settled_ones_is_a_small_cell() -> None:
    # ten reserved and paid in August leave nothing reserved; the eleventh is still reserved, so
    # August's reserved figure and every running total of `reserved` are that one amount
    payments = [Payment().paid(dt.date(2020, 8, 3)) for _ in range(10)]
    payments.append(Payment(QIDONG, DISABLED, 240_000).then("reserved", dt.date(2020, 8, 20)))
    events = events_of(payments)
    _, tally = fold(events)
    assert tally.month_payments[("reserved", "2020-08", "*", "*")] == 1
    assert tally.month_payments[("paid", "2020-08", "*", "*")] == 10
    view = public(tally, AUG, SETTLED_OCT)
    assert view["totals"]["reserved_fen"] is None and view["totals"]["paid_fen"] == 1_500_000
    assert all(r["reserved_fen"] in (None, 0) for part in ("by_source", "by_month") for r in view[part])
    assert small_ones_determined([view], base_cells(events, AUG)) == {}


def test_a_payment_recovered_later_is_counted_where_its_money_moved_and_no_cut_gives_it_away() -> None:
    # 启东's one payment is paid in August and clawed back (十四) in September: each month's `paid`
    # holds its amount (+ and -), its running total is zero from September. The public figures of
    # every month end together (an attacker keeps them all) still determine no small cell.
    payments = [Payment().paid(dt.date(2020, 8, 10)) for _ in range(6)]
    recovered = Payment(QIDONG, DISABLED, 240_000).paid(dt.date(2020, 8, 12)).then("reversed", dt.date(2020, 9, 7))
    later = [Payment(clause="四.2", amount_fen=70_000).paid(dt.date(2020, 10, 9)) for _ in range(5)]
    events = events_of([*payments, recovered, *later])
    _, tally = fold(events)
    assert tally.month_payments[("paid", "2020-09", "*", "*")] == 1  # the recovery alone: a small cell
    views = [public(tally, cut, SETTLED_OCT) for cut in (AUG, SEP, OCT)]
    sep = {r["month"]: r for r in views[1]["by_month"]}
    assert sep["2020-09"]["paid_fen"] is None and sep["2020-08"]["paid_fen"] == 6 * 150_000 + 240_000
    assert small_ones_determined(views, base_cells(events, OCT), events) == {}


def test_two_month_ends_do_not_differ_by_one_payment_of_a_source() -> None:
    # 地方人才经费 had six payments in August and gets one (the disability route) in September: its
    # running total at the end of September minus the one at the end of August would be that payment
    payments = [Payment(QIDONG, source=TALENT).paid(dt.date(2020, 8, 10)) for _ in range(6)]
    payments += [Payment().paid(dt.date(2020, 8, 11)) for _ in range(6)]
    payments += [Payment().paid(dt.date(2020, 9, 11)) for _ in range(6)]
    payments.append(Payment(QIDONG, DISABLED, 240_000, TALENT).paid(dt.date(2020, 9, 14)))
    events = events_of(payments)
    _, tally = fold(events)
    aug, sep = public(tally, AUG, SETTLED_OCT), public(tally, SEP, SETTLED_OCT)
    talent = [{r["source"]: r["paid_fen"] for r in v["by_source"]}[TALENT] for v in (aug, sep)]
    assert talent[0] == 6 * 150_000 and talent[1] is None  # hidden from its first hidden month on
    assert small_ones_determined([aug, sep], base_cells(events, SEP), events) == {}


def test_the_public_cut_is_the_last_month_end_settled_by_a_full_day() -> None:
    assert fund_cut(dt.date(2020, 9, 15), dt.date(2020, 9, 20)) == AUG  # mid-month: the month before
    assert fund_cut(SEP, dt.date(2020, 10, 1)) == AUG  # the day after: not yet settled
    assert fund_cut(SEP, dt.date(2020, 10, 2)) == SEP
    assert fund_cut(dt.date(2030, 1, 1), dt.date(2020, 10, 2)) == SEP  # a day not yet come
    assert fund_cut(dt.date(2020, 3, 15), dt.date(2020, 10, 2)) == dt.date(2020, 2, 29)
    assert fund_cut(dt.date(1, 1, 15), dt.date(2020, 10, 2)) == dt.date.min


def test_todays_public_figures_are_yesterdays_while_the_month_runs() -> None:
    # the difference between two days' live figures is those days' payments: one payment on 10
    # September must not show between the 9th's answer and the 11th's
    before = [Payment().paid(dt.date(2020, 8, 10)) for _ in range(6)]
    one = Payment(QIDONG, DISABLED, 240_000).paid(dt.date(2020, 9, 10))
    _, yesterday = fold(events_of(before))
    _, today = fold(events_of([*before, one]))
    assert public(yesterday, dt.date(2020, 9, 9), dt.date(2020, 9, 9)) == \
        public(today, dt.date(2020, 9, 11), dt.date(2020, 9, 11)) | {"as_of": "2020-08-31"}
    assert fund_view(up_to(today, dt.date(2020, 9, 11)), dt.date(2020, 9, 11))["totals"]["paid_fen"] == \
        6 * 150_000 + 240_000  # staff see it at once


@pytest.mark.parametrize("batch", [1, 2, 3, 7])
def test_counts_do_not_depend_on_how_payments_interleave_or_fall_into_batches(batch: int) -> None:
    payments = [Payment().paid(dt.date(2020, 8, 10)) for _ in range(3)]
    payments.append(Payment(QIDONG, DISABLED, 240_000).paid(dt.date(2020, 8, 12)).then("reversed", dt.date(2020, 9, 1)))
    payments.append(Payment(source=TALENT).then("waiting", dt.date(2020, 8, 1)).then("reserved", dt.date(2020, 9, 3)))
    one_by_one = events_of(payments)
    interleaved = [e for group in zip_longest(*(p.events for p in payments)) for e in group if e is not None]
    _, expected = fold(one_by_one)
    _, got = fold(interleaved, batch)
    assert (got.paid, got.reserved, got.month_payments) == (expected.paid, expected.reserved, expected.month_payments)
    assert nonzero(got.holders) == nonzero(expected.holders)
    assert expected.month_payments[("reserved", "2020-09", "source", TALENT)] == 1  # the waiting one, reserved


def random_payments(rng: random.Random) -> list[Payment]:
    """Payments over three months in three units, three clauses and two sources: most paid, some
    still reserved, some recovered a month later, some waiting before they are reserved."""
    out = []
    for _ in range(rng.randint(8, 40)):
        p = Payment(rng.choice([TONGZHOU, TONGZHOU, QIDONG, "320602"]),
                    rng.choice([TRAINING, TRAINING, DISABLED, "四.2"]),
                    rng.choice([150_000, 240_000, 70_000]), rng.choice([UIS, UIS, TALENT]))
        month = rng.randint(8, 10)
        day = dt.date(2020, month, rng.randint(1, 28))
        fate = rng.random()
        if fate < 0.15:
            p.then("waiting", day).then("reserved", day + dt.timedelta(days=rng.choice([1, 31])))
        elif fate < 0.3:
            p.then("reserved", day)
        else:
            p.paid(day)
            if fate > 0.9:
                p.then("reversed", day + dt.timedelta(days=31))
        out.append(p)
    return out


@pytest.mark.parametrize("seed", range(300))
def test_random_payment_histories_keep_every_small_cell_hidden_across_month_ends(seed: int) -> None:
    # the attacker keeps the answers of four month ends and knows which cells hold money
    # (payments' /v1/fund-use lists them): no cell, and no month's line of a source, unit or
    # clause, of fewer than K payments is determined (with three breakdowns, seeds 199, 227 and
    # 247 gave one away)
    events = events_of(random_payments(random.Random(seed)))
    _, tally = fold(events)
    cuts = (AUG, SEP, OCT, dt.date(2020, 11, 30))
    views = [public(tally, cut, dt.date(2020, 12, 2)) for cut in cuts]
    cells = base_cells(events, dt.date(2020, 11, 30))
    assert small_ones_determined(views, cells, events) == {}
    # nor a running total at any cut (of the city, a source, unit or clause) of fewer than K payments
    lines = running_lines(cells, events, cuts)
    assert [lines[t] for t in sums_determined([eq for v in views for eq in fund_use_equations(v, cells)], lines)] == []
