"""The facts a decision reads: frozen values, built by the loader from eligibility's projection.

Nothing here does I/O. `PersonFacts` is a snapshot of one person's dated facts as of one day
(normally the certificate's issue date); `CertificateFacts` is a certificate with the records that
complete it (its class, the person's completion of that class); the Catalog and the yearly lists
are in `catalog.py`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType

# The nine certificate kinds of the plan (RULES.md).
VOCATIONAL_QUALIFICATION = "vocational_qualification"  # 职业资格证书
SKILL_LEVEL = "skill_level"  # 职业技能等级证书
SPECIAL_ABILITY = "special_ability"  # 专项职业能力证书
TRAINING_COMPLETION = "training_completion"  # 培训合格证书
SPECIAL_OPERATIONS = "special_operations"  # 特种作业操作证
SPECIAL_EQUIPMENT = "special_equipment"  # 特种设备作业人员证
SAFETY_MANAGEMENT = "safety_management"  # 安管人员考核合格证书
ENTREPRENEURSHIP = "entrepreneurship"  # 创业培训合格证书 (SYB)
DEGREE = "degree"  # 学历证书 大专及以上
CERTIFICATE_KINDS = frozenset({
    VOCATIONAL_QUALIFICATION, SKILL_LEVEL, SPECIAL_ABILITY, TRAINING_COMPLETION,
    SPECIAL_OPERATIONS, SPECIAL_EQUIPMENT, SAFETY_MANAGEMENT, ENTREPRENEURSHIP, DEGREE,
})
LEVELLED_KINDS = frozenset({VOCATIONAL_QUALIFICATION, SKILL_LEVEL})
SAFETY_KINDS = frozenset({SPECIAL_OPERATIONS, SPECIAL_EQUIPMENT, SAFETY_MANAGEMENT})  # 六

# Which programme the training behind a certificate belonged to: evidence, never the router.
# The certificate's `training_kind` or its class's kind (registry TrainingClassKind) says it.
PRE_JOB = "pre_job"  # 岗前培训 of a new hire (四.2)
ON_THE_JOB = "on_the_job"  # 在岗培训 (四.3)
JOB_TRANSFER = "job_transfer"  # 转岗转业培训 (四.3)
ENTERPRISE_NON_CATALOG = "enterprise_non_catalog"  # 《目录》外 trade run by an enterprise (四.3)
UPGRADING = "upgrading"  # 岗位技能提升 (四.4)
UNEMPLOYED_TRAINING = "unemployed"  # 失业人员培训 (五.2)
PROJECT_BASED = "project_based"  # 项目制培训: the institution is paid (十三.5)
ON_THE_JOB_TRAININGS = frozenset({ON_THE_JOB, JOB_TRANSFER, ENTERPRISE_NON_CATALOG})
ENTREPRENEURSHIP_PROJECTS = frozenset({  # 五.4
    "syb", "simulation", "online_entrepreneurship", "entrepreneur_upgrade",
})
# 四.5b "接受更高水平学历教育": every study mode of the education feeder but full-time study.
FURTHER_EDUCATION_MODES = frozenset({"part_time", "adult", "self_study", "online", "open_university"})
DEGREE_LEVELS = frozenset({"associate", "bachelor", "master", "doctor"})  # 大专及以上


@lru_cache(maxsize=256)
def _evidence(training_kind: str | None, class_kind: str | None) -> frozenset[str]:
    return frozenset(k for k in (training_kind, class_kind) if k)


@dataclass(frozen=True, slots=True)
class TrainingClass:
    """The registry's record of a class (training project) a trigger belongs to."""

    class_id: str
    kind: str
    institution_code: str
    start_date: dt.date
    end_date: dt.date
    level: int | None = None
    enterprise_code: str | None = None  # 订单班's enterprise, apprentices' / 以工代训's employer
    required_hours: Decimal | None = None  # 规定课时 (credit hours)
    district: str | None = None
    department: str | None = None


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """A certificate as issued, with the records that complete it. `level` is 1..5 (5 = 初级工)
    for the levelled kinds; `completed_hours` are the person's credited hours in the certificate's
    class (None: no completion record, or the institution sent no hours)."""

    certificate_id: str
    number: str
    kind: str
    occupation_code: str | None
    level: int | None
    issue_date: dt.date
    issued_in_nantong: bool | None = None  # 十三.2, from the issuer's credit code; None: unknown
    training_start: dt.date | None = None
    training_kind: str | None = None
    occupation_edition: str = "2015"
    operation_category: str | None = None  # 特种作业 category
    operation_item: str | None = None  # 特种作业 item / 作业项目 code
    project_type: str | None = None  # 五.4 training project
    received_on: dt.date | None = None  # the registry's receipt day (application window)
    training_class: TrainingClass | None = None
    completed_hours: Decimal | None = None

    def __post_init__(self) -> None:
        if self.kind not in CERTIFICATE_KINDS:
            raise ValueError(f"unknown certificate kind {self.kind!r}")
        if self.level is not None and not 1 <= self.level <= 5:
            raise ValueError(f"level must be 1..5, got {self.level}")

    @property
    def training_evidence(self) -> frozenset[str]:
        """What the records say the training was: the certificate's training kind, its class's kind."""
        return _evidence(self.training_kind, self.training_class.kind if self.training_class else None)

    @property
    def started(self) -> dt.date | None:
        """When the training began: as the certificate says, else its class's start."""
        if self.training_start is not None:
            return self.training_start
        return self.training_class.start_date if self.training_class else None


