"""Registry domain: certificate kinds and numbers, occupation codes, class and fact kinds, roles.

Pure Python, no I/O. Clause ids refer to 通政办发〔2019〕112号 (../shared/policy/RULES.md); formats
to ../shared/policy/REFERENCE.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class CertificateKind(StrEnum):
    """The nine certificate kinds that can trigger a subsidy (RULES.md, 四, 五, 六)."""

    VOCATIONAL_QUALIFICATION = "vocational_qualification"  # 职业资格证书
    SKILL_LEVEL = "skill_level"  # 职业技能等级证书
    SPECIAL_ABILITY = "special_ability"  # 专项职业能力证书
    TRAINING_COMPLETION = "training_completion"  # 培训合格证书
    SPECIAL_OPERATIONS = "special_operations"  # 特种作业操作证
    SPECIAL_EQUIPMENT = "special_equipment"  # 特种设备作业人员证
    SAFETY_MANAGEMENT = "safety_management"  # 安管人员考核合格证书
    ENTREPRENEURSHIP = "entrepreneurship"  # 创业培训合格证书 (SYB)
    DEGREE = "degree"  # 学历证书（大专及以上）, 四.5b


# Only these kinds certify one of the five skill levels; the others carry no level.
LEVELLED_KINDS = frozenset({CertificateKind.VOCATIONAL_QUALIFICATION, CertificateKind.SKILL_LEVEL})

SKILL_LEVELS = (5, 4, 3, 2, 1)
SKILL_LEVEL_NAMES_ZH: Mapping[int, str] = {
    5: "初级工", 4: "中级工", 3: "高级工", 2: "技师", 1: "高级技师",
}
# 高技能人才 (target T3): level 3 and above; level numbers run the other way.
HIGH_SKILL_MAX_LEVEL = 3

MAX_CERTIFICATE_NUMBER_LENGTH = 64
_PRINTABLE_NUMBER = re.compile(r"[0-9A-Za-z\-/()（）]+")
_SKILL_LEVEL_NUMBER = re.compile(r"[YS][0-9]{21}")
_LEGACY_QUALIFICATION_NUMBER = re.compile(r"[0-9]{16}")
# 1-based positions from REFERENCE.md, kept 1-based here so they read like the source.
SKILL_LEVEL_NUMBER_LEVEL_POSITION = 16
LEGACY_QUALIFICATION_LEVEL_POSITION = 11


class InvalidCertificate(ValueError):
    """A certificate number or level that cannot be right; `field` names the bad input."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class NumberCheck:
    """Outcome of a format check that did not reject: `checked` is False for unknown formats."""

    checked: bool
    warning: str | None = None


def check_certificate(kind: CertificateKind, number: str, level: int | None) -> NumberCheck:
    """Check the declared level for the kind and the number's format where REFERENCE.md knows it."""
    _check_level(kind, level)
    _check_plain_number(number)
    if kind is CertificateKind.SKILL_LEVEL:
        return _check_skill_level_number(number, level)
    if kind is CertificateKind.VOCATIONAL_QUALIFICATION:
        return _check_qualification_number(number, level)
    return NumberCheck(checked=False)


class EntrepreneurshipProject(StrEnum):
    """五.4's four training projects; an entrepreneurship certificate names one."""

    SYB = "syb"  # 创业能力培训（SYB）
    SIMULATION = "simulation"  # 创业模拟实训
    ONLINE_ENTREPRENEURSHIP = "online_entrepreneurship"  # 网络创业培训
    ENTREPRENEUR_UPGRADE = "entrepreneur_upgrade"  # 创业者能力提升培训


