"""Who is paid: the dated payee table (parameter `payee.kind`) and the party it names. Pure.

RULES.md "who is paid": the worker for 四.2–四.5, 五.2, 六 (and 五.2b, 五.4); the enterprise for 四.1
(the enterprise running the order class, not the college), 四.7 (the apprentice's employer) and 五.3
(the employer), and for pre-job training the employer organised itself where the bureau sets
"四.2/enterprise_organised" to enterprise; the institution for project-based training (项目制).
The reference is never guessed: a worker is named by person_key; an enterprise or institution by
the credit code the records give, or None (payments then holds the decision with a named reason).
"""

from __future__ import annotations

from .facts import PRE_JOB, PROJECT_BASED, PersonFacts, TrainingClass
from .params import ParamView

WORKER, ENTERPRISE, INSTITUTION = "worker", "enterprise", "institution"
ENTERPRISE_ORGANISED = "四.2/enterprise_organised"


def payee_kind(clause: str, view: ParamView, cls: TrainingClass | None, employer: str | None) -> str:
    """The kind of payee the table in force names for this clause and training (memoised per day)."""
    memo_key = ("payee", clause, cls.kind if cls is not None else None,
                clause == "四.2" and _enterprise_organised(cls, employer))
    found = view.memo.get(memo_key)
    if found is None:
        found = view.memo[memo_key] = _kind(view.get("payee.kind"), *memo_key[1:])
    return str(found)


def _kind(table: dict[str, str], clause: str, class_kind: str | None, organised: bool) -> str:
    if class_kind == PROJECT_BASED and PROJECT_BASED in table:
        return table[PROJECT_BASED]
    if organised and ENTERPRISE_ORGANISED in table:
        return table[ENTERPRISE_ORGANISED]
    return table[clause]


def _enterprise_organised(cls: TrainingClass | None, employer: str | None) -> bool:
    """单位组织的岗前职业技能培训: a pre-job class the worker's own employer runs."""
    return cls is not None and cls.kind == PRE_JOB and cls.enterprise_code is not None \
        and cls.enterprise_code == employer


def payee(clause: str, view: ParamView, person: PersonFacts, cls: TrainingClass | None) -> tuple[str, str | None]:
    """(payee kind, reference): the worker's person_key, or a credit code, or None when unknown."""
    kind = payee_kind(clause, view, cls, person.employer_id)
    if kind == WORKER:
        return kind, person.person_id
    if kind == INSTITUTION:
        return kind, cls.institution_code if cls is not None else None
    return kind, enterprise_of(clause, cls, person.employer_id)


def enterprise_of(clause: str, cls: TrainingClass | None, employer: str | None) -> str | None:
    """四.1: the class's enterprise only (never the college); 四.7 and the rest: the class's
    enterprise, else the employer on record; 五.3: the employer."""
    named = cls.enterprise_code if cls is not None else None
    if clause == "四.1":
        return named
    if clause == "五.3":
        return employer or named
    return named or employer
