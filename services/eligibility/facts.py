"""The facts a decision reads: frozen values, built by the service from its own projection.

Nothing here does I/O. `PersonFacts` is a snapshot of one person's dated facts as of one day
(normally the certificate's issue date); `CatalogView` is the Catalog and yearly lists as data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

# The nine certificate kinds of RULES.md.
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

# Training kinds: which programme the training behind a certificate belonged to.
PRE_JOB = "pre_job"  # 岗前培训 of a new hire (四.2)
ON_THE_JOB = "on_the_job"  # 在岗培训 (四.3)
JOB_TRANSFER = "job_transfer"  # 转岗转业培训 (四.3)
ENTERPRISE_NON_CATALOG = "enterprise_non_catalog"  # 《目录》外 trade run by an enterprise (四.3)
SKILL_UPGRADE = "skill_upgrade"  # 岗位技能提升 (四.4), the default for an employed worker
ENTREPRENEURSHIP_TRAININGS = frozenset({  # 五.4
    "syb", "simulation", "online_entrepreneurship", "entrepreneur_upgrade",
})


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """A certificate as issued; `level` is 1..5 (5 = 初级工) or None where kinds have none."""

    certificate_id: str
    number: str
    kind: str
    occupation_code: str | None
    level: int | None
    issue_date: dt.date
    issued_in_nantong: bool = True
    training_start: dt.date | None = None
    training_kind: str | None = None
    required_hours_completed: bool = True  # 五.2 "学完规定课时"
    via_further_education: bool = True  # 四.5b "接受更高水平学历教育"

    def __post_init__(self) -> None:
        if self.kind not in CERTIFICATE_KINDS:
            raise ValueError(f"unknown certificate kind {self.kind!r}")
        if self.level is not None and not 1 <= self.level <= 5:
            raise ValueError(f"level must be 1..5, got {self.level}")

    @property
    def occupation_key(self) -> tuple[str, int | None]:
        """What 十三.1 "同一职业同一等级" compares: occupation (or kind when none) and level."""
        return (self.occupation_code or self.kind, self.level)


@dataclass(frozen=True, slots=True)
class PersonFacts:
    """A person's facts as of `as_of`; booleans default to the plain case (nothing special)."""

    person_id: str
    as_of: dt.date
    employed: bool = False
    employer_id: str | None = None
    employer_in_nantong: bool = True
    hire_date: dt.date | None = None
    contract_months: int | None = None  # None: no labour contract
    open_ended_contract: bool = False  # 无固定期限 counts as at least a year
    ui_contribution_months: int = 0  # 失业保险 cumulative
    pension_contribution_months: int = 0  # 企业职工养老保险 cumulative
    pension_insured_in_nantong: bool = False
    registered_unemployed: bool = False  # 城乡登记失业人员
    employment_difficulty: bool = False  # 就业困难人员
    low_income_household: bool = False  # 建档立卡低收入农户 / 贫困劳动力
    subsistence_allowance: bool = False  # 城乡低保对象
    zero_employment_family: bool = False  # 零就业家庭成员
    disabled: bool = False
    disability_severe: bool = False
    family_of_poor_or_severely_disabled: bool = False  # 十三.4 直系亲属
    drawing_ui_benefit: bool = False  # 领取失业保险金
    drawing_monthly_pension: bool = False  # 按月领取养老金 (十三.3)
    provincial_subsidy_certificates: frozenset[str] = frozenset()  # 省高技能人才紧缺型培训补贴
    student_final_two_years: bool = False  # 毕业前两年在校大学生

    @property
    def hire_key(self) -> str | None:
        """Identifies one hire, for the 四.2 / 五.3 exclusion "for the same new hire"."""
        if self.hire_date is None:
            return None
        return f"{self.employer_id or '?'}@{self.hire_date.isoformat()}"


@dataclass(frozen=True, slots=True)
class CatalogStandard:
    """One Catalog line: training + appraisal standard in fen for (occupation, level)."""

    occupation_code: str
    level: int | None
    training_fen: int
    appraisal_fen: int
    valid_from: dt.date
    valid_to: dt.date | None
    version: str

    @property
    def total_fen(self) -> int:
        return self.training_fen + self.appraisal_fen


@dataclass(frozen=True)
class CatalogView:
    """The Catalog (《目录》) and the yearly lists, as data with effective dates."""

    standards: Mapping[tuple[str, int | None], tuple[CatalogStandard, ...]] = field(
        default_factory=dict
    )
    shortage_by_year: Mapping[int, frozenset[str]] = field(default_factory=dict)
    provincial_high_skill_by_year: Mapping[int, frozenset[str]] = field(default_factory=dict)

    def standard(
        self, occupation_code: str | None, level: int | None, day: dt.date
    ) -> CatalogStandard | None:
        """The Catalog line in force on `day`, or None when the certificate is out of Catalog."""
        for line in self.standards.get((occupation_code or "", level), ()):
            if line.valid_from <= day and (line.valid_to is None or day <= line.valid_to):
                return line
        return None

    def is_shortage(self, occupation_code: str | None, year: int) -> bool:
        """On that year's 市场紧缺职业（工种） list."""
        return occupation_code in self.shortage_by_year.get(year, frozenset())

    def on_provincial_list(self, occupation_code: str | None, year: int) -> bool:
        return occupation_code in self.provincial_high_skill_by_year.get(year, frozenset())


def catalog_from_lines(
    lines: list[CatalogStandard],
    shortage_by_year: Mapping[int, frozenset[str]] | None = None,
    provincial_by_year: Mapping[int, frozenset[str]] | None = None,
) -> CatalogView:
    """Index Catalog lines by (occupation, level), newest first."""
    index: dict[tuple[str, int | None], list[CatalogStandard]] = {}
    for line in lines:
        index.setdefault((line.occupation_code, line.level), []).append(line)
    standards = {
        k: tuple(sorted(v, key=lambda s: s.valid_from, reverse=True)) for k, v in index.items()
    }
    return CatalogView(standards, dict(shortage_by_year or {}), dict(provincial_by_year or {}))


@dataclass(frozen=True, slots=True)
class OrderClassFacts:
    """四.1: an enterprise's order class (订单班) at a college, on completion."""

    class_id: str
    enterprise_id: str
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
    employer_id: str
    employer_kind: str  # enterprise | cooperative | poverty_workshop
    employer_insured: bool
    hire_date: dt.date
    period_start: dt.date
    full_months: int
    part_month_days: int = 0  # pro rata by days of a part month
    part_month_length: int = 30

    @property
    def hire_key(self) -> str:
        return f"{self.employer_id}@{self.hire_date.isoformat()}"


@dataclass(frozen=True, slots=True)
class LivingAllowanceClaim:
    """五.2b: 生活费补贴 for the days of a training course."""

    claim_id: str
    course_id: str
    period_start: dt.date
    days: int
