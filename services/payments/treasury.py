"""The treasury interface: payment orders over HTTP (httpx), the payment file, the statement CSV.

Every outbound call carries an Idempotency-Key derived from what it sends (the batch), so a
call repeated after a crash or timeout is recognised by the treasury and never pays twice.
Orders and payment files name the payee by registry identity (person key or credit code) and the
account it is paid to (decrypted only for them); statements carry payment references only.
The payment file has one column per field, and a cell a spreadsheet would read as a formula
(= + - @, tab, carriage return first) is neutralised with a leading apostrophe (CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import httpx

from shared.money import fen_to_yuan

ORDER_PATH = "/v1/payment-orders"
STATEMENT_PATH = "/v1/statement"
FILE_COLUMNS = ("payment_ref", "decision_id", "part", "attempt", "clause", "source", "district", "payee_kind",
                "payee_ref", "account_kind", "account_number", "account_name", "bank_name", "amount_fen",
                "amount_yuan")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
STATEMENT_COLUMNS = ("payment_ref", "amount_fen", "status")
STATEMENT_STATUSES = ("paid", "failed")


@dataclass(frozen=True, slots=True)
class OrderLine:
    payment_ref: str  # Disbursement.attempt_ref `<decision_id>:<part>#<attempt>`: unique per attempt
    decision_id: str
    part: str
    attempt: int
    clause: str
    source: str
    district: str
    payee_kind: str
    payee_ref: str  # person key (worker) or unified social credit code
    account_kind: str  # social_security_card | bank_account
    account_number: str
    account_name: str | None
    bank_name: str | None
    amount_fen: int  # cash actually sent, after any offset (十四)


@dataclass(frozen=True, slots=True)
class StatementLine:
    line_no: int
    payment_ref: str
    amount_fen: int
    status: str  # paid | failed


class StatementError(ValueError):
    """The statement file is malformed; `line` says where (0: the header)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def idempotency_key(batch_id: str) -> str:
    return f"skillsub-payments:batch:{batch_id}"


def cell(value: object) -> str:
    """A CSV cell no spreadsheet evaluates: text starting like a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def payment_file(lines: Sequence[OrderLine]) -> str:
    """The CSV a treasury without an API imports: one row per payment, one column per field."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FILE_COLUMNS)
    for ln in lines:
        values = asdict(ln) | {"amount_yuan": fen_to_yuan(ln.amount_fen)}
        writer.writerow([cell(values[c]) for c in FILE_COLUMNS])
    return out.getvalue()


def parse_statement(text: str) -> list[StatementLine]:
    """Parse `payment_ref,amount_fen,status[,...]`; raise StatementError naming the bad line."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in STATEMENT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise StatementError(0, f"missing column(s) {', '.join(missing)}")
    return [_line(n, row) for n, row in enumerate(reader, start=2)]


def _line(n: int, row: dict[str, str]) -> StatementLine:
    ref, amount, status = (row.get(c) or "" for c in STATEMENT_COLUMNS)
    if not ref.strip():
        raise StatementError(n, "payment_ref is empty")
    if not amount.strip().isdigit() or not amount.isascii():
        raise StatementError(n, f"amount_fen must be a non-negative integer, got {amount!r}")
    if status not in STATEMENT_STATUSES:
        raise StatementError(n, f"status must be paid or failed, got {status!r}")
    return StatementLine(n, ref.strip(), int(amount), status)


class TreasuryClient:
    """Thin httpx client; `transport` lets tests put an httpx.MockTransport at the boundary."""

    def __init__(self, base_url: str, transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 10.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout)

    async def submit(self, batch_id: str, lines: Sequence[OrderLine]) -> None:
        """Send one batch's payment order; a repeat with the same key is answered, not re-paid."""
        body = {"batch_id": batch_id, "lines": [asdict(ln) for ln in lines]}
        resp = await self._client.post(ORDER_PATH, json=body,
                                       headers={"Idempotency-Key": idempotency_key(batch_id)})
        resp.raise_for_status()

    async def statement(self, since: int = 0) -> str:
        resp = await self._client.get(STATEMENT_PATH, params={"since": since})
        resp.raise_for_status()
        return resp.text

    async def aclose(self) -> None:
        await self._client.aclose()
