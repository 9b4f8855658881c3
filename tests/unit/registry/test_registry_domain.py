"""Certificate kinds and number formats, occupation codes, fact kinds (REFERENCE.md, RULES.md)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.registry.domain import (
    FEEDER_FACT_KINDS,
    LEVELLED_KINDS,
    CertificateKind,
    FactKind,
    InvalidCertificate,
    InvalidOccupationCode,
    Occupation,
    check_certificate,
    feeder_for,
    level_in_number,
    parse_occupation,
)

SKILL = CertificateKind.SKILL_LEVEL
QUALIFICATION = CertificateKind.VOCATIONAL_QUALIFICATION


def skill_number(level: int, prefix: str = "Y") -> str:
    """22 characters, level at character 16 (1-based)."""
    return prefix + "32060020200001" + str(level) + "000123"


def test_there_are_exactly_the_nine_certificate_kinds_of_the_rules() -> None:
    assert {k.value for k in CertificateKind} == {
        "vocational_qualification",
        "skill_level",
        "special_ability",
        "training_completion",
        "special_operations",
        "special_equipment",
        "safety_management",
        "entrepreneurship",
        "degree",
    }


def test_skill_level_number_with_matching_level_is_checked_and_accepted() -> None:
    number = skill_number(3)
    assert len(number) == 22
    assert check_certificate(SKILL, number, 3).checked
    assert check_certificate(SKILL, skill_number(2, "S"), 2).checked
    assert level_in_number(SKILL, number) == 3


def test_skill_level_number_whose_level_differs_from_the_declared_level_is_rejected() -> None:
    with pytest.raises(InvalidCertificate) as caught:
        check_certificate(SKILL, skill_number(4), 3)
    assert caught.value.field == "level"


@pytest.mark.parametrize(
    "number",
    [skill_number(3)[:-1], "X" + skill_number(3)[1:], skill_number(3) + "0", "Y" + "1" * 20 + "A"],
)
def test_skill_level_numbers_of_the_wrong_shape_are_rejected(number: str) -> None:
    with pytest.raises(InvalidCertificate) as caught:
        check_certificate(SKILL, number, 3)
    assert caught.value.field == "number"


def test_a_level_digit_outside_one_to_five_is_rejected() -> None:
    with pytest.raises(InvalidCertificate, match="not a skill level"):
        check_certificate(SKILL, skill_number(7), 3)


@given(st.integers(1, 5), st.integers(1, 5), st.from_regex(r"[YS][0-9]{21}", fullmatch=True))
def test_a_skill_level_number_passes_exactly_when_its_level_digit_matches(
    declared: int, encoded: int, base: str
) -> None:
    number = base[:15] + str(encoded) + base[16:]
    if declared == encoded:
        assert check_certificate(SKILL, number, declared).checked
    else:
        with pytest.raises(InvalidCertificate):
            check_certificate(SKILL, number, declared)


def test_legacy_qualification_number_carries_the_level_at_character_eleven() -> None:
    number = "1332000003" + "4" + "00427"
    assert check_certificate(QUALIFICATION, number, 4).checked
    with pytest.raises(InvalidCertificate):
        check_certificate(QUALIFICATION, number, 3)


def test_qualification_number_of_an_unknown_format_is_kept_with_a_warning() -> None:
    result = check_certificate(QUALIFICATION, "JS2020-00012", 4)
    assert not result.checked and result.warning


@pytest.mark.parametrize("kind", sorted(LEVELLED_KINDS))
def test_levelled_kinds_need_a_level(kind: CertificateKind) -> None:
    with pytest.raises(InvalidCertificate, match="needs a level"):
        check_certificate(kind, skill_number(3), None)


def test_kinds_without_levels_refuse_a_level_and_accept_free_numbers() -> None:
    with pytest.raises(InvalidCertificate, match="no skill level"):
        check_certificate(CertificateKind.SPECIAL_ABILITY, "ZX-2020-001", 3)
    assert not check_certificate(
        CertificateKind.SPECIAL_OPERATIONS, "T320602198001010011", None
    ).checked


@pytest.mark.parametrize("number", ["", "A B", "x" * 65, "12;DROP"])
def test_empty_long_or_odd_numbers_are_rejected_for_every_kind(number: str) -> None:
    with pytest.raises(InvalidCertificate):
        check_certificate(CertificateKind.DEGREE, number, None)


def test_occupation_codes_keep_their_edition() -> None:
    assert parse_occupation("6-18-01-01", 2015) == Occupation("6-18-01-01", 2015)
    assert parse_occupation("6-18-01-01", 2015) != parse_occupation("6-18-01-01", 2022)


@pytest.mark.parametrize(
    ("code", "edition"), [("6-18-1-01", 2015), ("61801-01", 2015), ("6-18-01-01", 1999)]
)
def test_malformed_occupation_codes_or_unknown_editions_are_rejected(
    code: str, edition: int
) -> None:
    with pytest.raises(InvalidOccupationCode):
        parse_occupation(code, edition)


def test_every_fact_kind_has_exactly_one_feeder() -> None:
    for kind in FactKind:
        owners = [feeder for feeder, kinds in FEEDER_FACT_KINDS.items() if kind in kinds]
        assert owners == [feeder_for(kind)]


@pytest.mark.parametrize("number", [skill_number(3) + "\n", skill_number(3)[:-1] + "\u0663"])
def test_trailing_newline_or_non_ascii_digit_in_a_number_is_rejected(number: str) -> None:
    with pytest.raises(InvalidCertificate):
        check_certificate(SKILL, number, 3)


def test_non_ascii_digits_in_an_occupation_code_are_rejected() -> None:
    with pytest.raises(InvalidOccupationCode):
        parse_occupation("\u0666-18-01-01", 2015)
