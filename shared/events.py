"""The event contract: one envelope, versioned payload models per event type.

Every event is keyed by the person it concerns (`person_key`, a keyed hash of the resident ID:
never the ID itself), so one person's events stay in order on one partition. A payload change
that breaks readers is a new version; readers name the versions they understand.
The catalogue is documented in docs/events.md and README.md.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Generic, Literal, TypeVar

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

    @classmethod
    def upcast(cls: type[P], old: Payload, **added: Any) -> P:
        """A newer version of `old`, for a reader that keeps one shape: every field of the older
        version carried over, the added ones given (a reader's stated default for old events)."""
        return cls.model_validate(old.model_dump() | added)


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
    # Every field is ours and the payload comes from its model: no second validation (bulk
    # imports build one envelope per row; validating them again cost a third of the bulk path).
    return Envelope.model_construct(
        event_id=event_id or uuid.uuid4(),
        type=payload.TYPE,
        version=payload.VERSION,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=producer,
        key=key,
        payload=payload.model_dump(mode="json"),
    )


StagedEvent = tuple[str, str, str, str]  # an outbox row: event id, topic, key, envelope JSON


def staged(envelopes: Iterable[Envelope]) -> list[StagedEvent]:
    """The outbox row of each envelope, as shared.outbox stages it (built here, without I/O, so a
    bulk import's worker process can build them beside the database writes)."""
    return [(str(e.event_id), e.topic, e.key, e.model_dump_json()) for e in envelopes]


def derived_event_id(namespace: str, *parts: object) -> uuid.UUID:
    """A stable id for an event caused by other facts, so replays produce the same id:
    uuid5(NAMESPACE_URL, "skillsub:<namespace>:<parts joined by :>"), with the namespace's SHA-1
    prefix hashed once (uuid.uuid5 rehashes it every call: a third of the cost in bulk imports)."""
    h = _namespace_hash(namespace).copy()
    h.update(":".join(map(str, parts)).encode())
    return uuid.UUID(bytes=h.digest()[:16], version=5)


@functools.lru_cache(maxsize=64)
def _namespace_hash(namespace: str) -> Any:
    return hashlib.sha1(uuid.NAMESPACE_URL.bytes + f"skillsub:{namespace}:".encode(), usedforsecurity=False)


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
class CertificateIssuedV2(CertificateIssuedV1):
    """V1 plus what every condition of eligibility reads: the day the registry received the
    certificate (Asia/Shanghai; the application window runs from the issue date to it), the
    special-operations category and item (特种作业目录: category "1" 电工作业, item "1.2" 低压电工作业;
    the 作业项目 code of a special-equipment or safety-management certificate) and the 五.4 training
    project type. Those identify a certificate that has no occupation code for 十三.1."""

    VERSION: ClassVar[int] = 2
    received_on: date = Field(description="the registry's receipt day (Asia/Shanghai)")
    operation_category: str | None = Field(default=None, description="特种作业 category / 作业类别")
    operation_item: str | None = Field(default=None, description="特种作业 item / 作业项目 code")
    project_type: Literal["syb", "simulation", "online_entrepreneurship", "entrepreneur_upgrade"] | None = Field(
        default=None, description="五.4 training project: SYB, 创业模拟实训, 网络创业培训, 创业者能力提升")


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
    """A dated fact about a person from a government feeder; never overwrites, supersedes by date.
    Attributes by kind (services/registry/fact_contract.py): employment {employer_code (GB 32100:
    characters 3-8 say where the employer is registered), hire_date, contract_months?, open_ended?,
    employer_in_nantong (only for a code that is not a credit code)}; unemployment_insurance_months
    {months}; pension_insurance_months {months, insured_region (参保地 division code) or
    insured_in_nantong}; disability {severity};
    family_link {relative_person_key, relation} (十三.4: the feeder names the relative by resident ID,
    the registry sends the relative's person_key); student {expected_graduation};
    provincial_subsidy_received {certificate_number}; degree_record {certificate_number, study_mode,
    education_level?} (四.5b, from the education feeder); monthly_pension_entitlement,
    drawing_monthly_pension (十三.3) and the other kinds carry nothing and hold while valid."""

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
class TraineeContactRecordedV1(Payload):
    """A contact detail a trainee gave an institution (the phone number or the bank account on the
    application form), as a keyed digest only (shared.pii.contact_hash): the raw value never leaves
    the registry's request. Many trainees sharing one digest is a fraud signal (十四)."""

    TYPE: ClassVar[str] = "registry.trainee.contact_recorded"
    VERSION: ClassVar[int] = 1
    person_key: str
    institution_code: str
    contact_kind: Literal["phone", "bank_account"]
    digest: str = Field(min_length=64, max_length=64, description="keyed HMAC-SHA256, hex")
    recorded_on: date = Field(description="the registry's receipt day (Asia/Shanghai)")


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
class CatalogStandardPublishedV2(CatalogStandardPublishedV1):
    """V1 plus when the registry published the version: where a later version carries a line for
    the same occupation, edition, level and kind, the latest published wins on the days it covers."""

    VERSION: ClassVar[int] = 2
    published_at: datetime


@event
class ShortageListPublishedV1(Payload):
    TYPE: ClassVar[str] = "registry.catalog.shortage_list_published"
    VERSION: ClassVar[int] = 1
    list_version: str
    list_kind: str  # "market" (市场紧缺职业) or "provincial_high_skill"
    year: int
    occupation_codes: list[str]


class OccupationRef(BaseModel):
    """An occupation code with the edition of the classification (职业分类大典 2015 or 2022)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str
    edition: Literal["2015", "2022"]


@event
class ShortageListPublishedV2(Payload):
    """One list (market 市场紧缺职业 or provincial_high_skill) for one year. A later published version
    of the same kind and year replaces the earlier one whole (a correction can remove an occupation)."""

    TYPE: ClassVar[str] = "registry.catalog.shortage_list_published"
    VERSION: ClassVar[int] = 2
    list_version: str
    list_kind: Literal["market", "provincial_high_skill"]
    year: int
    occupations: list[OccupationRef]
    published_at: datetime


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


PayeeKind = Literal["worker", "enterprise", "institution"]


@event
class SubsidyDecidedV2(SubsidyDecidedV1):
    """V1 with the payee always named and the references used. `payee_kind` comes from
    eligibility's dated payee table (parameter `payee.kind`): worker for 四.2–四.5, 五.2, 五.2b, 五.4,
    六; enterprise for 四.1 (the enterprise running the order class, not the college), 四.7 (the
    apprentice's employer / the class's enterprise), 五.3 (the employer) and enterprise-organised
    pre-job training where the bureau so sets it; institution for project-based training (项目制).
    `payee_ref` is the worker's person_key or the enterprise's / institution's GB 32100 credit code;
    it is null when the facts do not name that enterprise or institution, never the worker in its
    stead (payments holds such a decision with a named reason). `class_id` is the trigger's class
    and `institution_code` the credit code of the institution that ran it, so payments can match
    decisions to a project-based training plan's completers (十三.5). `catalog_line` and
    `shortage_list` name the Catalog line and the shortage-list version the amount used."""

    VERSION: ClassVar[int] = 2
    payee_kind: PayeeKind  # type: ignore[assignment]
    payee_ref: str | None
    class_id: uuid.UUID | None = None
    institution_code: str | None = None
    occupation_edition: str | None = None
    catalog_line: str | None = None
    shortage_list: str | None = None


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


@event
class TrainingClassRecordedV2(TrainingClassRecordedV1):
    """V1 plus the enterprise that runs the class (订单班's enterprise, apprentices' employer, the
    employer of 以工代训; GB 32100 credit code) and the class's required hours (规定课时, credit hours:
    classroom hours + online hours × the online ratio unless the institution states them)."""

    VERSION: ClassVar[int] = 2
    enterprise_code: str | None = None
    required_hours: Decimal | None = Field(default=None, ge=0, description="规定课时; the registry always sends it")


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
class ClassCompletedV2(ClassCompletedV1):
    """V1 plus the credit hours the trainee completed (classroom + online × the registry's online
    ratio on the completion day; null when the institution sent no hours): 五.2 "学完规定课时"
    compares them with the class's required hours."""

    VERSION: ClassVar[int] = 2
    credited_hours: Decimal | None = None


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


# ---------------------------------------------------------------- <service>.audit.* (every producer)


class AuditCheckpointed(Payload):
    """The head of the producer's audit chain (shared/audit.py), published at a fixed interval and
    recorded by the services that consume the topic, outside the producer's database: a chain cut
    short or rewritten no longer matches it (`skillsub audit-verify`). Keyed `audit`."""

    seq: int = Field(ge=1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    at: datetime


def _checkpointed(service: str) -> type[AuditCheckpointed]:
    """`<service>.audit.checkpointed` v1: one model per producer, so each travels on its own topic."""
    name = f"{service.title()}AuditCheckpointedV1"
    cls = type(name, (AuditCheckpointed,), {"__doc__": AuditCheckpointed.__doc__, "__module__": __name__,
                                            "TYPE": f"{service}.audit.checkpointed", "VERSION": 1})
    event(cls)
    return cls


AUDIT_CHECKPOINTS: dict[str, type[AuditCheckpointed]] = {
    s: _checkpointed(s) for s in ("registry", "eligibility", "payments", "reporting")}
