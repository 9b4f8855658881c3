"""Payments writes its disbursement events straight into outbox rows (postings.disbursement_events):
each row must be, byte for byte, what the pydantic path (payload model -> new_envelope ->
shared.events.staged) gives for the same row, and parse back into the event's model."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest

from services.payments import postings as pg
from services.payments.disbursements import State
from services.payments.drafting import _drafted_events
from shared.events import (
    DisbursementDraftedV1,
    DisbursementStatusChangedV1,
    Envelope,
    derived_event_id,
    new_envelope,
    staged,
)

# Texts a JSON writer can get wrong: quotes, backslashes, control characters, non-ASCII, U+2028.
AWKWARD = ['4f2a' * 16, 'quo"te\\back', "tab\tnl\ncr\r\x01\x1f\x7f", "四.4 é \u2028 \U0001f600"]


def _row(text: str, district: str | None, attempt: int = 1, status: str = "reserved") -> dict[str, object]:
    return {"disbursement_id": uuid.uuid4(), "decision_id": uuid.uuid4(), "person_key": text, "clause": text,
            "amount_fen": 97_500, "source": text, "district": district, "attempt": attempt, "status": status}


def _pydantic_row(model: type[DisbursementDraftedV1 | DisbursementStatusChangedV1], r: dict[str, object],
                  status: str, event_id: uuid.UUID, occurred_at: datetime) -> tuple[str, str, str, str]:
    payload = model(disbursement_id=r["disbursement_id"], decision_id=r["decision_id"], person_key=r["person_key"],
                    clause=r["clause"], amount_fen=r["amount_fen"], funding_source=r["source"],
                    district=r["district"], status=status)
    return staged([new_envelope(payload, key=str(r["person_key"]), producer="payments", event_id=event_id,
                                occurred_at=occurred_at)])[0]


def _occurred(row: tuple[str, str, str, str]) -> datetime:
    return Envelope.model_validate_json(row[3]).occurred_at


@pytest.mark.parametrize("district", ["320612", None])
@pytest.mark.parametrize("status", [State.APPROVED, State.RELEASED, State.PAID, State.CANCELLED])
def test_a_status_event_row_is_the_pydantic_envelope_byte_for_byte(status: State, district: str | None) -> None:
    rows = [_row(text, district, attempt=k + 1) for k, text in enumerate(AWKWARD)]
    out = pg.status_events(rows, status)
    assert len(out) == len(rows)
    for r, got in zip(rows, out, strict=True):
        event_id = derived_event_id("disbursement-status", r["disbursement_id"], r["attempt"], status)
        assert got == _pydantic_row(DisbursementStatusChangedV1, r, status.value, event_id, _occurred(got))
        parsed = Envelope.model_validate_json(got[3]).parsed()
        assert isinstance(parsed, DisbursementStatusChangedV1)
        assert (parsed.person_key, parsed.clause, parsed.district, parsed.status) == (
            r["person_key"], r["clause"], district, status.value)


def test_a_drafted_event_row_is_the_pydantic_envelope_byte_for_byte() -> None:
    rows = [_row(text, "320612", status=s) for text in AWKWARD for s in ("reserved", "waiting")]
    for r, got in zip(rows, _drafted_events(rows), strict=True):
        event_id = derived_event_id("drafted", r["disbursement_id"])
        assert got == _pydantic_row(DisbursementDraftedV1, r, str(r["status"]), event_id, _occurred(got))
        assert json.loads(got[3])["payload"]["status"] == r["status"]


def test_uuid5_text_is_the_uuid5_of_the_name() -> None:
    for name in ("skillsub:drafted:x", "", "四" * 100):
        assert pg.uuid5_text(name) == str(uuid.uuid5(uuid.NAMESPACE_URL, name)) == str(pg.uuid5_url(name))