# 特种作业目录 (原安监总局令第30号附件): the eleven operation categories; items are "<category>.<n>"
# (1.2 低压电工作业, 2.1 熔化焊接与热切割作业, ...).
SPECIAL_OPERATION_CATEGORIES: Mapping[str, str] = {
    "1": "电工作业", "2": "焊接与热切割作业", "3": "高处作业", "4": "制冷与空调作业", "5": "煤矿安全作业",
    "6": "金属非金属矿山安全作业", "7": "石油天然气安全作业", "8": "冶金（有色）生产安全作业",
    "9": "危险化学品安全作业", "10": "烟花爆竹安全作业", "11": "其他特种作业",
}
_OPERATION_ITEM = re.compile(r"[0-9]{1,2}\.[0-9]{1,2}")
# 特种设备作业项目代号 (N1 叉车司机, Q2 起重机司机, G1 工业锅炉司炉 ...) and 安管人员 A/B/C 类.
_PROJECT_CODE = re.compile(r"[A-Z][A-Z0-9]{0,3}")
SAFETY_KINDS = frozenset({CertificateKind.SPECIAL_OPERATIONS, CertificateKind.SPECIAL_EQUIPMENT,
                          CertificateKind.SAFETY_MANAGEMENT})


def check_certificate_identity(kind: CertificateKind, operation_category: str | None, operation_item: str | None,
                               project_type: str | None) -> None:
    """What identifies a certificate without an occupation code (十三.1 "同一职业同一等级"): the
    special-operations category and item, the 作业项目 code of the other safety kinds, the 五.4 project."""
    if kind is CertificateKind.SPECIAL_OPERATIONS:
        _check_special_operation(operation_category, operation_item)
    elif kind in SAFETY_KINDS:
        if operation_item is None or not _PROJECT_CODE.fullmatch(operation_item):
            raise InvalidCertificate("operation_item", f"a {kind} certificate names its 作业项目 code (e.g. N1, Q2, A)")
    elif operation_category is not None or operation_item is not None:
        field = "operation_item" if operation_item is not None else "operation_category"
        raise InvalidCertificate(field, f"a {kind} certificate carries no operation category or item")
    if (kind is CertificateKind.ENTREPRENEURSHIP) != (project_type is not None):
        raise InvalidCertificate("project_type", "required for, and only for, entrepreneurship certificates (五.4)")


def _check_special_operation(category: str | None, item: str | None) -> None:
    if category not in SPECIAL_OPERATION_CATEGORIES:
        raise InvalidCertificate("operation_category", "one of the 特种作业目录's categories 1-11")
    if item is None or not _OPERATION_ITEM.fullmatch(item) or item.split(".")[0] != category:
        raise InvalidCertificate("operation_item", f"an item of category {category}, such as {category}.1")


def _check_level(kind: CertificateKind, level: int | None) -> None:
    if kind in LEVELLED_KINDS and level not in SKILL_LEVELS:
        raise InvalidCertificate("level", f"a {kind} certificate needs a level 1-5")
    if kind not in LEVELLED_KINDS and level is not None:
        raise InvalidCertificate("level", f"a {kind} certificate carries no skill level")


def _check_plain_number(number: str) -> None:
    if not number or len(number) > MAX_CERTIFICATE_NUMBER_LENGTH:
        raise InvalidCertificate("number", f"must be 1-{MAX_CERTIFICATE_NUMBER_LENGTH} characters")
    if not _PRINTABLE_NUMBER.fullmatch(number):
        raise InvalidCertificate("number", "letters, digits, - / and brackets only")


def _check_skill_level_number(number: str, level: int | None) -> NumberCheck:
    if not _SKILL_LEVEL_NUMBER.fullmatch(number):
        raise InvalidCertificate("number", "skill-level numbers are Y or S followed by 21 digits")
    _match_level(number[SKILL_LEVEL_NUMBER_LEVEL_POSITION - 1], level)
    return NumberCheck(checked=True)


def _check_qualification_number(number: str, level: int | None) -> NumberCheck:
    # Only the legacy 16-digit format is documented; other shapes may be genuine, so warn.
    if not _LEGACY_QUALIFICATION_NUMBER.fullmatch(number):
        return NumberCheck(checked=False, warning="not the legacy 16-digit format; not checked")
    _match_level(number[LEGACY_QUALIFICATION_LEVEL_POSITION - 1], level)
    return NumberCheck(checked=True)


def _match_level(digit: str, level: int | None) -> None:
    if int(digit) not in SKILL_LEVELS:
        raise InvalidCertificate("number", f"level digit {digit} is not a skill level 1-5")
    if int(digit) != level:
        raise InvalidCertificate("level", f"declared level {level}, the number says {digit}")


