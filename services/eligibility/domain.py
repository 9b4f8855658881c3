"""Eligibility domain, the public face: the pure decide functions and the values they read.

Nothing here does I/O. `decide_person` decides a person's whole state (person.py);
`decide_certificate` one certificate against every clause it matches (rules.py), which is what
dry run and what-if call; `decide_order_class_state` an order class (四.1, per class).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from .catalog import CatalogLine, CatalogView, EditionMap, YearList, catalog_view
from .choice import decide_certificate, matching, primary, repeat_key
from .decision import APPROVED, NEEDS_REVIEW, OUTCOMES, REJECTED, REVERSED, Considered, Decision, Reason, Step
from .facts import CertificateFacts, OrderClassFacts, PersonFacts, TrainingClass
from .limits import PriorApproval, PriorApprovals
from .params import ParameterSet
from .person import Changes, Decided, Held, PersonState, Trigger, changes, decide_person
from .reversal import reverse
from .rules import CLAUSE_KEYS
from .triggers import (
    TRIGGER_KEYS,
    decide_apprentice_year,
    decide_living_allowance,
    decide_order_class,
    decide_work_training,
)

ORDER_CLASS = "order_class"


@dataclass(frozen=True, slots=True)
class OrderClassState:
    """四.1 for one order class: its record, the distinct persons who completed it, and the
    decision currently held for it."""

    class_id: uuid.UUID
    cls: TrainingClass | None
    trainees: int
    last_completed: dt.date | None
    current: dict[tuple[uuid.UUID, str], Held] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return order_class_key(self.class_id)


def order_class_key(class_id: uuid.UUID) -> str:
    """The subject an order class's decisions are stored under (they concern no one person)."""
    return f"order-class:{class_id}"


def decide_order_class_state(state: OrderClassState, params: ParameterSet) -> Changes:
    """The order class's decision now, compared with the one held."""
    if state.cls is None or not state.trainees or state.last_completed is None:
        return Changes()
    facts = OrderClassFacts(str(state.class_id), state.cls.enterprise_code, state.trainees,
                            max(state.cls.end_date, state.last_completed))
    d = decide_order_class(facts, state.cls, params)
    summary = {"type": ORDER_CLASS, "class_id": str(state.class_id), "institution_id": state.cls.institution_code,
               "trainees": state.trainees} | ({"department": state.cls.department} if state.cls.department else {})
    got = Decided(state.class_id, ORDER_CLASS, d, state.cls.district, facts.completion_date, (), summary,
                  state.cls.class_id, state.cls.institution_code)
    return changes(PersonState(state.key, current=state.current), [got])


__all__ = [
    "APPROVED", "CLAUSE_KEYS", "NEEDS_REVIEW", "OUTCOMES", "REJECTED", "REVERSED", "TRIGGER_KEYS",
    "CatalogLine", "CatalogView", "CertificateFacts", "Changes", "Considered", "Decided", "Decision",
    "EditionMap", "Held", "OrderClassState", "PersonFacts", "PersonState", "PriorApproval", "PriorApprovals",
    "Reason", "Step", "Trigger", "YearList", "catalog_view", "changes", "decide_apprentice_year",
    "decide_certificate", "decide_living_allowance", "decide_order_class", "decide_order_class_state",
    "decide_person", "decide_work_training", "matching", "order_class_key", "primary", "repeat_key", "reverse",
]
