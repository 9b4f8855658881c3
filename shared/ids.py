"""Identifier checks: resident ID (GB 11643-1999) and unified social credit code (GB 32100-2015).

The project's one thin wrapper over python-stdnum (`stdnum.cn.ric`, `stdnum.cn.uscc`): the check
characters are computed there, once. What stays ours: retired place codes are accepted (stdnum's
`validate` refuses places its table no longer lists, e.g. 440524, but people born there hold those
IDs), and a credit code whose check character disagrees is a warning, never a rejection (early
pilot codes, REFERENCE.md). Pure functions, no I/O. Test vectors: ../shared/policy/REFERENCE.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from stdnum.cn import ric as cn_ric
from stdnum.cn import uscc as cn_uscc

_RESIDENT_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
# The oldest person the registry may meet was born in the 19th century (test vector 1880).
EARLIEST_BIRTH_YEAR = 1800

# GB 32100-2015: 31 characters, no I, O, Z, S, V (they look like digits).
CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_CODE_SHAPE = re.compile(rf"[{CREDIT_CODE_CHARS}]{{18}}")

Sex = Literal["male", "female"]


class InvalidResidentId(ValueError):
    """Not a valid 18-character resident ID; `reason` says why and never repeats the ID."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidCreditCode(ValueError):
    """The text cannot be a unified social credit code at all (length or alphabet)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ResidentId:
    """A checked resident ID. `place_code` may be a code retired since issue (e.g. 320611)."""

    number: str
    place_code: str
    birth_date: date
    sequence: str
    sex: Sex


@dataclass(frozen=True)
class CreditCodeCheck:
    """Result of a GB 32100 check: a wrong check character is a warning, never a rejection."""

    code: str
    ok: bool
    warning: str | None


def normalise_resident_id(text: str) -> str:
    """Strip blanks and upper-case a trailing x, the two variations people type."""
    return text.strip().upper()


def resident_id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits (stdnum.cn.ric)."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("need the first 17 digits")
    return str(cn_ric.calc_check_digit(first17 + "0"))  # stdnum drops the last character


def parse_resident_id(text: str, *, today: date | None = None) -> ResidentId:
    """Check shape, birth date and check character; raise InvalidResidentId with the reason.

    Pass `today` to also refuse a birth date in the future (the caller owns the clock).
    """
    number = normalise_resident_id(text)
    if not _RESIDENT_ID_SHAPE.fullmatch(number):
        raise InvalidResidentId("must be 17 digits followed by a digit or X")
    birth = _birth_date(number[6:14])
    if today is not None and birth > today:
        raise InvalidResidentId("birth date is in the future")
    if number[17] != resident_id_check_char(number[:17]):
        raise InvalidResidentId("check character does not match (GB 11643)")
    sex: Sex = "male" if int(number[16]) % 2 == 1 else "female"
    return ResidentId(number, number[:6], birth, number[14:17], sex)


def is_valid_resident_id(text: str, *, today: date | None = None) -> bool:
    """True when `parse_resident_id` would accept the text."""
    try:
        parse_resident_id(text, today=today)
    except InvalidResidentId:
        return False
    return True


def _birth_date(yyyymmdd: str) -> date:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        raise InvalidResidentId("birth date is not a calendar date") from None
    if born.year < EARLIEST_BIRTH_YEAR:
        raise InvalidResidentId(f"birth year before {EARLIEST_BIRTH_YEAR}")
    return born


def mask_resident_id(text: str) -> str:
    """Keep the last 4 characters only: '**************001X'. The place code and birth date stay
    hidden: beside a district and a birth date, first-4 + last-4 left about nine candidate IDs.
    Short input is all stars."""
    value = text.strip()
    if len(value) <= 8:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]


def credit_code_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters (stdnum.cn.uscc)."""
    if len(first17) != 17 or any(c not in CREDIT_CODE_CHARS for c in first17):
        raise ValueError(f"need 17 characters from {CREDIT_CODE_CHARS}")
    return str(cn_uscc.calc_check_digit(first17))


def credit_code_division(code: str) -> str | None:
    """Characters 3-8 of a GB 32100 code: the administrative division (GB/T 2260) of the authority
    that registered the organisation (320612 通州区). None when the text is not shaped like a credit
    code or those characters are not six digits. A wrong check character does not matter here."""
    text = code.strip().upper()
    if not _CREDIT_CODE_SHAPE.fullmatch(text) or not text[2:8].isdigit():
        return None
    return text[2:8]


def check_credit_code(text: str) -> CreditCodeCheck:
    """Check a unified social credit code; only a malformed code raises InvalidCreditCode.

    Some early pilot codes fail the check character although they are genuine (REFERENCE.md),
    so a mismatch comes back as ok=False with a warning for a person to look at.
    """
    code = text.strip().upper()
    if not _CREDIT_CODE_SHAPE.fullmatch(code):
        raise InvalidCreditCode(f"must be 18 characters from {CREDIT_CODE_CHARS}")
    expected = credit_code_check_char(code[:17])
    if code[17] == expected:
        return CreditCodeCheck(code, True, None)
    return CreditCodeCheck(code, False, f"check character is {code[17]}, GB 32100 gives {expected}")
