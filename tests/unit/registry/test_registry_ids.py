"""GB 11643 resident IDs and GB 32100 credit codes (vectors from REFERENCE.md)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.ids import (
    CREDIT_CODE_CHARS,
    InvalidCreditCode,
    InvalidResidentId,
    check_credit_code,
    credit_code_check_char,
    is_valid_resident_id,
    mask_resident_id,
    parse_resident_id,
    resident_id_check_char,
)

VALID_IDS = ["11010519491231002X", "440524188001010014", "34052419800101001X"]
VALID_CODES = ["91350100M000100Y43", "91110000802100433B"]


@pytest.mark.parametrize("number", VALID_IDS)
def test_reference_resident_ids_are_valid(number: str) -> None:
    assert parse_resident_id(number).number == number


def test_parsed_id_gives_place_birth_date_and_sex() -> None:
    parsed = parse_resident_id("11010519491231002X")
    assert (parsed.place_code, parsed.birth_date, parsed.sex) == (
        "110105",
        date(1949, 12, 31),
        "female",
    )
    assert parse_resident_id("440524188001010014").sex == "male"


def test_lowercase_x_and_blanks_are_normalised() -> None:
    assert parse_resident_id(" 11010519491231002x ").number == "11010519491231002X"


def test_old_nantong_place_codes_stay_valid_on_ids() -> None:
    for place in ("320602", "320611", "320684"):
        first17 = place + "19800101001"
        assert is_valid_resident_id(first17 + resident_id_check_char(first17))


def test_wrong_check_character_is_rejected_with_reason() -> None:
    with pytest.raises(InvalidResidentId, match="check character"):
        parse_resident_id("110105194912310021")


@pytest.mark.parametrize(
    ("first17", "reason"),
    [("32060219800230001", "calendar date"), ("32060217991231001", "before 1800")],
)
def test_impossible_birth_dates_are_rejected(first17: str, reason: str) -> None:
    with pytest.raises(InvalidResidentId, match=reason):
        parse_resident_id(first17 + resident_id_check_char(first17))


def test_birth_date_after_today_is_rejected_when_today_is_given() -> None:
    first17 = "32060220300101001"
    number = first17 + resident_id_check_char(first17)
    assert is_valid_resident_id(number)
    assert not is_valid_resident_id(number, today=date(2021, 1, 1))


@pytest.mark.parametrize(
    "text", ["", "1101051949123100", "11010519491231002Y", "1101051949123100 2X"]
)
def test_malformed_ids_are_rejected(text: str) -> None:
    assert not is_valid_resident_id(text)


def test_rejection_reason_never_contains_the_id() -> None:
    with pytest.raises(InvalidResidentId) as caught:
        parse_resident_id("110105194912310021")
    assert "110105" not in str(caught.value)


birth_days = st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31))
ids = st.builds(
    lambda place, born, seq: place + born.strftime("%Y%m%d") + seq,
    st.from_regex(r"[0-9]{6}", fullmatch=True),
    birth_days,
    st.from_regex(r"[0-9]{3}", fullmatch=True),
).map(lambda first17: first17 + resident_id_check_char(first17))


@given(ids, st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_change_breaks_the_check(number: str, pos: int, shift: int) -> None:
    assert is_valid_resident_id(number)
    changed = number[:pos] + str((int(number[pos]) + shift) % 10) + number[pos + 1 :]
    assert parse_or_reason(changed) != "ok"


def parse_or_reason(number: str) -> str:
    try:
        parse_resident_id(number)
    except InvalidResidentId as exc:
        return exc.reason
    return "ok"


def test_mask_keeps_only_the_last_four() -> None:
    assert mask_resident_id("32060219800101001X") == "**************001X"


@given(st.from_regex(r"[0-9X]{9,24}", fullmatch=True))
def test_mask_hides_everything_but_the_last_four(text: str) -> None:
    masked = mask_resident_id(text)
    assert masked[-4:] == text[-4:] and len(masked) == len(text)
    assert set(masked[:-4]) == {"*"}


def test_mask_of_a_short_value_hides_all_of_it() -> None:
    assert mask_resident_id("12345678") == "********"


@pytest.mark.parametrize("code", VALID_CODES)
def test_reference_credit_codes_pass(code: str) -> None:
    assert check_credit_code(code) == check_credit_code(code.lower())
    assert check_credit_code(code).ok


def test_credit_code_with_wrong_check_is_a_warning_not_a_rejection() -> None:
    result = check_credit_code("91350100M000100Y44")
    assert not result.ok
    assert result.warning is not None and "3" in result.warning


@pytest.mark.parametrize("code", ["91350100M000100Y4", "91350100M000100Y4I", "9135010OM000100Y43"])
def test_malformed_credit_codes_are_rejected(code: str) -> None:
    with pytest.raises(InvalidCreditCode):
        check_credit_code(code)


credit_bodies = st.text(alphabet=CREDIT_CODE_CHARS, min_size=17, max_size=17)


@given(credit_bodies, st.integers(0, 16), st.integers(1, 30))
def test_any_single_character_change_in_a_credit_code_is_flagged(
    body: str, pos: int, shift: int
) -> None:
    code = body + credit_code_check_char(body)
    assert check_credit_code(code).ok
    new_char = CREDIT_CODE_CHARS[(CREDIT_CODE_CHARS.index(body[pos]) + shift) % 31]
    assert not check_credit_code(code[:pos] + new_char + code[pos + 1 :]).ok


def test_non_ascii_digits_are_not_accepted_as_an_id() -> None:
    arabic_indic = "".join(chr(0x660 + int(d)) for d in "4405241880010100") + "14"
    assert not is_valid_resident_id(arabic_indic)
