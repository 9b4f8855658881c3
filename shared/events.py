"""The event contract: one envelope, versioned payload models per event type.

Every event is keyed by the person it concerns (`person_key`, a keyed hash of the resident ID:
never the ID itself), so one person's events stay in order on one partition. A payload change
that breaks readers is a new version; readers name the versions they understand.
The catalogue is documented in docs/events.md and README.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

TOPICS = ("registry.events", "eligibility.events", "payments.events", "reporting.events")


class Envelope(BaseModel):
    """What travels on the bus. `payload` is validated against the model for (type, version)."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID
    type: str
    version: int = Field(ge=1)
    occurred_at: datetime
    producer: str
    key: str
    payload: dict[str, Any]

    @property
    def topic(self) -> str:
        return topic_for(self.type)

    def parsed(self) -> Payload:
        """The payload as its registered model. An unknown (type, version) raises UnknownEvent;
        a payload that does not fit its model raises pydantic's ValidationError."""
        model = PAYLOADS.get((self.type, self.version))
        if model is None:
            raise UnknownEvent(f"unknown event type {self.type!r} version {self.version}")
        return model.model_validate(self.payload)

    def typed(self) -> Event[Payload]:
        """This envelope with its payload parsed once into its model (what handlers receive)."""
        return Event(self, self.parsed())


class UnknownEvent(LookupError):
    """No payload model is registered for an envelope's (type, version)."""


class Payload(BaseModel):
    """Base of every payload model. Subclasses set TYPE and VERSION."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    TYPE: ClassVar[str]
    VERSION: ClassVar[int]


PAYLOADS: dict[tuple[str, int], type[Payload]] = {}


def event(cls: type[Payload]) -> type[Payload]:
    """Register a payload model under its (TYPE, VERSION)."""
    PAYLOADS[(cls.TYPE, cls.VERSION)] = cls
    return cls


def producer_of(event_type: str) -> str:
    """The only service that may publish `event_type`: its first segment (`registry.…`)."""
    return event_type.split(".", 1)[0]


def topic_for(event_type: str) -> str:
    """`registry.certificate.issued` travels on `registry.events`, its producer's topic."""
    return f"{producer_of(event_type)}.events"


P = TypeVar("P", bound=Payload)


@dataclass(frozen=True, slots=True)
class Event(Generic[P]):
    """A received envelope with its payload validated into its versioned model, once, by the
    inbox. Handlers read `payload` attributes (dates and UUIDs already typed), never dicts."""

    envelope: Envelope
    payload: P

    @property
    def event_id(self) -> uuid.UUID:
        return self.envelope.event_id

    @property
    def key(self) -> str:
        return self.envelope.key

    @property
    def occurred_at(self) -> datetime:
        return self.envelope.occurred_at


