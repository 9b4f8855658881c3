"""Custom schemathesis checks: personal data, institution and district scope, who owns amounts.

Each check is built for one caller profile (the token the run sends), because whether a response
leaks depends on who asked. A check raises AssertionError naming what leaked or what was accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.ids import is_valid_resident_id

# 17 digits + digit/X, not inside a longer digit run: the shape of a GB 11643 number.
# An ID stands alone: not inside a longer number (digits, a decimal point or an exponent around it).
_RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z.+-])\d{17}[\dXx](?![0-9A-Za-z.])")
# Payments fields that set money or a state, and the one role that owns each request.
MONEY_FIELDS = ("amount_fen", "advance_fen", "planned_fen", "earned_fen")
# Manual items (allocations, recoveries) are drafted by hr or finance; only hr approves them and
# only finance releases them (maker-checker, 十二.2).
PAYMENT_OWNER = {"/v1/allocations": {"hr", "finance"}, "/v1/recoveries": {"hr", "finance"},
                 "/v1/manual-items/{item_id}/approve": {"hr"}, "/v1/manual-items/{item_id}/release": {"finance"},
                 "/v1/statements": {"finance"}, "/v1/advances": {"hr"}, "/v1/advances/{plan_id}/settlement": {"hr"},
                 "/v1/batches": {"hr"}, "/v1/batches/{batch_id}/approve": {"hr"},
                 "/v1/batches/{batch_id}/release": {"finance"}, "/v1/batches/{batch_id}/submit": {"finance"},
                 "/v1/disbursements/{disbursement_id}/retry": {"hr"}}
CHECKED_OWNERS = {"/v1/reviews/{review_id}/resolution": {"bureau"}}  # eligibility: amounts by reviewers only


@dataclass(frozen=True)
class Caller:
    """The token a fuzz run sends: None role is no token at all."""

    name: str
    role: str | None
    client_id: str = ""
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def may_see_ids(self) -> bool:
        return bool(self.claims.get("may_see_ids")) and self.role in ("bureau", "auditor")

    @property
    def institution_id(self) -> str | None:
        return self.claims.get("institution_id")

    @property
    def districts(self) -> frozenset[str]:
        return frozenset(self.claims.get("districts", ()))


def unmasked_ids(text: str) -> list[str]:
    """Every valid GB 11643 number in the text (a masked one has stars and never matches)."""
    return [m for m in _RESIDENT_ID.findall(text) if is_valid_resident_id(m)]


def _body_text(response: Any) -> str:
    try:
        return response.content.decode("utf-8", "replace")
    except AttributeError:
        return str(response.text)


def _request_body(case: Any) -> dict[str, Any]:
    body = getattr(case, "body", None)
    return body if isinstance(body, dict) else {}


def _ndjson_lines(case: Any) -> Iterator[dict[str, Any]]:
    body = getattr(case, "body", None)
    if not isinstance(body, str):
        return
    for line in body.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def no_unmasked_resident_id(caller: Caller) -> Callable[..., None]:
    def no_unmasked_resident_id(ctx: Any, response: Any, case: Any) -> None:
        content_type = response.headers.get("content-type") or ""
        if isinstance(content_type, list):  # schemathesis keeps every header as a list
            content_type = content_type[0] if content_type else ""
        if caller.may_see_ids or content_type.startswith("text/plain; version="):
            return  # Prometheus exposition: numbers only, by construction
        leaked = unmasked_ids(_body_text(response))
        assert not leaked, f"{caller.name} received {len(leaked)} unmasked resident ID(s)"

    return no_unmasked_resident_id


def _accepted(response: Any) -> bool:
    return 200 <= response.status_code < 300


def no_cross_scope_write(caller: Caller) -> Callable[..., None]:
    """An institution writes only its own certificates and classes; district staff only their districts."""

    def no_cross_scope_write(ctx: Any, response: Any, case: Any) -> None:
        if case.method.upper() not in ("POST", "PUT", "DELETE") or not _accepted(response):
            return
        bodies = [_request_body(case), *_ndjson_lines(case)]
        if caller.role == "institution":
            for body in bodies:
                for key in ("issuer_code", "institution_id"):
                    owner = body.get(key)
                    assert owner in (None, caller.institution_id), \
                        f"institution {caller.institution_id} wrote {key}={owner!r} ({case.path})"
        if caller.role == "district" and case.path in ("/v1/people", "/v1/institutions", "/v1/bulk/people"):
            for body in bodies:
                district = body.get("district")
                assert district is None or district in caller.districts, \
                    f"district client {sorted(caller.districts)} wrote district {district!r} ({case.path})"

    return no_cross_scope_write


def no_foreign_amount_or_status(caller: Caller) -> Callable[..., None]:
    """Money and states are set only by the role that owns the request (十二: hr approves, finance pays)."""

    def no_foreign_amount_or_status(ctx: Any, response: Any, case: Any) -> None:
        if case.method.upper() != "POST" or not _accepted(response):
            return
        owner = PAYMENT_OWNER.get(case.path) or CHECKED_OWNERS.get(case.path)
        if owner is not None:
            assert caller.role in owner, f"{caller.name} set money/state at {case.path} (owners: {sorted(owner)})"

    return no_foreign_amount_or_status


def custom_checks(caller: Caller) -> list[Callable[..., None]]:
    return [no_unmasked_resident_id(caller), no_cross_scope_write(caller), no_foreign_amount_or_status(caller)]