def level_in_number(kind: CertificateKind, number: str) -> int | None:
    """The level a well-formed number encodes, or None when the kind/format has no level digit."""
    if kind is CertificateKind.SKILL_LEVEL and _SKILL_LEVEL_NUMBER.fullmatch(number):
        return int(number[SKILL_LEVEL_NUMBER_LEVEL_POSITION - 1])
    if kind is CertificateKind.VOCATIONAL_QUALIFICATION and _LEGACY_QUALIFICATION_NUMBER.fullmatch(
        number
    ):
        return int(number[LEGACY_QUALIFICATION_LEVEL_POSITION - 1])
    return None


# --- Occupation codes (职业分类大典) ------------------------------------------------------

OCCUPATION_EDITIONS = frozenset({2015, 2022})
_OCCUPATION_CODE = re.compile(r"[0-9]-[0-9]{2}-[0-9]{2}-[0-9]{2}")


class InvalidOccupationCode(ValueError):
    """Not D-DD-DD-DD, or an edition of the classification we do not know."""


@dataclass(frozen=True)
class Occupation:
    """An occupation code is meaningful only with its edition: codes moved between 2015 and 2022."""

    code: str
    edition: int


def parse_occupation(code: str, edition: int) -> Occupation:
    if not _OCCUPATION_CODE.fullmatch(code):
        raise InvalidOccupationCode(f"occupation code must look like 6-18-01-01, got {code!r}")
    if edition not in OCCUPATION_EDITIONS:
        editions = sorted(OCCUPATION_EDITIONS)
        raise InvalidOccupationCode(f"classification edition must be one of {editions}")
    return Occupation(code, edition)


# --- Training classes --------------------------------------------------------------------


class TrainingClassKind(StrEnum):
    PRE_JOB = "pre_job"  # 岗前培训
    ON_THE_JOB = "on_the_job"  # 在岗培训, 四.3
    JOB_TRANSFER = "job_transfer"  # 转岗转业培训, 四.3
    UPGRADING = "upgrading"  # 技能提升/晋级培训
    UNEMPLOYED = "unemployed"  # 失业人员培训, 五.2
    ORDER_CLASS = "order_class"  # 订单班, 四.1
    NEW_APPRENTICESHIP = "new_apprenticeship"  # 企业新型学徒制, 四.7
    WORK_BASED = "work_based"  # 以工代训, 五.3
    ENTREPRENEURSHIP = "entrepreneurship"  # 创业培训, 五.4
    SPECIAL_OPERATIONS = "special_operations"  # 安全技能/特种作业培训, 六
    PROJECT_BASED = "project_based"  # 项目制培训, 十三.5 / 十七


# --- Facts from government feeders ---------------------------------------------------------


class FactKind(StrEnum):
    """Dated facts about a person that eligibility asks about ("what was true on date D")."""

    EMPLOYMENT = "employment"  # employer, hire date, labour-contract term; 四.2, 四.5b
    REGISTERED_UNEMPLOYMENT = "registered_unemployment"  # 城乡登记失业, 五.2
    EMPLOYMENT_DIFFICULTY = "employment_difficulty"  # 就业困难人员, 五.2b, 五.3
    DISABILITY = "disability"  # with severity, 十三.4
    FAMILY_LINK = "family_link"  # 直系亲属, 十三.4
    LOW_INCOME_RURAL_HOUSEHOLD = "low_income_rural_household"  # 建档立卡, 五.2b, 五.3
    DIBAO_HOUSEHOLD = "dibao_household"  # 低保, 五.3
    VETERAN = "veteran"  # 退役军人
    STUDENT = "student"  # with expected graduation, 五.4
    UNEMPLOYMENT_INSURANCE_MONTHS = "unemployment_insurance_months"  # as of a date, 四.4
    PENSION_INSURANCE_MONTHS = "pension_insurance_months"  # enterprise pension, 四.5b
    DRAWING_UNEMPLOYMENT_BENEFIT = "drawing_unemployment_benefit"  # 五.2b exclusion
    DRAWING_MONTHLY_PENSION = "drawing_monthly_pension"  # 十三.3 exclusion
    PROVINCIAL_SUBSIDY_RECEIVED = "provincial_subsidy_received"  # 四.4 / 四.5 exclusion
    DEGREE_RECORD = "degree_record"  # 学历证书 with its study mode, 四.5b "接受更高水平学历教育"
    MONTHLY_PENSION_ENTITLEMENT = "monthly_pension_entitlement"  # 具有按月领取养老金资格, 十三.3


