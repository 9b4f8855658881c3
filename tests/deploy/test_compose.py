"""docker-compose.yml validates against the Compose specification and agrees with the code."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from shared.settings import DEFAULT_PORTS, SERVICES
from tests.deploy.manifests import DEPLOY, ROOT, load_all
from tests.deploy.settings_check import missing_production_vars, settings_from, unknown_vars

jsonschema = pytest.importorskip("jsonschema", reason="pip install jsonschema (test extras)")

# Vendored from check-jsonschema 0.39.0 (PyPI), builtin_schemas/vendor/compose-spec.json, which
# tracks compose-spec/compose-spec (Apache-2.0, LICENSE.compose-spec beside it).
SCHEMA = Path(__file__).with_name("compose-spec.json")
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"
FAIL_FAST = re.compile(r"\$\{[A-Z_]+:\?[^}]+\}")
INTERPOLATION = re.compile(r"\$\{([A-Z_]+)(:?[-?])?([^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    (doc,) = load_all(ROOT / "docker-compose.yml")
    return doc


def interpolate(value: str) -> str:
    """What compose substitutes with an .env file holding sample values (defaults where given)."""

    def one(m: re.Match[str]) -> str:
        name, op, default = m.groups()
        return default if op in (":-", "-") else f"sample-{name.lower()}"

    return INTERPOLATION.sub(one, value)


def skillsub_services(compose: dict) -> dict[str, dict]:
    return {n: s for n, s in compose["services"].items() if s.get("command", [""])[0] == "skillsub"}


def test_the_vendored_schema_is_the_recorded_copy() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256


def test_compose_file_validates_against_the_compose_specification(compose: dict) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(compose)
    ]
    assert errors == []


def test_the_compose_schema_check_rejects_a_misspelt_key(compose: dict) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    broken = json.loads(json.dumps(compose))
    broken["services"]["registry"]["healthcheck"]["intervall"] = "5s"
    assert not validator.is_valid(broken)


def test_all_four_services_run_from_one_image_on_their_ports(compose: dict) -> None:
    services = skillsub_services(compose)
    assert sorted(services) == sorted(SERVICES)
    assert len({s["image"] for s in services.values()}) == 1
    for name, svc in services.items():
        port = DEFAULT_PORTS[name]
        assert svc["command"] == ["skillsub", "serve", name, "--host", "0.0.0.0"]
        assert svc["ports"] == [f"{port}:{port}"]
        assert f"http://127.0.0.1:{port}/readyz" in " ".join(svc["healthcheck"]["test"])


def test_every_variable_compose_sets_is_a_setting_and_production_ones_are_set(
    compose: dict,
) -> None:
    for name, svc in skillsub_services(compose).items():
        env = {k: interpolate(str(v)) for k, v in svc["environment"].items()}
        assert unknown_vars(env) == set(), name
        assert missing_production_vars(env) == set(), name
        assert settings_from(env).skillsub_env == "production"


def test_secrets_come_from_the_env_file_and_fail_fast_when_missing(compose: dict) -> None:
    for name, svc in skillsub_services(compose).items():
        for var in ("SKILLSUB_AUDIT_KEY", "SKILLSUB_PII_KEY", f"{name.upper()}_DATABASE_URL",
                    f"{name.upper()}_MIGRATION_DATABASE_URL"):
            assert FAIL_FAST.search(svc["environment"][var]), var
    registry = skillsub_services(compose)["registry"]
    assert registry["environment"]["SKILLSUB_SIGNING_KEY_FILE"] == "/run/secrets/skillsub_signing_key"
    assert registry["secrets"] == ["skillsub_signing_key"] and "skillsub_signing_key" in compose["secrets"]
    assert FAIL_FAST.search(compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"])
    assert FAIL_FAST.search(
        compose["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    )
    example = (DEPLOY / "compose.env.example").read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{([A-Z_]+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert required <= set(re.findall(r"^([A-Z_]+)=", example, re.MULTILINE))


def test_services_wait_for_healthy_dependencies(compose: dict) -> None:
    for name, svc in compose["services"].items():
        for dep, cond in svc.get("depends_on", {}).items():
            expected = (
                "service_completed_successfully" if dep == "kafka-topics" else "service_healthy"
            )
            assert cond == {"condition": expected}, (name, dep)
            assert dep == "kafka-topics" or "healthcheck" in compose["services"][dep], dep


def test_the_init_script_creates_each_services_database_and_its_two_roles(compose: dict) -> None:
    script = (DEPLOY / "postgres" / "init-databases.sh").read_text(encoding="utf-8")
    loop = re.search(r"for service in ([a-z ]+); do", script)
    assert loop and 'CREATE DATABASE skillsub_${service} OWNER \\"skillsub_${service}\\"' in script
    assert "REVOKE ALL ON DATABASE skillsub_${service} FROM PUBLIC" in script
    created = {f"skillsub_{s}" for s in loop.group(1).split()}
    for name, svc in skillsub_services(compose).items():
        env = {k: interpolate(str(v)) for k, v in svc["environment"].items()}
        settings = settings_from(env)
        runtime, owner = make_url(settings.database_url_for(name)), make_url(settings.migration_url_for(name))
        assert runtime.database == owner.database and runtime.database in created
        assert (runtime.username, owner.username) == (f"skillsub_{name}_app", f"skillsub_{name}")


def test_kafka_topics_are_created_with_the_platform_partition_count(compose: dict) -> None:
    script = compose["services"]["kafka-topics"]["command"][0]
    assert re.search(
        r"for topic in registry\.events eligibility\.events payments\.events "
        r"reporting\.events; do",
        script,
    )
    assert '--partitions "$$PARTITIONS"' in script
    assert (
        compose["services"]["kafka-topics"]["environment"]["PARTITIONS"]
        == (skillsub_services(compose)["eligibility"]["environment"]["KAFKA_TOPIC_PARTITIONS"])
    )
    assert compose["services"]["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def _acl_lines(script: str) -> set[tuple[str, str, str, str, str]]:
    """The ACLs kafka-topics creates, as (principal, operation, type, pattern, name)."""
    acls = set()
    for line in script.splitlines():
        m = re.match(r"\s*acl (\w+) (.*)$", line)
        if not m:
            continue
        words = m.group(2).split()
        ops = [words[i + 1].upper() for i, w in enumerate(words) if w == "--operation"]
        kind = "TOPIC" if "--topic" in words else "GROUP"
        name = words[words.index("--topic" if kind == "TOPIC" else "--group") + 1]
        acls |= {(f"User:skillsub-{m.group(1)}", op, kind, "LITERAL", name) for op in ops}
    return acls


def test_compose_kafka_gives_each_principal_exactly_the_acls_the_tests_enforce(compose: dict) -> None:
    from shared.kafka import service_acls

    script = compose["services"]["kafka-topics"]["command"][0]
    assert _acl_lines(script) == {a for s in SERVICES for a in service_acls(s)}
    scram = re.search(r"for service in ([a-z ]+); do\n[^\n]*\n[^\n]*--entity-name \"skillsub-\$\$service\"", script)
    assert scram and scram.group(1).split() == list(SERVICES) and "SCRAM-SHA-512=" in script
    kafka = compose["services"]["kafka"]["environment"]
    assert kafka["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert kafka["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert "ports" not in compose["services"]["kafka"]  # neither listener is published to the host


def test_compose_runs_the_kafka_version_and_topic_settings_the_tests_run(compose: dict) -> None:
    from shared.apache_kafka import kafka_version
    from shared.kafka import RETENTION_MS, topic_config

    for name in ("kafka", "kafka-topics"):
        assert compose["services"][name]["image"] == f"apache/kafka:{kafka_version()}"
    script = compose["services"]["kafka-topics"]["command"][0]
    configs = dict(re.findall(r"--config ([a-z.]+)=(\S+)", script))
    assert configs == topic_config(1)
    assert compose["services"]["kafka"]["environment"]["KAFKA_LOG_RETENTION_MS"] == str(RETENTION_MS)


def test_each_compose_service_connects_as_its_own_principal(compose: dict) -> None:
    for name, svc in skillsub_services(compose).items():
        env = svc["environment"]
        assert (env["KAFKA_BROKER_KIND"], env["KAFKA_SECURITY_PROTOCOL"]) == ("apache", "SASL_PLAINTEXT")
        assert env["KAFKA_SASL_USERNAME"] == f"skillsub-{name}"
        assert FAIL_FAST.search(env["KAFKA_SASL_PASSWORD"]) and name.upper() in env["KAFKA_SASL_PASSWORD"]
