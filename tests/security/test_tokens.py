"""Tokens: only the registry's key mints them, each names the services it is for, a revoked
client is refused everywhere within 5 s, and the signing key rotates without downtime."""

from __future__ import annotations

import time

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth import generate_signing_key_pem, public_jwk, signing_ring
from shared.platform import Platform
from shared.settings import DEV_SIGNING_KEY
from tests.security.conftest import SERVICES, bearer, log_of, probe, token, until

PASSED = {"registry": 404, "eligibility": 200, "payments": 200, "reporting": 422}


def _claims(role: str = "finance", sub: str = "ghost-finance") -> dict[str, object]:
    now = int(time.time())
    return {"iss": "skillsub-registry", "sub": sub, "role": role, "iat": now, "exp": now + 600,
            "aud": list(SERVICES), "pii": True}


def test_tokens_not_signed_by_the_registrys_key_are_refused_by_every_service(platform: Platform) -> None:
    real_kid = signing_ring(DEV_SIGNING_KEY).kid  # the platform's registry signs with the dev key
    attacker = Ed25519PrivateKey.generate()
    forged = {
        # the old scheme: HS256 with the shared secret every pod held
        "hs256": jwt.encode(_claims("bureau"), "dev-only-secret-change-me-0123456789abcdef", algorithm="HS256"),
        "hs256 naming the real kid": jwt.encode(_claims("bureau"), "x" * 32, algorithm="HS256",
                                                headers={"kid": real_kid}),
        "own key, own kid": jwt.encode(_claims(), attacker, algorithm="EdDSA",
                                       headers={"kid": public_jwk(attacker.public_key())["kid"]}),
        "own key, the registry's kid": jwt.encode(_claims(), attacker, algorithm="EdDSA", headers={"kid": real_kid}),
        "alg none": jwt.encode(_claims("bureau"), None, algorithm="none"),
    }
    for service in SERVICES:
        for name, value in forged.items():
            r = probe(platform, service, bearer(value))
            assert r.status_code == 401, (service, name, r.text)
    real = bearer(token(platform, "demo-bureau"))
    assert {s: probe(platform, s, real).status_code for s in SERVICES} == PASSED
    metrics = httpx.get(platform.url("payments") + "/metrics", timeout=10).text
    assert 'skillsub_auth_failures_total{reason="unknown key id"}' in metrics
    assert 'reason="algorithm HS256 refused"' in metrics


def test_a_token_is_good_only_for_the_services_it_names(platform: Platform) -> None:
    institution = bearer(token(platform, "demo-institution"))  # aud: registry, eligibility
    assert probe(platform, "payments", institution).status_code == 401
    assert probe(platform, "reporting", institution).status_code == 401
    narrow = bearer(token(platform, "demo-bureau", audience="reporting"))
    assert probe(platform, "reporting", narrow).status_code == PASSED["reporting"]
    for service in ("registry", "eligibility", "payments"):
        assert probe(platform, service, narrow).status_code == 401, service
    too_wide = httpx.post(f"{platform.url('registry')}/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": "demo-institution",
        "client_secret": "demo-institution-secret", "audience": "payments"})
    assert too_wide.status_code == 400 and too_wide.json()["error"] == "invalid_target"


def test_a_revoked_client_is_refused_by_every_service_within_five_seconds(platform: Platform) -> None:
    admin = bearer(token(platform, "demo-security-admin"))
    made = httpx.post(f"{platform.url('registry')}/v1/clients", headers=admin, timeout=30,
                      json={"client_id": "nt-bureau-leaver", "role": "bureau"})
    assert made.status_code == 201, made.text
    live = bearer(token(platform, "nt-bureau-leaver", made.json()["client_secret"]))
    assert {s: probe(platform, s, live).status_code for s in SERVICES} == PASSED
    assert httpx.delete(f"{platform.url('registry')}/v1/clients/nt-bureau-leaver", headers=admin).status_code == 204
    revoked_at = time.monotonic()
    for service in SERVICES:  # payments first among equals: it moves money
        until(lambda s=service: probe(platform, s, live).status_code == 401,  # type: ignore[misc]
              timeout=5.0 - (time.monotonic() - revoked_at), what=f"{service} refuses the revoked client")
    assert "nt-bureau-leaver" not in httpx.get(f"{platform.url('registry')}/v1/oauth/revocations").text


