"""Request and response schemas of the registry API (validated at the edge)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from services.registry import payee_rules
from services.registry.domain import CertificateKind, EntrepreneurshipProject, FactKind, Feeder, TrainingClassKind
from shared.departments import Department
from shared.ids import InvalidResidentId, credit_code_division, parse_resident_id
from shared.places import in_nantong

OccupationCode = Annotated[str, Field(pattern=r"^\d-\d{2}-\d{2}-\d{2}$", examples=["6-18-01-01"])]
CreditCode = Annotated[str, Field(min_length=18, max_length=18, description="GB 32100 credit code")]
District = Annotated[str, Field(min_length=6, max_length=16, examples=["320612"])]
Name = Annotated[str, Field(min_length=2, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


def checked_resident_id(value: str) -> str:
    try:
        return parse_resident_id(value).number
    except InvalidResidentId as exc:
        raise ValueError(f"invalid resident ID: {exc.reason}") from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CertificateCreate(_Strict):
    """A certificate pushed by the institution or evaluation body that issued it."""

    number: str = Field(min_length=4, max_length=64)
    kind: CertificateKind
    resident_id: str = Field(min_length=18, max_length=18, description="GB 11643 resident ID")
    occupation_code: OccupationCode | None = None
    occupation_edition: Literal["2015", "2022"] = "2015"
    level: int | None = Field(default=None, ge=1, le=5)
    issue_date: date
    issuer_code: CreditCode
    issued_in_nantong: bool | None = Field(
        default=None, validate_default=True,
        description="derived from issuer_code (its characters 3-8 name the division where the issuer is "
        "registered; Nantong is 3206xx); a value that disagrees is refused")
    district: str | None = Field(default=None, max_length=16)
    class_id: uuid.UUID | None = None
    training_kind: str | None = Field(default=None, max_length=32)
    training_start_date: date | None = None
    operation_category: str | None = Field(
        default=None, max_length=4, description="特种作业 category (1-11, e.g. 1 电工作业); special operations only")
    operation_item: str | None = Field(
        default=None, max_length=8, description="特种作业 item (1.2 低压电工作业) or the 作业项目 code of a "
        "special-equipment (N1, Q2) or safety-management (A, B, C) certificate")
    project_type: EntrepreneurshipProject | None = Field(default=None, description="五.4 training project")
    holder_name: str | None = Field(
        default=None, min_length=2, max_length=20, pattern=r"^[\u3400-\u9fff\u00b7·A-Za-z ]+$",
        description="the holder's name as on the certificate; only its masked 公示 form is kept")

    _rid = field_validator("resident_id")(classmethod(lambda cls, v: checked_resident_id(v)))

    @field_validator("issuer_code")
    @classmethod
    def _issuer_division(cls, v: str) -> str:
        if credit_code_division(v) is None:
            raise ValueError("not a GB 32100 credit code: characters 3-8 must be the issuer's division code")
        return v

    @field_validator("issued_in_nantong")
    @classmethod
    def _issued_where_the_issuer_is(cls, v: bool | None, info: ValidationInfo) -> bool | None:
        """十三.2 "在我市获证": the issuer's registration division decides, never a default."""
        issuer = info.data.get("issuer_code")
        if issuer is None:
            return v  # issuer_code was refused: that error names it
        division = credit_code_division(issuer)
        assert division is not None  # _issuer_division checked it
        derived = in_nantong(division)
        if v is not None and v != derived:
            raise ValueError(f"contradicts issuer_code, registered in division {division}")
        return derived


class HistoricCertificateCreate(CertificateCreate):
    """A certificate of earlier years migrated by the bureau, with the day the bureau's earlier
    system received it (the application window runs to that day, not to the import)."""

    received_on: date = Field(description="the original receipt day (Asia/Shanghai), from the earlier system")

    @model_validator(mode="after")
    def _received_after_issue(self) -> HistoricCertificateCreate:
        if self.received_on < self.issue_date:
            raise ValueError("received_on is before issue_date")
        return self


class CertificateRead(BaseModel):
    certificate_id: uuid.UUID
    number: str
    kind: str
    person_key: str
    resident_id_masked: str
    resident_id: str | None = Field(default=None, description="only for callers granted ID sight")
    occupation_code: str | None
    level: int | None
    issue_date: date
    issued_in_nantong: bool
    issuer_code: str | None = None
    received_on: date | None = Field(default=None, description="the day the registry first received it")
    operation_category: str | None = None
    operation_item: str | None = None
    project_type: str | None = None
    revoked_on: date | None = None
    warnings: list[str] = Field(default_factory=list)


class RevokeRequest(_Strict):
    revoked_on: date
    reason: str = Field(min_length=2, max_length=500)


class FactCreate(_Strict):
    """A dated fact from a government feeder. Never overwrites: a later record supersedes by date."""

    resident_id: str = Field(min_length=18, max_length=18)
    kind: FactKind
    valid_from: date
    valid_to: date | None = None
    source: str | None = Field(default=None, max_length=64, description="defaults to the caller's feeder")
    attributes: dict[str, str | int | bool | None] = Field(default_factory=dict)

    _rid = field_validator("resident_id")(classmethod(lambda cls, v: checked_resident_id(v)))

    @model_validator(mode="after")
    def _dates_in_order(self) -> FactCreate:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class FactRead(BaseModel):
    fact_id: uuid.UUID
    person_key: str
    kind: str
    valid_from: date
    valid_to: date | None


