"""Payees' payment accounts over REST: set by the payee's authority, read masked by paying staff."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.registry import payees, people
from services.registry.api import AUTH_ERRORS
from services.registry.schemas import CreditCode, checked_resident_id
from services.registry.training import credit_code_warning
from shared.app import RuntimeDep, SessionDep
from shared.auth import PrincipalDep
from shared.problems import Problem

router = APIRouter(prefix="/v1", tags=["payees"])
Name = Annotated[str, Field(min_length=2, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class PayeeAccountCreate(BaseModel):
    """A worker is named by resident ID (the registry keeps only its keyed hash), an enterprise or
    institution by its credit code. Workers are paid to their social-security card, organisations
    to a bank account in their name."""

    model_config = ConfigDict(extra="forbid")
    payee_kind: payees.PayeeKind
    resident_id: str | None = Field(default=None, min_length=18, max_length=18)
    credit_code: CreditCode | None = None
    account_kind: payees.AccountKind
    account_number: str = Field(min_length=8, max_length=32, description="digits only; stored encrypted")
    account_name: Name | None = Field(default=None, description="户名: an organisation's account name")
    bank_name: Name | None = None

    _rid = field_validator("resident_id")(classmethod(lambda cls, v: v and checked_resident_id(v)))

    @model_validator(mode="after")
    def _names_the_payee_once(self) -> PayeeAccountCreate:
        worker = self.payee_kind is payees.PayeeKind.WORKER
        if worker and (self.resident_id is None or self.credit_code is not None):
            raise ValueError("a worker is named by resident_id alone")
        if not worker and (self.credit_code is None or self.resident_id is not None):
            raise ValueError("an enterprise or institution is named by credit_code alone")
        if not worker and self.account_name is None:
            raise ValueError("an organisation's bank account needs its account_name")
        if worker and self.account_name is not None:
            raise ValueError("a worker's card carries no account_name here (personal data)")
        return self


class PayeeAccountRead(BaseModel):
    payee_kind: str
    payee_ref: str
    account_kind: str
    account_masked: str
    account_name: str | None
    bank_name: str | None
    revision: int
    recorded_on: Any


@router.post("/payee-accounts", status_code=201, response_model=PayeeAccountRead,
             responses={**AUTH_ERRORS, 200: {"description": "Same account already in force: nothing changed"},
                        422: {"description": "Invalid account"}})
async def record_payee_account(body: PayeeAccountCreate, response: Response, session: SessionDep,
                               runtime: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    """Set the account a payee is paid to; emits `registry.payee_account.recorded` (number encrypted)."""
    if not payees.may_set(principal, body.payee_kind):
        authority = "the employment-service feeder" if body.payee_kind is payees.PayeeKind.WORKER else "the bureau"
        raise Problem(403, "Forbidden", f"only {authority} sets a {body.payee_kind}'s account", field="payee_kind")
    try:
        payees.check_account(body.payee_kind, body.account_kind, body.account_number)
    except payees.InvalidAccount as exc:
        raise payees.account_problem(exc) from None
    ref = await _payee_ref(session, runtime, body)
    read, changed = await payees.record_account(session, runtime, payees.AccountIn(
        body.payee_kind, ref, body.account_kind, body.account_number, body.account_name, body.bank_name),
        principal.client_id)
    await session.commit()
    runtime.wake_relay()
    response.status_code = 201 if changed else 200
    return read


async def _payee_ref(session: SessionDep, runtime: RuntimeDep, body: PayeeAccountCreate) -> str:
    if body.resident_id is not None:
        keys = await people.register_people(session, runtime, [people.NewPerson(body.resident_id, None)])
        return keys[body.resident_id]
    assert body.credit_code is not None
    credit_code_warning(body.credit_code)  # malformed: 422; a pilot code's check mismatch is kept
    return body.credit_code


PayeeRef = Annotated[str, Path(min_length=3, max_length=128, pattern=r"^[0-9A-Za-z]+$")]


@router.get("/payee-accounts/{payee_kind}/{payee_ref}", response_model=PayeeAccountRead,
            responses={**AUTH_ERRORS, 404: {"description": "No account on record"}})
async def get_payee_account(payee_kind: Literal["worker", "enterprise", "institution"], payee_ref: PayeeRef,
                            session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """The account in force, masked."""
    kind = payees.PayeeKind(payee_kind)
    if not payees.may_read(principal, kind):
        raise Problem(403, "Forbidden", f"role {principal.role} may not read payment accounts", field="payee_kind")
    read = await payees.get_account(session, kind, payee_ref)
    if read is None:
        raise Problem(404, "No payment account", f"no account on record for this {kind}", field="payee_ref")
    return read
