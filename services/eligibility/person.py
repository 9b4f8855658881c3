"""A person's whole state, decided in one pure step: every trigger, in arrival order. No I/O.

The cap of 十三.1 is judged in arrival order (docs/policy.md): the triggers whose current decision
holds a slot (approved, or pending review) are decided first, in the order they arrived, and keep
their slot unless their own facts changed; the others follow in arrival order against the slots
left. A later arrival, whatever its issue date, never pushes an approval out; a revocation or a
reviewer's rejection frees a slot, and the next re-decision gives it to the first cap-rejected
trigger that arrived. `changes` compares the result with what is current.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from . import reasons as rs
from .catalog import CatalogView
from .choice import decide_certificate
from .decision import APPROVED, NEEDS_REVIEW, PENDING, REJECTED, REVERSED, Decision, Reason
from .facts import (
    SAFETY_KINDS,
    ApprenticeYearFacts,
    CertificateFacts,
    LivingAllowanceClaim,
    PersonFacts,
    TrainingClass,
    WorkTrainingClaim,
)
from .limits import PriorApprovals
from .params import ParameterSet
from .projection import FactRecord, snapshot
from .reversal import reverse
from .rules import MISSING_FACT_CODES, PASSING_CODES, add_months
from .triggers import decide_apprentice_year, decide_living_allowance, decide_work_training

CERTIFICATE, APPRENTICE_YEAR, WORK_BASED, CLASS_COMPLETION = (
    "certificate", "apprenticeship_year", "work_based_months", "class_completion")
HOLDING = (APPROVED, NEEDS_REVIEW)


@dataclass(frozen=True, slots=True)
class Completion:
    """A completion record of the person's (class completed, apprenticeship year, 以工代训 months)."""

    class_id: str
    institution_code: str
    completed_on: dt.date
    apprenticeship_year: int | None = None
    months: int | None = None
    credited_hours: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Trigger:
    """One certificate or completion of the person, with its class and when it arrived here."""

    trigger_id: uuid.UUID
    kind: str
    arrival: int
    day: dt.date
    cert: CertificateFacts | None = None
    completion: Completion | None = None
    cls: TrainingClass | None = None
    revoked_on: dt.date | None = None
    district: str | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Held:
    """A current decision as stored; `auto_basis` is set on a reviewer's decision: the automated
    (outcome, amount) it resolved, kept while the automated decision is the same."""

    decision_id: uuid.UUID
    trigger_id: uuid.UUID
    clause: str
    outcome: str
    amount_fen: int
    year: int
    occupation_key: str | None = None
    counts_toward_cap: bool = False
    clauses_cited: tuple[str, ...] = ()
    hire_key: str | None = None
    months: Fraction = Fraction(0)
    auto_basis: tuple[str, int] | None = None
    record: Mapping[str, Any] = field(default_factory=dict)

    @property
    def holds_slot(self) -> bool:
        return self.outcome in HOLDING

    def decision(self) -> Decision:
        """Enough of the stored decision for `reverse()` and the limits."""
        return Decision(self.clause, self.outcome, self.amount_fen, (), (), self.clauses_cited, (),
                        str(self.trigger_id), self.year, self.occupation_key, self.counts_toward_cap,
                        self.hire_key, self.months, payee_kind=self.record.get("payee_kind"),
                        payee_ref=self.record.get("payee_ref"))


Current = Mapping[tuple[uuid.UUID, str], Held]


@dataclass(frozen=True, slots=True)
class PersonState:
    """What the loader read for one person: facts (and the linked relatives' facts, 十三.4),
    triggers, and the decisions currently held."""

    person_key: str
    facts: tuple[FactRecord, ...] = ()
    relatives: Mapping[str, tuple[FactRecord, ...]] = field(default_factory=dict)
    triggers: tuple[Trigger, ...] = ()
    current: Current = field(default_factory=dict)
    today: dt.date | None = None  # the decision day (Nantong); None: no waiting for facts (dry run)


@dataclass(frozen=True, slots=True)
class Decided:
    """A domain decision with what the service stores and sends beside it."""

    trigger_id: uuid.UUID
    trigger_kind: str
    decision: Decision
    district: str | None
    facts_as_of: dt.date
    facts_used: tuple[Mapping[str, Any], ...] = ()
    summary: Mapping[str, Any] = field(default_factory=dict)
    class_id: str | None = None
    institution_code: str | None = None
    target_groups: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)  # a reviewer's record (review.py)


@dataclass
class Changes:
    """New decisions (each with the current one it supersedes) and current ones to retire."""

    new: list[tuple[Decided, Held | None]] = field(default_factory=list)
    retire: list[Held] = field(default_factory=list)

    def extend(self, other: Changes) -> None:
        self.new += other.new
        self.retire += other.retire


def decision_order(state: PersonState) -> list[Trigger]:
    """Slot holders first, then the rest; each group in arrival order."""
    holding = {tid for (tid, _), held in state.current.items() if held.holds_slot}
    ordered = sorted(state.triggers, key=lambda t: (t.arrival, str(t.trigger_id)))
    return [t for t in ordered if t.trigger_id in holding] + [t for t in ordered if t.trigger_id not in holding]