class Feeder(StrEnum):
    """Government systems that send facts; each is the authority for its own kinds only."""

    SOCIAL_INSURANCE = "social_insurance"  # 社会保险经办
    EMPLOYMENT_SERVICE = "employment_service"  # 公共就业服务 (就业/失业登记)
    DISABLED_PERSONS_FEDERATION = "disabled_persons_federation"  # 残联
    PUBLIC_SECURITY = "public_security"  # 户籍 (family links)
    RURAL_AFFAIRS = "rural_affairs"  # 扶贫/农业农村 (建档立卡)
    CIVIL_AFFAIRS = "civil_affairs"  # 民政 (低保)
    VETERANS_AFFAIRS = "veterans_affairs"  # 退役军人事务
    EDUCATION = "education"  # 教育 (students)
    PROVINCIAL_SUBSIDY = "provincial_subsidy"  # 省人社 subsidy system


FEEDER_FACT_KINDS: Mapping[Feeder, frozenset[FactKind]] = {
    Feeder.SOCIAL_INSURANCE: frozenset({
        FactKind.UNEMPLOYMENT_INSURANCE_MONTHS,
        FactKind.PENSION_INSURANCE_MONTHS,
        FactKind.DRAWING_UNEMPLOYMENT_BENEFIT,
        FactKind.DRAWING_MONTHLY_PENSION,
        FactKind.MONTHLY_PENSION_ENTITLEMENT,
    }),
    Feeder.EMPLOYMENT_SERVICE: frozenset({
        FactKind.EMPLOYMENT,
        FactKind.REGISTERED_UNEMPLOYMENT,
        FactKind.EMPLOYMENT_DIFFICULTY,
    }),
    Feeder.DISABLED_PERSONS_FEDERATION: frozenset({FactKind.DISABILITY}),
    Feeder.PUBLIC_SECURITY: frozenset({FactKind.FAMILY_LINK}),
    Feeder.RURAL_AFFAIRS: frozenset({FactKind.LOW_INCOME_RURAL_HOUSEHOLD}),
    Feeder.CIVIL_AFFAIRS: frozenset({FactKind.DIBAO_HOUSEHOLD}),
    Feeder.VETERANS_AFFAIRS: frozenset({FactKind.VETERAN}),
    Feeder.EDUCATION: frozenset({FactKind.STUDENT, FactKind.DEGREE_RECORD}),
    Feeder.PROVINCIAL_SUBSIDY: frozenset({FactKind.PROVINCIAL_SUBSIDY_RECEIVED}),
}


def feeder_for(kind: FactKind) -> Feeder:
    """The one feeder that is the authority for a fact kind."""
    return next(feeder for feeder, kinds in FEEDER_FACT_KINDS.items() if kind in kinds)


# --- Who may write what (deny by default) --------------------------------------------------


class Role(StrEnum):
    INSTITUTION = "institution"  # training / evaluation institution, enterprise, school
    FEEDER = "feeder"  # another government system
    BUREAU = "bureau"  # 市人社局 staff
    DISTRICT = "district"  # county/district staff
    AUDITOR = "auditor"  # reads everything, changes nothing
    HR = "hr"  # 人社 payment approver: no registry writes (payments' role)
    FINANCE = "finance"  # 财政 payment releaser: no registry writes (payments' role)
    SECURITY_ADMIN = "security_admin"  # 安全管理员: issues and revokes clients, nothing else


PRODUCER = "registry"  # the producer of every event this service stages


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"  # for dated records: a new version, never an edit in place
    REVOKE = "revoke"