@dataclass(frozen=True, slots=True)
class DegreeRecord:
    """The education feeder's record of a degree (学历证书), by certificate number."""

    study_mode: str
    education_level: str


_NO_DEGREES: Mapping[str, DegreeRecord] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PersonFacts:
    """A person's facts as of `as_of`; a flag is True only when a feeder's record says so."""

    person_id: str
    as_of: dt.date
    employed: bool = False
    employer_id: str | None = None  # the employer's GB 32100 credit code
    employer_in_nantong: bool | None = None  # registered in Nantong (credit code division); None: unknown
    hire_date: dt.date | None = None
    contract_months: int | None = None  # None: no labour contract
    open_ended_contract: bool = False  # 无固定期限 counts as at least a year
    ui_contribution_months: int = 0  # 失业保险 cumulative
    pension_contribution_months: int = 0  # 企业职工养老保险 cumulative
    pension_insured_in_nantong: bool | None = None  # 参保地 in Nantong; None: no record names it
    registered_unemployed: bool = False  # 城乡登记失业人员
    employment_difficulty: bool = False  # 就业困难人员
    low_income_household: bool = False  # 建档立卡低收入农户 / 贫困劳动力
    subsistence_allowance: bool = False  # 城乡低保对象
    zero_employment_family: bool = False  # 零就业家庭成员
    disabled: bool = False
    disability_severe: bool = False
    veteran: bool = False  # 退役军人
    # 十三.4: a family-link fact names a relative who is poor or severely disabled on the day;
    # the person is then treated as that relative would be (the relative's own status, copied).
    family_low_income: bool = False  # relative is 建档立卡低收入农户 labour
    family_subsistence: bool = False  # relative is a 低保 recipient
    family_severely_disabled: bool = False  # relative is severely disabled (重度残疾)
    drawing_ui_benefit: bool = False  # 领取失业保险金
    drawing_monthly_pension: bool = False  # 按月领取养老金 (十三.3)
    pension_entitled: bool = False  # 具有按月领取养老金资格 (十三.3), drawing or not
    provincial_subsidy_certificates: frozenset[str] = frozenset()  # numbers: 省高技能人才紧缺型培训补贴
    degree_records: Mapping[str, DegreeRecord] = field(default_factory=lambda: _NO_DEGREES)
    student_final_two_years: bool = False  # 毕业前两年在校大学生

    @property
    def hire_key(self) -> str | None:
        """Identifies one hire, for the 四.2 / 五.3 exclusion "for the same new hire"."""
        if self.hire_date is None:
            return None
        return f"{self.employer_id or '?'}@{self.hire_date.isoformat()}"

    @property
    def poor(self) -> bool:
        """贫困: registered low-income household labour or 低保 (五.3, 十三.4)."""
        return self.low_income_household or self.subsistence_allowance

    @property
    def out_of_scope_pension(self) -> bool:
        """十三.3: people entitled to a monthly pension are out of scope, drawing it or not."""
        return self.pension_entitled or self.drawing_monthly_pension


@dataclass(frozen=True, slots=True)
class OrderClassFacts:
    """四.1: an enterprise's order class (订单班) at a college, on completion."""

    class_id: str
    enterprise_id: str | None
    trainees: int
    completion_date: dt.date
    requested_per_trainee_fen: int | None = None


@dataclass(frozen=True, slots=True)
class ApprenticeYearFacts:
    """四.7: one completed year of a new-type apprenticeship (企业新型学徒) reaching a level."""

    apprenticeship_id: str
    year_index: int
    level_reached: int
    completion_date: dt.date


@dataclass(frozen=True, slots=True)
class WorkTrainingClaim:
    """五.3: 以工代训 months claimed by an employer for one hired person."""

    claim_id: str
    employer_id: str | None
    employer_kind: str  # enterprise | cooperative | poverty_workshop
    employer_insured: bool
    hire_date: dt.date
    period_start: dt.date
    full_months: int
    part_month_days: int = 0  # pro rata by days of a part month
    part_month_length: int = 30

    @property
    def hire_key(self) -> str:
        return f"{self.employer_id or '?'}@{self.hire_date.isoformat()}"


@dataclass(frozen=True, slots=True)
class LivingAllowanceClaim:
    """五.2b: 生活费补贴 for the days of a training course."""

    claim_id: str
    course_id: str
    period_start: dt.date
    days: int
