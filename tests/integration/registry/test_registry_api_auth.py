"""Every registry write needs a token of a live client; catalogs stay public."""

from __future__ import annotations

import time

import jwt
import pytest

from services.registry.main import create_app
from shared.auth import AuthPrincipal, issue_token
from tests.conftest import serve
from tests.integration.registry.registry_helpers import auth, certificate

pytestmark = pytest.mark.usefixtures("drop_test_databases")

WRITES = ["/v1/certificates", "/v1/facts", "/v1/people", "/v1/institutions", "/v1/classes", "/v1/completions",
          "/v1/catalog/versions", "/v1/catalog/shortage-lists", "/v1/clients", "/v1/bulk/people",
          "/v1/bulk/facts", "/v1/bulk/certificates", "/v1/payee-accounts", "/v1/bulk/payee-accounts"]
PUBLIC = ["/v1/catalog/standards", "/v1/catalog/shortage-lists", "/v1/institutions", "/v1/classes"]


async def test_writes_without_a_valid_token_get_401_and_catalog_reads_stay_public(settings) -> None:
    async with serve(create_app(settings)) as reg:
        for path in WRITES:
            r = await reg.post(path, json={})
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"].startswith("Bearer")
        for path in PUBLIC:
            assert (await reg.get(path)).status_code == 200, path
        forged = jwt.encode({"sub": "demo-bureau", "role": "bureau", "iss": "skillsub-registry",
                             "iat": int(time.time()), "exp": int(time.time()) + 60}, "not-our-key-" * 4)
        expired = issue_token(settings, AuthPrincipal("demo-bureau", "bureau"), now=time.time() - 7200)
        for bad in (forged, expired, "garbage"):
            r = await reg.post("/v1/certificates", json=certificate(), headers={"Authorization": f"Bearer {bad}"})
            assert r.status_code == 401
        wrong = await reg.post("/v1/oauth/token", data={"grant_type": "client_credentials",
                                                        "client_id": "demo-bureau", "client_secret": "nope"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


async def test_a_revoked_client_loses_its_live_tokens_and_cannot_get_new_ones(settings) -> None:
    async with serve(create_app(settings)) as reg:
        bureau = await auth(reg, "demo-security-admin")  # 安全管理员 issues and revokes clients
        body = {"client_id": "inst-b", "role": "institution", "institution_id": "91320600MA1MXXXX0B"}
        created = await reg.post("/v1/clients", json=body, headers=bureau)
        assert created.status_code == 201, created.text
        secret = created.json()["client_secret"]
        assert (await reg.post("/v1/clients", json=body, headers=bureau)).status_code == 409
        inst_b = await auth(reg, "inst-b", secret)
        own = certificate(issuer_code="91320600MA1MXXXX0B")
        assert (await reg.post("/v1/certificates", json=own, headers=inst_b)).status_code == 201
        assert (await reg.delete("/v1/clients/inst-b", headers=bureau)).status_code == 204
        after = await reg.post("/v1/certificates", json=certificate(2, issuer_code="91320600MA1MXXXX0B"),
                               headers=inst_b)
        assert after.status_code == 401
        again = await reg.post("/v1/oauth/token", data={"grant_type": "client_credentials",
                                                        "client_id": "inst-b", "client_secret": secret})
        assert again.status_code == 401


async def test_only_the_security_administrator_administers_clients(settings) -> None:
    async with serve(create_app(settings)) as reg:
        body = {"client_id": "sneaky", "role": "bureau"}
        for who in ("demo-bureau", "demo-auditor", "demo-district", "demo-institution", "demo-feeder-education"):
            r = await reg.post("/v1/clients", json=body, headers=await auth(reg, who))
            assert r.status_code == 403, who
            assert (await reg.delete("/v1/clients/demo-bureau", headers=await auth(reg, who))).status_code == 403
        grant = {"client_id": "peek", "role": "district", "districts": ["320612"], "may_see_ids": True}
        admin = await auth(reg, "demo-security-admin")
        refused = await reg.post("/v1/clients", json=grant, headers=admin)
        assert refused.status_code == 422
        for role in ("hr", "finance"):  # payments' staff clients are issued through the API too
            r = await reg.post("/v1/clients", json={"client_id": f"nt-{role}-01", "role": role}, headers=admin)
            assert r.status_code == 201, r.text
            assert (await auth(reg, f"nt-{role}-01", r.json()["client_secret"]))["Authorization"]