def decide_person(state: PersonState, catalog: CatalogView, params: ParameterSet) -> list[Decided]:
    """Every decision the person's triggers make now (reversals for revoked certificates)."""
    prior, out = PriorApprovals(), []
    used = facts_used(state.facts)
    hours = {c.completion.class_id: c.completion.credited_hours for c in state.triggers
             if c.kind == CLASS_COMPLETION and c.completion is not None}
    for trigger in decision_order(state):
        if trigger.revoked_on is not None:
            out += [_decided(trigger, d, trigger.revoked_on, used) for d in _reversals(trigger, state.current)]
            continue
        got = _decide(trigger, state, catalog, params, prior, hours, used)
        if got is not None:
            out.append(got)
            prior = prior.add(effective(got.decision, state.current.get((trigger.trigger_id, got.decision.clause))))
    return out


def _decide(t: Trigger, state: PersonState, catalog: CatalogView, params: ParameterSet,
            prior: PriorApprovals, hours: Mapping[str, Decimal | None], used: tuple[Mapping[str, Any], ...]
            ) -> Decided | None:
    if t.cert is not None:
        cert = t.cert
        if cert.training_class is not None:
            cert = dataclasses.replace(cert, completed_hours=hours.get(cert.training_class.class_id))
        person = snapshot(state.person_key, state.facts, t.day, state.relatives)
        d = decide_certificate(cert, person, catalog, params, prior)
        until, why = waiting_until(d, cert, state, params)
        if until is not None:
            d = d._replace(outcome=PENDING, amount_fen=0, reasons=why, steps=(), considered=())
            return dataclasses.replace(_decided(t, d, t.day, used, person), extra={"pending_until": until.isoformat()})
        return _decided(t, d, t.day, used, person)
    if t.cls is None or t.completion is None:
        return None  # the class record has not arrived: no level or dates yet
    return _COMPLETIONS[t.kind](t, state, params, prior, used)


# The facts a certificate clause reads about its holder's status (四.2–五.4): with none of them a
# refusal would only say that nothing has arrived yet.
STATUS_FACTS = frozenset({"employment", "registered_unemployment", "unemployment_insurance_months",
                          "pension_insurance_months", "student", "degree_record", "employment_difficulty"})
WAITING_KEY = "waiting.facts_days"  # params.WAITING_KEY


def waiting_until(d: Decision, cert: CertificateFacts, state: PersonState, params: ParameterSet
                  ) -> tuple[dt.date | None, tuple[Reason, ...]]:
    """The last day a refusal waits as `pending`, and why: the registry received the certificate
    less than `waiting.facts_days` ago (read on that day) and either the holder has none of the
    status facts, or a clause tested was refused only for records that have not arrived
    (`rules.MISSING_FACT_CODES`: that refusal would turn into a decision when they do)."""
    if state.today is None or d.outcome != REJECTED or cert.received_on is None:
        return None, ()
    if not any(f.kind in STATUS_FACTS for f in state.facts):
        why: tuple[Reason, ...] = (rs.AWAITING_FACTS,)
    else:
        missing = [r for reasons in (d.reasons, *(c.reasons for c in d.considered)) if (r := _only_missing(reasons))]
        if not missing:
            return None, ()
        why = (rs.AWAITING_RECORD, *dict.fromkeys(x for m in missing for x in m))
    view = params.at(cert.received_on)
    if not view.has(WAITING_KEY):
        return None, ()
    until = cert.received_on + dt.timedelta(days=int(view.get(WAITING_KEY)))
    return (until, why) if state.today <= until else (None, ())


def _only_missing(reasons: Sequence[Reason]) -> tuple[Reason, ...]:
    """The refusal's reasons when every one of them (notes aside) names a record not yet arrived."""
    refusing = [r for r in reasons if r.code not in PASSING_CODES]
    return tuple(refusing) if refusing and all(r.code in MISSING_FACT_CODES for r in refusing) else ()


def _decided(t: Trigger, d: Decision, day: dt.date, used: tuple[Mapping[str, Any], ...],
             person: PersonFacts | None = None) -> Decided:
    cls = t.cls or (t.cert.training_class if t.cert else None)
    return Decided(t.trigger_id, t.kind, d, t.district or (cls.district if cls else None), day, used, t.summary,
                   cls.class_id if cls else None, cls.institution_code if cls else None,
                   target_groups(person, t.cert) if person else ())


def _apprentice(t: Trigger, state: PersonState, params: ParameterSet, prior: PriorApprovals,
                used: tuple[Mapping[str, Any], ...]) -> Decided | None:
    """四.7: the level reached is the apprenticeship class's level."""
    assert t.cls is not None and t.completion is not None
    facts = ApprenticeYearFacts(t.cls.class_id, t.completion.apprenticeship_year or 0, t.cls.level or 0, t.day)
    person = snapshot(state.person_key, state.facts, t.day, state.relatives)
    return _decided(t, decide_apprentice_year(facts, person, t.cls, params, prior), t.day, used, person)


