"""Verified tokens are remembered briefly (the signature check is the costliest part of an
authenticated request), but never past their expiry, and a revoked client is refused at once."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared import auth
from shared.auth import AuthPrincipal, InvalidToken, Verifier, issue_token
from shared.settings import Settings

INSTITUTION = AuthPrincipal(client_id="demo-institution", role="institution",
                            institution_id="91350100M000100Y43")


def _settings() -> Settings:
    return Settings(skillsub_env="test", skillsub_registry_url=None)


async def test_a_token_is_checked_once_then_taken_from_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings()
    verifier = Verifier(settings, "registry")
    token = issue_token(settings, INSTITUTION)
    calls = []
    real = auth.decode_token_expiring
    monkeypatch.setattr(auth, "decode_token_expiring", lambda *a: calls.append(1) or real(*a))
    first = await verifier.verify(token)
    again = await verifier.verify(token)
    assert first == again and first.institution_id == "91350100M000100Y43" and len(calls) == 1
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with pytest.raises(InvalidToken):  # another text is another token: checked, and refused
        await verifier.verify(tampered)


async def test_a_remembered_token_is_refused_once_it_expires() -> None:
    settings = _settings()
    verifier = Verifier(settings, "registry")
    # Issued so that it expires within two seconds of now.
    token = issue_token(settings, INSTITUTION, now=time.time() - settings.skillsub_token_ttl_seconds + 1)
    assert (await verifier.verify(token)).client_id == "demo-institution"
    await asyncio.sleep(2.1)
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


async def test_a_remembered_token_of_a_revoked_client_is_refused_at_once() -> None:
    settings = _settings()
    revoked: set[str] = set()

    async def active(client_id: str) -> bool:
        return client_id not in revoked

    verifier = Verifier(settings, "registry", client_check=active)
    token = issue_token(settings, INSTITUTION)
    assert (await verifier.verify(token)).client_id == "demo-institution"
    revoked.add("demo-institution")
    with pytest.raises(InvalidToken, match="client revoked"):
        await verifier.verify(token)