class ResourceKind(StrEnum):
    PERSON = "person"
    FACT = "fact"
    TRAINING_CLASS = "training_class"
    COMPLETION = "completion"  # completions, apprenticeship years, 以工代训 months
    CERTIFICATE = "certificate"
    INSTITUTION = "institution"
    CATALOG = "catalog"  # occupation Catalog, shortage lists, public catalogs (十七)


@dataclass(frozen=True)
class Principal:
    """An authenticated client. `districts` holds every code its district rolls up from."""

    role: Role
    client_id: str
    institution_id: str | None = None
    feeder: Feeder | None = None
    districts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Resource:
    """What is being written or read, with just the attributes that decide ownership."""

    kind: ResourceKind
    institution_id: str | None = None
    fact_kind: FactKind | None = None
    district: str | None = None


_C, _U, _R = Action.CREATE, Action.UPDATE, Action.REVOKE
_WRITES: Mapping[tuple[Role, ResourceKind], frozenset[Action]] = {
    # Institutions register their trainees (实名制) and write their own classes and results.
    (Role.INSTITUTION, ResourceKind.PERSON): frozenset({_C}),
    (Role.INSTITUTION, ResourceKind.TRAINING_CLASS): frozenset({_C, _U}),
    (Role.INSTITUTION, ResourceKind.COMPLETION): frozenset({_C, _U}),
    (Role.INSTITUTION, ResourceKind.CERTIFICATE): frozenset({_C, _U, _R}),
    (Role.FEEDER, ResourceKind.PERSON): frozenset({_C}),
    (Role.FEEDER, ResourceKind.FACT): frozenset({_C, _U}),
    (Role.BUREAU, ResourceKind.CATALOG): frozenset({_C, _U, _R}),
    (Role.BUREAU, ResourceKind.INSTITUTION): frozenset({_C, _U, _R}),
    # 十四: the bureau can revoke a fraudulent certificate, which claws back its subsidies.
    (Role.BUREAU, ResourceKind.CERTIFICATE): frozenset({_R}),
    (Role.DISTRICT, ResourceKind.PERSON): frozenset({_C, _U}),
    (Role.DISTRICT, ResourceKind.INSTITUTION): frozenset({_C, _U}),
}


def can_write(principal: Principal, action: Action, resource: Resource) -> bool:
    """True only if the role may do `action` on this kind AND the resource is within its scope."""
    allowed = _WRITES.get((principal.role, resource.kind), frozenset())
    return action in allowed and _in_scope(principal, resource)


def can_read(principal: Principal, resource: Resource) -> bool:
    """Catalogs are public; auditors and the bureau read all; the others only their own scope."""
    if resource.kind is ResourceKind.CATALOG or principal.role in (Role.AUDITOR, Role.BUREAU):
        return True
    if principal.role is Role.DISTRICT:
        return resource.district is not None and resource.district in principal.districts
    if principal.role is Role.INSTITUTION:
        # A person is readable by an institution only as its trainee: the caller sets the
        # resource's institution_id to the institution the person is enrolled with.
        owner = principal.institution_id
        return owner is not None and resource.institution_id == owner
    if principal.role is Role.FEEDER:
        return resource.kind is ResourceKind.FACT and _own_fact_kind(principal, resource)
    return False


def _in_scope(principal: Principal, resource: Resource) -> bool:
    if principal.role is Role.INSTITUTION:
        return _own_institution(principal, resource)
    if principal.role is Role.FEEDER:
        return _own_fact_kind(principal, resource)
    if principal.role is Role.DISTRICT:
        return resource.district is not None and resource.district in principal.districts
    return principal.role is Role.BUREAU


def _own_institution(principal: Principal, resource: Resource) -> bool:
    if resource.kind is ResourceKind.PERSON:
        return principal.institution_id is not None
    owner = principal.institution_id
    return owner is not None and resource.institution_id == owner


def _own_fact_kind(principal: Principal, resource: Resource) -> bool:
    if resource.kind is ResourceKind.PERSON:
        return principal.feeder is not None
    if principal.feeder is None or resource.fact_kind is None:
        return False
    return resource.fact_kind in FEEDER_FACT_KINDS[principal.feeder]
