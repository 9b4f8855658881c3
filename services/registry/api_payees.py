"""Payees' payment accounts over REST: set by the payee's authority, read masked by paying staff."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from services.registry import payee_rules as rules
from services.registry import payees, people
from services.registry.api import AUTH_ERRORS
from services.registry.schemas import PayeeAccountCreate
from services.registry.training import credit_code_warning
from shared.app import RuntimeDep, SessionDep
from shared.auth import PrincipalDep
from shared.problems import Problem

router = APIRouter(prefix="/v1", tags=["payees"])


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
        raise Problem(403, "Forbidden", rules.not_authority(body.payee_kind), field="payee_kind")
    try:
        rules.check_account(body.payee_kind, body.account_kind, body.account_number)
    except rules.InvalidAccount as exc:
        raise payees.account_problem(exc) from None
    ref = await _payee_ref(session, runtime, body)
    [recorded] = await payees.record_accounts(session, runtime, [rules.AccountIn(
        body.payee_kind, ref, body.account_kind, rules.seal(runtime.state["pii_key"], body.account_number),
        body.account_name, body.bank_name)], principal.client_id)
    await session.commit()
    runtime.wake_relay()
    response.status_code = 201 if recorded.changed else 200
    return payees.read(recorded.row)


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
    kind = rules.PayeeKind(payee_kind)
    if not payees.may_read(principal, kind):
        raise Problem(403, "Forbidden", f"role {principal.role} may not read payment accounts", field="payee_kind")
    read = await payees.get_account(session, kind, payee_ref)
    if read is None:
        raise Problem(404, "No payment account", f"no account on record for this {kind}", field="payee_ref")
    return read