def test_failed_logins_are_logged_and_counted_without_the_secret(platform: Platform) -> None:
    secret = "wrong-secret-7f3a9c"
    r = httpx.post(f"{platform.url('registry')}/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": "demo-finance", "client_secret": secret})
    assert r.status_code == 401
    bogus = jwt.encode(_claims(), Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "k"})
    assert probe(platform, "payments", bearer(bogus)).status_code == 401
    until(lambda: "client credentials refused" in log_of(platform, "registry"), 5, "registry logs the failure")
    until(lambda: "authentication failed" in log_of(platform, "payments"), 5, "payments logs the failure")
    for service in ("registry", "payments"):
        text = log_of(platform, service)
        assert secret not in text and bogus not in text and bogus.split(".")[1] not in text
    metrics = httpx.get(platform.url("registry") + "/metrics").text
    assert 'skillsub_auth_failures_total{reason="client credentials refused"}' in metrics


def test_token_guessing_is_cut_off_per_client_and_unknown_ids_cost_as_much_as_wrong_secrets(
        platform: Platform) -> None:
    url = f"{platform.url('registry')}/v1/oauth/token"

    def attempt(client_id: str) -> tuple[int, float]:
        start = time.perf_counter()
        r = httpx.post(url, data={"grant_type": "client_credentials", "client_id": client_id,
                                  "client_secret": "guess"}, timeout=30)
        return r.status_code, time.perf_counter() - start

    known = sorted(attempt("demo-hr-2")[1] for _ in range(7))
    unknown = sorted(attempt(f"nobody-{n}") for n in range(7))
    assert {status for status, _ in unknown} == {401}
    ratio = [t for _, t in unknown][3] / known[3]  # medians: same scrypt either way
    assert 0.5 < ratio < 2.0, (known, unknown)
    statuses = [attempt("demo-hr-2")[0] for _ in range(20)]
    assert statuses.count(429) >= 6 and set(statuses) <= {401, 429}, statuses
    assert httpx.post(url, data={"grant_type": "client_credentials", "client_id": "demo-hr-2",
                                 "client_secret": "demo-hr-2-secret"}).status_code == 429  # even the right one


def test_the_signing_key_rotates_without_downtime(platform: Platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    old = bearer(token(platform, "demo-finance"))
    assert probe(platform, "payments", old).status_code == 200
    new_pem = generate_signing_key_pem()
    keys = tmp_path / "signing.pem"
    keys.write_text(new_pem + DEV_SIGNING_KEY)  # new key first: it signs; the old one is still published
    platform.stop_service("registry")
    platform.start_service("registry", {"SKILLSUB_SIGNING_KEY_FILE": str(keys)})
    platform.wait_ready(("registry",))
    jwks = httpx.get(f"{platform.url('registry')}/.well-known/jwks.json").json()
    assert {k["kid"] for k in jwks["keys"]} == {signing_ring(new_pem).kid, signing_ring(DEV_SIGNING_KEY).kid}
    fresh_token = token(platform, "demo-finance")
    assert jwt.get_unverified_header(fresh_token)["kid"] == signing_ring(new_pem).kid
    assert probe(platform, "payments", old).status_code == 200  # the old key's tokens live until they expire
    assert probe(platform, "payments", bearer(fresh_token)).status_code == 200  # payments fetched the new key
    # eligibility verified it too: 403 is the role check after authentication (finance may not read reviews)
    assert probe(platform, "eligibility", bearer(fresh_token)).status_code == 403
