"""Trainees' contact details, as institutions collect them on the application form (申请表): the
phone number and the bank account the subsidy would be paid to. The registry keeps neither: it
normalises each value, takes its keyed digest (shared.pii.contact_hash) and publishes only that as
`registry.trainee.contact_recorded`, so eligibility can see many trainees sharing one phone or one
account (a fraud signal of 十四) without anyone reading the numbers. The raw value is never stored,
logged, echoed in an answer or an error, nor audited (the audit entry names the route only).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.registry.api import AUTH_ERRORS
from services.registry.handlers import PRODUCER, ensure_person
from services.registry.schemas import District, checked_resident_id
from shared.app import RuntimeDep, SessionDep
from shared.auth import AuthPrincipal, require_roles
from shared.clock import nantong_today
from shared.events import TraineeContactRecordedV1, derived_event_id, new_envelope
from shared.pii import contact_hash

router = APIRouter(prefix="/v1", tags=["training"])
Institution = Annotated[AuthPrincipal, require_roles("institution")]
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{9,11}$")
_ACCOUNT = re.compile(r"^\d{12,19}$")


def normal_phone(raw: str) -> str:
    """Digits only, without the +86 / 0086 country prefix: 138-0013-8000 and +86 13800138000 match."""
    digits = re.sub(r"[\s()+-]", "", raw)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            digits = digits[len(prefix):]
    if not (_MOBILE.match(digits) or _LANDLINE.match(digits)):
        raise ValueError("not a mainland mobile (11 digits, 1[3-9]…) or landline (0 + area code) number")
    return digits


def normal_account(raw: str) -> str:
    digits = re.sub(r"[\s-]", "", raw)
    if not _ACCOUNT.match(digits):
        raise ValueError("a bank account number is 12 to 19 digits")
    return digits


class TraineeContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    resident_id: str = Field(min_length=18, max_length=18, description="GB 11643 resident ID of the trainee")
    phone: str | None = Field(default=None, max_length=32)
    bank_account: str | None = Field(default=None, max_length=40)
    district: District | None = None

    _rid = field_validator("resident_id")(classmethod(lambda cls, v: checked_resident_id(v)))
    _phone = field_validator("phone")(classmethod(lambda cls, v: None if v is None else normal_phone(v)))
    _account = field_validator("bank_account")(classmethod(lambda cls, v: None if v is None else normal_account(v)))

    @model_validator(mode="after")
    def _something(self) -> TraineeContactCreate:
        if self.phone is None and self.bank_account is None:
            raise ValueError("give a phone, a bank_account, or both")
        return self


@router.post("/trainee-contacts", status_code=202, responses=AUTH_ERRORS,
             summary="A trainee's phone and bank account, from the institution's application form")
async def record_contact(body: TraineeContactCreate, session: SessionDep, runtime: RuntimeDep,
                         principal: Institution) -> dict[str, Any]:
    """Only digests are kept and published; the same details again change nothing."""
    institution = principal.institution_id
    assert institution is not None  # an institution token always names its institution
    key = await ensure_person(session, runtime, body.resident_id, body.district)
    details: list[tuple[Literal["phone", "bank_account"], str | None]] = [
        ("phone", body.phone), ("bank_account", body.bank_account)]
    today = nantong_today()  # the registry's clock (tests set it)
    envelopes = []
    for kind, value in details:
        if value is None:
            continue
        digest = contact_hash(runtime.state["pii_key"], kind, value)
        payload = TraineeContactRecordedV1(person_key=key, institution_code=institution, contact_kind=kind,
                                           digest=digest, recorded_on=today)
        envelopes.append(new_envelope(payload, key=key, producer=PRODUCER, event_id=derived_event_id(
            "trainee-contact", key, institution, kind, digest)))
    await runtime.emit(session, envelopes)
    await session.commit()
    runtime.wake_relay()
    return {"person_key": key, "recorded": [k for k, v in details if v is not None]}
