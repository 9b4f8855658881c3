"""The 十三.1 cap in arrival order, through the pure person step (decide_person + changes), with
what the writer stores simulated in memory; and the hypothesis property the issue asks for."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import replace

from elig_builders import CATALOG, PARAMS, D, cert, cert_id, pk
from hypothesis import given, settings
from hypothesis import strategies as st

from services.eligibility import facts as f
from services.eligibility.catalog import CatalogLine, catalog_view
from services.eligibility.person import CERTIFICATE, Changes, Held, PersonState, Trigger, changes, decide_person
from services.eligibility.projection import FactRecord

PERSON = pk("arrivals")
EMPLOYED = FactRecord("employment", D(2018, 1, 1), None, {"employer_code": "91320612MA1N00001G",
                                                           "hire_date": "2018-01-01", "contract_months": 36})
CODES = [f"6-20-01-{i:02d}" for i in range(1, 7)]
WIDE = catalog_view([*CATALOG.standards.get(("6-18-01-01", 4), ()),
                     *(CatalogLine(c, lvl, 120000, 20000, D(2019, 1, 1), None, "t") for c in CODES for lvl in (4, 3))])


def on_the_job(i: int, issued: dt.date, occupation: str, level: int = 4) -> Trigger:
    c = cert(certificate_id=cert_id(f"a{i}"), occupation_code=occupation, level=level, issue_date=issued,
             received_on=issued + dt.timedelta(days=10), training_kind=f.ON_THE_JOB)
    return Trigger(uuid.UUID(c.certificate_id), CERTIFICATE, i, issued, cert=c)


def store(state: PersonState, ch: Changes) -> PersonState:
    """What the writer does to the current decisions, in memory."""
    current = dict(state.current)
    for h in ch.retire:
        current.pop((h.trigger_id, h.clause), None)
    for got, _ in ch.new:
        d = got.decision
        current[(got.trigger_id, d.clause)] = Held(
            uuid.uuid4(), got.trigger_id, d.clause, d.outcome, d.amount_fen, d.year, d.occupation_key,
            d.counts_toward_cap, d.clauses_cited, record={"payee_kind": d.payee_kind, "payee_ref": d.payee_ref,
                                                          "reasons": [r.code for r in d.reasons]})
    return replace(state, current=current)


def step(state: PersonState) -> PersonState:
    return store(state, changes(state, decide_person(state, WIDE, PARAMS)))


def outcomes(state: PersonState) -> dict[uuid.UUID, str]:
    return {tid: h.outcome for (tid, _), h in state.current.items()}


def test_a_certificate_arriving_late_with_an_earlier_issue_date_does_not_push_out_an_approval() -> None:
    state = PersonState(PERSON, (EMPLOYED,))
    for i, month in enumerate((3, 4, 5), start=1):
        state = step(replace(state, triggers=state.triggers + (on_the_job(i, D(2020, month, 1), CODES[i]),)))
    late = on_the_job(4, D(2020, 1, 15), CODES[4])  # issued first, received last
    state = step(replace(state, triggers=state.triggers + (late,)))
    got = outcomes(state)
    assert [got[t.trigger_id] for t in state.triggers] == ["approved", "approved", "approved", "rejected"]
    (held,) = [h for (tid, _), h in state.current.items() if tid == late.trigger_id]
    assert "yearly_cap_reached" in held.record["reasons"]


def test_a_revocation_gives_the_slot_to_the_first_cap_rejected_certificate_that_arrived() -> None:
    state = PersonState(PERSON, (EMPLOYED,))
    days = (D(2020, 6, 1), D(2020, 5, 1), D(2020, 4, 1), D(2020, 3, 1), D(2020, 2, 1))  # later arrivals issued earlier
    for i, day in enumerate(days):
        state = step(replace(state, triggers=state.triggers + (on_the_job(i, day, CODES[i]),)))
    assert list(outcomes(state).values()).count("approved") == 3
    first = state.triggers[0]
    triggers = (replace(first, revoked_on=D(2020, 9, 1)),) + state.triggers[1:]
    state = step(replace(state, triggers=triggers))
    got = outcomes(state)
    assert got[first.trigger_id] == "reversed"
    assert [got[t.trigger_id] for t in state.triggers[1:]] == ["approved", "approved", "approved", "rejected"]


def test_a_slot_holder_keeps_its_slot_when_an_earlier_rejected_certificate_becomes_approvable() -> None:
    """A fact arriving later (the class record that evidences on-the-job training) makes the first
    certificate approvable; the three approvals already held keep their slots."""
    state = PersonState(PERSON, (EMPLOYED,))
    unproven = replace(on_the_job(0, D(2020, 2, 1), CODES[0]), cert=replace(
        on_the_job(0, D(2020, 2, 1), CODES[0]).cert, training_kind=None))  # type: ignore[arg-type]
    state = step(replace(state, triggers=(unproven,)))
    for i in (1, 2, 3):
        state = step(replace(state, triggers=state.triggers + (on_the_job(i, D(2020, 3, i), CODES[i]),)))
    proven = replace(unproven, cert=replace(unproven.cert, training_kind=f.ON_THE_JOB))  # type: ignore[arg-type]
    state = step(replace(state, triggers=(proven,) + state.triggers[1:]))
    got = outcomes(state)
    assert got[proven.trigger_id] == "rejected"
    assert [got[t.trigger_id] for t in state.triggers[1:]] == ["approved"] * 3


# The property: whatever the order and duplication of events, no approved decision turns into a
# rejection because of a later arrival, and no person exceeds the cap or repeats an occupation
# and level. Events: a certificate arrives (or arrives again), a certificate is revoked, a UI
# contributions record arrives (months only grow: a later record of fewer months would change a
# decision on its own merits, which is not what this property is about).
certificates = st.tuples(st.sampled_from(CODES[:4]), st.sampled_from([4, 3]), st.integers(0, 364),
                         st.sampled_from([f.ON_THE_JOB, None]))
events = st.lists(st.one_of(
    st.tuples(st.just("arrive"), st.integers(0, 9)),
    st.tuples(st.just("revoke"), st.integers(0, 9)),
    st.tuples(st.just("insurance"), st.integers(0, 12)),
), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(certificates, min_size=10, max_size=10), events)
def test_no_approval_is_lost_to_a_later_arrival_and_the_cap_and_repeats_always_hold(
        pool: list[tuple[str, int, int, str | None]], script: list[tuple[str, int]]) -> None:
    state = PersonState(PERSON, (EMPLOYED,))
    arrived: dict[int, Trigger] = {}
    months = 0
    for n, (what, arg) in enumerate(script):
        before = {tid: o for tid, o in outcomes(state).items() if o == "approved"}
        if what == "arrive" and arg not in arrived:  # a redelivery keeps the first arrival
            occupation, level, day, kind = pool[arg]
            t = on_the_job(n, D(2020, 1, 1) + dt.timedelta(days=day), occupation, level)
            arrived[arg] = replace(t, trigger_id=uuid.uuid5(uuid.NAMESPACE_URL, f"pool:{arg}"),
                                   cert=replace(t.cert, training_kind=kind))  # type: ignore[arg-type]
        elif what == "revoke" and arg in arrived:
            arrived[arg] = replace(arrived[arg], revoked_on=D(2020, 12, 31))
        elif what == "insurance":
            months += arg
            state = replace(state, facts=state.facts + (FactRecord(
                "unemployment_insurance_months", D(2019, 1, 1) + dt.timedelta(days=n), None, {"months": months}),))
        state = step(replace(state, triggers=tuple(arrived.values())))
        now = outcomes(state)
        revoked = {t.trigger_id for t in arrived.values() if t.revoked_on}
        assert all(now[tid] == "approved" for tid in before if tid not in revoked), (what, arg)
        holding = [h for h in state.current.values() if h.holds_slot and h.counts_toward_cap]
        assert all(c <= 3 for c in Counter(h.year for h in holding).values())
        keys = [h.occupation_key for h in holding]
        assert len(keys) == len(set(keys))