def new_envelope(
    payload: Payload,
    *,
    key: str,
    producer: str,
    event_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Wrap a payload. Pass a deterministic `event_id` where a retry must produce the same event."""
    return Envelope(
        event_id=event_id or uuid.uuid4(),
        type=payload.TYPE,
        version=payload.VERSION,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=producer,
        key=key,
        payload=payload.model_dump(mode="json"),
    )


def derived_event_id(namespace: str, *parts: object) -> uuid.UUID:
    """A stable id for an event caused by other facts, so replays produce the same id."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"skillsub:{namespace}:" + ":".join(map(str, parts)))


# ---------------------------------------------------------------- registry.* (producer: registry)


@event
class CertificateIssuedV1(Payload):
    TYPE: ClassVar[str] = "registry.certificate.issued"
    VERSION: ClassVar[int] = 1
    certificate_id: uuid.UUID
    person_key: str
    number: str
    kind: str
    occupation_code: str | None
    occupation_edition: str | None = None
    level: int | None = Field(default=None, ge=1, le=5)
    issue_date: date
    issuer_code: str
    issued_in_nantong: bool
    district: str | None = None
    class_id: uuid.UUID | None = None
    training_kind: str | None = None
    training_start_date: date | None = None


@event
class CertificateRevokedV1(Payload):
    TYPE: ClassVar[str] = "registry.certificate.revoked"
    VERSION: ClassVar[int] = 1
    certificate_id: uuid.UUID
    person_key: str
    revoked_on: date
    reason: str


@event
class PersonFactRecordedV1(Payload):
    """A dated fact about a person from a government feeder; never overwrites, supersedes by date."""

    TYPE: ClassVar[str] = "registry.person.fact_recorded"
    VERSION: ClassVar[int] = 1
    fact_id: uuid.UUID
    person_key: str
    kind: str
    valid_from: date
    valid_to: date | None = None
    source: str
    attributes: dict[str, Any] = Field(default_factory=dict)


@event
class PersonRegisteredV1(Payload):
    TYPE: ClassVar[str] = "registry.person.registered"
    VERSION: ClassVar[int] = 1
    person_key: str
    district: str | None
    birth_date: date
    sex: str


@event
class CatalogStandardPublishedV1(Payload):
    """One row of a Catalog version: the standards for an occupation and level from a date."""

    TYPE: ClassVar[str] = "registry.catalog.standard_published"
    VERSION: ClassVar[int] = 1
    catalog_version: str
    occupation_code: str
    occupation_edition: str
    occupation_name: str
    level: int | None = Field(default=None, ge=1, le=5)
    kind: str | None = None
    training_fen: int = Field(ge=0)
    appraisal_fen: int = Field(ge=0)
    valid_from: date
    valid_to: date | None = None


@event
class ShortageListPublishedV1(Payload):
    TYPE: ClassVar[str] = "registry.catalog.shortage_list_published"
    VERSION: ClassVar[int] = 1
    list_version: str
    list_kind: str  # "market" (市场紧缺职业) or "provincial_high_skill"
    year: int
    occupation_codes: list[str]


# ------------------------------------------------------------- eligibility.* (producer: eligibility)


class AmountStep(BaseModel):
    model_config = ConfigDict(frozen=True)
    description: str
    value: str


@event
class SubsidyDecidedV1(Payload):
    """A decision for one clause on one trigger. A later decision with the same trigger and clause
    supersedes it (`supersedes`); amounts are fen, negative for reversals."""

    TYPE: ClassVar[str] = "eligibility.subsidy.decided"
    VERSION: ClassVar[int] = 1
    decision_id: uuid.UUID
    person_key: str
    trigger_id: uuid.UUID
    trigger_kind: str
    clause: str
    outcome: str  # approved | rejected | needs_review | reversed
    amount_fen: int
    clauses_cited: list[str]
    reasons: list[str] = Field(default_factory=list)
    decided_on: date
    year: int
    district: str | None = None
    occupation_code: str | None = None
    level: int | None = None
    payee_kind: str = "worker"
    payee_ref: str | None = None
    target_groups: list[str] = Field(default_factory=list)
    supersedes: uuid.UUID | None = None
    parameter_versions: list[str] = Field(default_factory=list)
    department: str | None = None  # the trigger's class's 行业主管部门, when the class names one
    class_id: uuid.UUID | None = None  # the trigger's training class (十三.5 plans settle by class)
    institution_id: str | None = None  # that class's institution: unified social credit code


# ------------------------------------------------------------------ payments.* (producer: payments)


@event
class DisbursementDraftedV1(Payload):
    TYPE: ClassVar[str] = "payments.disbursement.drafted"
    VERSION: ClassVar[int] = 1
    disbursement_id: uuid.UUID
    decision_id: uuid.UUID
    person_key: str
    clause: str
    amount_fen: int
    funding_source: str
    district: str | None
    status: str  # reserved | waiting


@event
class DisbursementStatusChangedV1(Payload):
    TYPE: ClassVar[str] = "payments.disbursement.status_changed"
    VERSION: ClassVar[int] = 1
    disbursement_id: uuid.UUID
    decision_id: uuid.UUID
    person_key: str
    clause: str
    amount_fen: int
    funding_source: str
    district: str | None
    status: str  # approved | released | paid | failed | cancelled | reversed


# ------------------------------------------- registry.* (producer: registry) — institutions, classes


@event
class InstitutionRecordedV1(Payload):
    """An institution listed or changed (九, 十七); keyed by its credit code. A later one supersedes."""

    TYPE: ClassVar[str] = "registry.institution.recorded"
    VERSION: ClassVar[int] = 1
    credit_code: str
    name: str
    kind: str
    district: str
    listed_from: date
    listed_to: date | None = None
    credit_code_warning: str | None = None


@event
class TrainingClassRecordedV1(Payload):
    """A training class opened or changed; keyed by class id. A later one supersedes."""

    TYPE: ClassVar[str] = "registry.training_class.recorded"
    VERSION: ClassVar[int] = 1
    class_id: uuid.UUID
    institution_id: str
    class_code: str
    kind: str
    occupation_code: str | None = None
    occupation_edition: str | None = None
    level: int | None = Field(default=None, ge=1, le=5)
    start_date: date
    end_date: date
    planned_trainees: int = Field(ge=0)
    enrolled_trainees: int = Field(ge=0)
    hours: int = Field(ge=0)
    online_hours: int = Field(ge=0)
    district: str | None = None
    department: str | None = None  # 行业主管部门 (shared/departments.py); none: 人社局


@event
class PayeeAccountRecordedV1(Payload):
    """A payee's payment account, set by its authority: the employment service for a worker's
    social-security card, the bureau for an enterprise's or institution's bank account. The number
    travels encrypted (shared/pii.py blob, base64) beside its masked form; keyed by payee_ref, and
    the highest revision is the account in force."""

    TYPE: ClassVar[str] = "registry.payee_account.recorded"
    VERSION: ClassVar[int] = 1
    payee_kind: str  # worker | enterprise | institution
    payee_ref: str  # person_key (worker) or unified social credit code
    account_kind: str  # social_security_card | bank_account
    account_cipher: str
    account_masked: str
    account_name: str | None = None  # 户名 of an enterprise or institution account; none for a worker
    bank_name: str | None = None
    revision: int = Field(ge=1)
    recorded_on: date


@event
class TrainingPlanRecordedV1(Payload):
    """A project-based training plan (项目制培训) the bureau approved: its institution is paid the
    十三.5 advance from it and settled from the decisions for the class's completers. Keyed by plan
    id; the highest revision is the plan in force."""

    TYPE: ClassVar[str] = "registry.training_plan.recorded"
    VERSION: ClassVar[int] = 1
    plan_id: uuid.UUID
    plan_code: str
    institution_id: str  # unified social credit code of the institution (or enterprise) paid
    payee_kind: str  # institution | enterprise
    class_id: uuid.UUID
    clause: str
    district: str
    occupation_code: str | None = None
    occupation_edition: str | None = None
    level: int | None = Field(default=None, ge=1, le=5)
    planned_headcount: int = Field(ge=1)
    standard_per_head_fen: int = Field(ge=1)  # per trainee and year
    years: int = Field(ge=1, le=5)
    start_date: date
    end_date: date
    revision: int = Field(ge=1)


class _CompletionBase(Payload):
    completion_id: uuid.UUID
    person_key: str
    class_id: uuid.UUID
    institution_id: str
    class_kind: str
    completed_on: date


@event
class ClassCompletedV1(_CompletionBase):
    TYPE: ClassVar[str] = "registry.training.class_completed"
    VERSION: ClassVar[int] = 1
    hours: int | None = None
    online_hours: int | None = None


@event
class OrderClassCompletedV1(_CompletionBase):
    """四.1: an order class (订单班) completed by the trainee."""

    TYPE: ClassVar[str] = "registry.training.order_class_completed"
    VERSION: ClassVar[int] = 1
    hours: int | None = None
    online_hours: int | None = None


@event
class ApprenticeshipYearCompletedV1(_CompletionBase):
    """四.7: one year of new-type apprenticeship (企业新型学徒制) completed."""

    TYPE: ClassVar[str] = "registry.training.apprenticeship_year_completed"
    VERSION: ClassVar[int] = 1
    apprenticeship_year: int = Field(ge=1, le=3)


@event
class WorkBasedTrainingMonthsRecordedV1(_CompletionBase):
    """五.3: months of 以工代训 completed (completed_on is the last day of the period)."""

    TYPE: ClassVar[str] = "registry.training.work_based_months_recorded"
    VERSION: ClassVar[int] = 1
    months: int = Field(ge=1, le=12)


# ---------------------------------------------------------------- reporting.* (producer: reporting)


@event
class SpecialReportRaisedV1(Payload):
    """重大情况专报 (十六): a target fell behind its straight-line path by more than the margin.
    Keyed and identified by `key` ("T1:2020Q3"): raised once per target and quarter."""

    TYPE: ClassVar[str] = "reporting.special_report.raised"
    VERSION: ClassVar[int] = 1
    key: str
    target_id: str
    clause: str
    title_zh: str
    on: date
    actual: float
    expected: float
    goal: float
    gap: float
