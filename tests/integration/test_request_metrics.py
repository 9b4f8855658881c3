"""Every answer is counted in the request metrics, a 500 included, and a 500 is problem+json
naming no internals; the OpenAPI document shows the one bearer scheme."""

from __future__ import annotations

import pytest
from fastapi import APIRouter

from services.payments.main import create_app
from tests.conftest import serve

pytestmark = pytest.mark.usefixtures("drop_test_databases")


async def test_an_unhandled_error_is_a_counted_problem_json_500(settings) -> None:
    app = create_app(settings)
    broken = APIRouter()

    @broken.get("/v1/broken")
    async def fail() -> None:
        raise RuntimeError("secret internals 11010519491231002X")

    app.include_router(broken)
    async with serve(app) as pay:
        r = await pay.get("/v1/broken")
        assert r.status_code == 500 and r.headers["content-type"].startswith("application/problem+json")
        assert "internals" not in r.text and r.json()["request_id"] == r.headers["x-request-id"]
        metrics = (await pay.get("/metrics")).text
        assert 'skillsub_http_requests_total{method="GET",route="/v1/broken",status="500"} 1.0' in metrics
        schema = (await pay.get("/openapi.json")).json()
        assert schema["components"]["securitySchemes"]["bearer"] == {
            "type": "http", "scheme": "bearer", "description": "A token from the registry's POST /v1/oauth/token"}