class PersonCreate(_Strict):
    resident_id: str = Field(min_length=18, max_length=18)
    district: District | None = None

    _rid = field_validator("resident_id")(classmethod(lambda cls, v: checked_resident_id(v)))


class StandardRow(_Strict):
    occupation_code: OccupationCode
    occupation_edition: Literal["2015", "2022"] = "2015"
    occupation_name: str = Field(min_length=1, max_length=100)
    level: int | None = Field(default=None, ge=1, le=5)
    kind: CertificateKind | None = None
    training_fen: int = Field(ge=0)
    appraisal_fen: int = Field(ge=0)
    valid_from: date
    valid_to: date | None = None


class CatalogVersionCreate(_Strict):
    catalog_version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    standards: list[StandardRow] = Field(min_length=1, max_length=20000)


InstitutionKind = Literal["training", "evaluation", "enterprise", "college", "technical_school"]


class InstitutionCreate(_Strict):
    credit_code: CreditCode
    name: str = Field(min_length=2, max_length=200)
    kind: InstitutionKind
    district: District
    listed_from: date
    listed_to: date | None = None


class ClassCreate(_Strict):
    institution_id: CreditCode
    class_code: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    kind: TrainingClassKind
    occupation_code: OccupationCode | None = None
    occupation_edition: Literal["2015", "2022"] | None = None
    level: int | None = Field(default=None, ge=1, le=5)
    start_date: date
    end_date: date
    planned_trainees: int = Field(ge=0, le=100000)
    enrolled_trainees: int = Field(ge=0, le=100000)
    hours: int = Field(ge=0, le=10000, description="classroom hours")
    online_hours: int = Field(default=0, ge=0, le=10000)
    required_hours: int | None = Field(
        default=None, ge=0, le=10000, description="规定课时 in credit hours; default: classroom hours + online "
        "hours x the online ratio in force on the end date")
    district: District | None = None
    department: Department | None = Field(
        default=None, description="行业主管部门 organising the class; none: 人社局, which aggregates all training")
    enterprise_code: CreditCode | None = Field(
        default=None, description="the enterprise that runs the class (GB 32100): required for an order class "
        "(四.1 pays it, not the college); the employer of apprentices (四.7) or of 以工代训 (五.3)")

    @model_validator(mode="after")
    def _dates_in_order(self) -> ClassCreate:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


CompletionKind = Literal["class_completed", "apprenticeship_year_completed", "work_based_months",
                         "order_class_completed"]


class CompletionCreate(_Strict):
    kind: CompletionKind
    resident_id: str = Field(min_length=18, max_length=18)
    class_id: uuid.UUID
    completed_on: date
    apprenticeship_year: int | None = Field(default=None, ge=1, le=3)
    months: int | None = Field(default=None, ge=1, le=12)
    hours: int | None = Field(default=None, ge=0, le=10000)
    online_hours: int | None = Field(default=None, ge=0, le=10000)

    _rid = field_validator("resident_id")(classmethod(lambda cls, v: checked_resident_id(v)))


class ClientCreate(_Strict):
    client_id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")
    role: Literal["institution", "feeder", "bureau", "district", "auditor", "hr", "finance", "security_admin"]
    institution_id: CreditCode | None = None
    feeder: Feeder | None = None
    districts: list[District] = Field(default_factory=list, max_length=20)
    may_see_ids: bool = False
    description: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _scope_fits_role(self) -> ClientCreate:
        if (self.role == "institution") != (self.institution_id is not None):
            raise ValueError("institution_id is required for, and only for, institution clients")
        if (self.role == "feeder") != (self.feeder is not None):
            raise ValueError("feeder is required for, and only for, feeder clients")
        if self.role == "district" and not self.districts:
            raise ValueError("district clients need at least one district")
        if self.may_see_ids and self.role not in ("bureau", "auditor"):
            raise ValueError("only bureau and auditor clients may see resident IDs")
        return self


class PayeeAccountCreate(BaseModel):
    """A worker is named by resident ID (the registry keeps only its keyed hash), an enterprise or
    institution by its credit code. Workers are paid to their social-security card, organisations
    to a bank account in their name."""

    model_config = ConfigDict(extra="forbid")
    payee_kind: payee_rules.PayeeKind
    resident_id: str | None = Field(default=None, min_length=18, max_length=18)
    credit_code: CreditCode | None = None
    account_kind: payee_rules.AccountKind
    account_number: str = Field(min_length=8, max_length=32, description="digits only; stored encrypted")
    account_name: Name | None = Field(default=None, description="户名: an organisation's account name")
    bank_name: Name | None = None

    _rid = field_validator("resident_id")(classmethod(lambda cls, v: v and checked_resident_id(v)))

    @model_validator(mode="after")
    def _names_the_payee_once(self) -> PayeeAccountCreate:
        worker = self.payee_kind is payee_rules.PayeeKind.WORKER
        if worker and (self.resident_id is None or self.credit_code is not None):
            raise ValueError("a worker is named by resident_id alone")
        if not worker and (self.credit_code is None or self.resident_id is not None):
            raise ValueError("an enterprise or institution is named by credit_code alone")
        if not worker and self.account_name is None:
            raise ValueError("an organisation's bank account needs its account_name")
        if worker and self.account_name is not None:
            raise ValueError("a worker's card carries no account_name here (personal data)")
        return self
