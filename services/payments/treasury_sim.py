"""A small treasury simulator for the embedded platform: accepts payment orders, writes statements.

Run: .venv/bin/python -m services.payments.treasury_sim --port 8013, then point the payments
service at it with TREASURY_URL=http://127.0.0.1:8013. State is in memory (a simulator).
Orders are idempotent by their Idempotency-Key: the same key with the same body is answered
again; with a different body it is refused (422). A payee reference starting with `invalid`
fails, so failure handling can be exercised; everything else is paid.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import PlainTextResponse

from services.payments.treasury import STATEMENT_COLUMNS


def create_app() -> FastAPI:
    app = FastAPI(title="Treasury simulator")
    orders: dict[str, str] = {}  # idempotency key -> body hash
    lines: list[dict[str, Any]] = []  # statement lines, in the order the payments settled

    @app.post("/v1/payment-orders", status_code=201)
    async def order(request: Request, idempotency_key: str = Header(...)) -> dict[str, Any]:
        raw = await request.body()
        digest = hashlib.sha256(raw).hexdigest()
        if idempotency_key in orders:
            if orders[idempotency_key] != digest:
                raise HTTPException(422, "Idempotency-Key reused with a different order")
            return {"accepted": True, "repeat": True}
        body = json.loads(raw)
        orders[idempotency_key] = digest
        for ln in body["lines"]:
            status = "failed" if str(ln["payee_ref"]).startswith("invalid") else "paid"
            lines.append({"payment_ref": ln["payment_ref"], "amount_fen": ln["amount_fen"], "status": status})
        return {"accepted": True, "repeat": False, "lines": len(body["lines"])}

    @app.get("/v1/statement", response_class=PlainTextResponse)
    async def statement(since: int = 0) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=STATEMENT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(lines[since:])
        return out.getvalue()

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8013)
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