def _work_based(t: Trigger, state: PersonState, params: ParameterSet, prior: PriorApprovals,
                used: tuple[Mapping[str, Any], ...]) -> Decided | None:
    """五.3: `completed_on` is the last day of the months; the employer is the class's enterprise,
    else the person's employer then; insured when the person's contributions are on record."""
    assert t.cls is not None and t.completion is not None
    months = t.completion.months or 0
    start = add_months(t.day, -months) + dt.timedelta(days=1)
    person = snapshot(state.person_key, state.facts, start, state.relatives)
    claim = WorkTrainingClaim(
        claim_id=str(t.trigger_id), employer_id=t.cls.enterprise_code or person.employer_id,
        employer_kind="enterprise", employer_insured=person.ui_contribution_months > 0,
        hire_date=person.hire_date or start, period_start=start, full_months=months)
    return _decided(t, decide_work_training(claim, person, t.cls, params, prior), start, used, person)


def _living_allowance(t: Trigger, state: PersonState, params: ParameterSet, prior: PriorApprovals,
                      used: tuple[Mapping[str, Any], ...]) -> Decided | None:
    """五.2b: only for a person registered unemployed when the course started (or when a decision
    already exists, so a later fact can turn it into a rejection); days are the course's days."""
    assert t.cls is not None
    start, end = t.cls.start_date, t.cls.end_date
    person = snapshot(state.person_key, state.facts, start, state.relatives)
    if not person.registered_unemployed and (t.trigger_id, "五.2b") not in state.current:
        return None
    claim = LivingAllowanceClaim(str(t.trigger_id), t.cls.class_id, start, (end - start).days + 1)
    return _decided(t, decide_living_allowance(claim, person, params, prior), start, used, person)


_COMPLETIONS = {APPRENTICE_YEAR: _apprentice, WORK_BASED: _work_based, CLASS_COMPLETION: _living_allowance}


def target_groups(p: PersonFacts, cert: CertificateFacts | None) -> tuple[str, ...]:
    """The groups of 一(一) a decision counts for in reporting (from the facts on the day)."""
    flags = (("employee", p.employed), ("unemployed", p.registered_unemployed), ("poor", p.poor),
             ("disabled", p.disabled), ("veteran", p.veteran), ("student", p.student_final_two_years),
             ("special_operations", cert is not None and cert.kind in SAFETY_KINDS))
    return tuple(name for name, on in flags if on)


def facts_used(records: Sequence[FactRecord]) -> tuple[Mapping[str, Any], ...]:
    return tuple({"kind": r.kind, "valid_from": r.valid_from.isoformat(),
                  "valid_to": r.valid_to.isoformat() if r.valid_to else None,
                  "attributes": dict(r.attributes)} for r in records)


def kept_review(held: Held | None, d: Decision) -> bool:
    """A reviewer's decision stands while the automated decision it resolved is unchanged."""
    return held is not None and held.auto_basis is not None and held.auto_basis == (d.outcome, d.amount_fen)


def effective(d: Decision, held: Held | None) -> Decision:
    """What a person holds: a reviewer's kept decision overrides the automated one."""
    if not kept_review(held, d):
        return d
    assert held is not None
    return d._replace(outcome=held.outcome, amount_fen=held.amount_fen)


def _reversals(t: Trigger, current: Current) -> list[Decision]:
    mine = [h.decision() for (tid, _), h in current.items() if tid == t.trigger_id and h.holds_slot]
    return reverse(mine) if mine else []


def changes(state: PersonState, decided: Sequence[Decided]) -> Changes:
    """What to store: decisions that differ from the current ones, each superseding the current
    decision of its trigger and clause (or of another clause of the same trigger, which the new
    one replaces, so nothing stale stays current)."""
    out = Changes()
    stale = _stale_clauses(decided, state.current)
    for got in decided:
        d = got.decision
        old = state.current.get((got.trigger_id, d.clause))
        if old is not None and (kept_review(old, d) or (old.outcome == d.outcome and old.amount_fen == d.amount_fen
                                                        and _same_payee(old, d))):
            continue
        old = old or stale.pop(got.trigger_id, None)
        if old is not None:
            out.retire.append(old)
        out.new.append((got, old))
    return out


def _same_payee(old: Held, d: Decision) -> bool:
    if d.outcome == REVERSED:
        return True
    return (old.record.get("payee_kind"), old.record.get("payee_ref")) == (d.payee_kind, d.payee_ref)


def _stale_clauses(decided: Sequence[Decided], current: Current) -> dict[uuid.UUID, Held]:
    """Current decisions of re-decided triggers whose clause the new decisions no longer cover."""
    fresh = {(got.trigger_id, got.decision.clause) for got in decided}
    triggers = {trigger for trigger, _ in fresh}
    return {trigger: held for (trigger, clause), held in current.items()
            if trigger in triggers and (trigger, clause) not in fresh}
