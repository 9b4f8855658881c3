"""Plumbing that every service relies on: money, settings, logs, problems."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from fractions import Fraction

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from shared.logs import JsonFormatter, scrub
from shared.money import fen_to_yuan, round_half_up, share_at_most, share_of, yuan_to_fen
from shared.problems import Problem, install_problem_handlers
from shared.settings import DEV_PII_KEY, DEV_SIGNING_KEY, Settings, normalise_async_url, with_database


def test_round_half_up_rounds_halves_away_from_zero_once() -> None:
    assert round_half_up(Fraction(5, 2)) == 3
    assert round_half_up(Fraction(-5, 2)) == -3
    assert round_half_up(Fraction(249, 100)) == 2
    assert round_half_up(Decimal("0.5")) == 1


def test_shortage_uplift_of_sixty_five_percent_rounds_at_the_end_only() -> None:
    standard_fen = 170001  # 1,700.01 yuan
    assert share_of(standard_fen, Fraction(1, 2) * Fraction(13, 10)) == 110501  # 110500.65 -> 110501


def test_a_capped_share_rounds_down_so_the_cap_is_never_passed_by_a_fen() -> None:
    assert share_at_most(225_001, Fraction(1, 2)) == 112_500  # half-up would give 112,501 > 50%
    assert share_of(225_001, Fraction(1, 2)) == 112_501
    assert share_at_most(45 * 500_000, "0.5") == 11_250_000  # REFERENCE.md: 45 x 5,000 yuan x 50%


@given(st.integers(min_value=0, max_value=10**12), st.fractions(min_value=0, max_value=1))
def test_a_capped_share_is_the_largest_fen_amount_within_the_share(amount: int, share: Fraction) -> None:
    got = share_at_most(amount, share)
    assert got <= amount * share < got + 1


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_fen_survive_a_round_trip_through_yuan_strings(fen: int) -> None:
    assert yuan_to_fen(fen_to_yuan(fen)) == fen


@pytest.mark.parametrize("text", ["1.234", "abc", "NaN", "Infinity", ""])
def test_bad_yuan_strings_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        yuan_to_fen(text)


KEYS = {"skillsub_pii_key": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",
        "skillsub_audit_key": "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=", "skillsub_registry_url": "http://registry"}


def test_production_refuses_the_development_secrets_and_signing_key() -> None:
    with pytest.raises(ValidationError, match="SKILLSUB_PII_KEY and SKILLSUB_AUDIT_KEY"):
        Settings(skillsub_env="production", database_url="postgresql://x/y", kafka_bootstrap_servers="k:9092")
    ok = Settings(skillsub_env="production", database_url="postgresql://x/y", kafka_bootstrap_servers="k:9092", **KEYS)
    assert ok.skillsub_pii_key != DEV_PII_KEY
    with pytest.raises(RuntimeError, match="SKILLSUB_SIGNING_KEY_FILE"):
        ok.signing_key_pem()
    with pytest.raises(RuntimeError, match="MIGRATION_DATABASE_URL"):
        ok.migration_url_for("payments")
    assert Settings(skillsub_env="test").signing_key_pem() == DEV_SIGNING_KEY


def test_production_requires_external_servers() -> None:
    with pytest.raises(ValidationError, match="KAFKA_BOOTSTRAP_SERVERS"):
        Settings(skillsub_env="production", database_url="postgresql://x/y", **KEYS)


def test_each_service_gets_its_own_database_on_the_shared_server() -> None:
    s = Settings(database_url="postgresql://u:p@db:5432/postgres", payments_database_url="postgres://a@b/c")
    assert s.database_url_for("registry") == "postgresql+asyncpg://u:p@db:5432/skillsub_registry"
    assert s.database_url_for("payments") == "postgresql+asyncpg://a@b/c"
    socket_url = with_database(normalise_async_url("postgresql://postgres@/postgres?host=/tmp/pg"), "x")
    from sqlalchemy.engine import make_url

    parsed = make_url(socket_url)
    assert (parsed.database, parsed.query["host"]) == ("x", "/tmp/pg")


def test_log_lines_never_carry_resident_ids_or_phone_numbers() -> None:
    assert scrub("person 11010519491231002X phoned from 13812345678") == \
        "person [resident-id] phoned from [phone]"
    record = logging.LogRecord("x", logging.INFO, "f", 1, "id=%s", ("34052419800101001X",), None)
    line = json.loads(JsonFormatter("registry").format(record))
    assert line["msg"] == "id=[resident-id]" and line["service"] == "registry"


def test_uuids_and_long_numbers_are_not_mistaken_for_ids() -> None:
    text = "decision 8a17d7df-4eee-4b1a-9c2d-000000000000 offset 1234567890123456789"
    assert scrub(text) == text


class _Body(BaseModel):
    amount_fen: int


async def test_errors_are_problem_json_naming_the_field() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    def create(body: _Body) -> dict[str, int]:
        if body.amount_fen > 10:
            raise Problem(409, "Too much", "amount over the fund", field="amount_fen")
        return {"ok": 1}

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    bad = await client.post("/things", json={"amount_fen": "lots"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["errors"][0]["field"] == "amount_fen"
    conflict = await client.post("/things", json={"amount_fen": 11})
    assert conflict.status_code == 409 and conflict.json()["errors"] == [
        {"field": "amount_fen", "problem": "amount over the fund"}]
    missing = await client.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["status"] == 404
