"""Compare environment variables that deployment files set with what shared.settings reads."""

from __future__ import annotations

from collections.abc import Mapping

from shared.settings import Settings

# Values a production deployment must supply: Settings refuses dev defaults or None for these.
PRODUCTION_REQUIRED = ("SKILLSUB_PII_KEY", "SKILLSUB_AUDIT_KEY", "SKILLSUB_REGISTRY_URL", "KAFKA_BOOTSTRAP_SERVERS")
DATABASE_VARS = ("DATABASE_URL",) + tuple(
    f"{s.upper()}_DATABASE_URL" for s in ("registry", "eligibility", "payments", "reporting")
)
# Stand-ins for values only a cluster or an .env file holds (secrets, generated URLs).
PLACEHOLDERS = {
    "SKILLSUB_PII_KEY": "cGxhY2Vob2xkZXItcGlpLWtleS0zMi1ieXRlcy1sb25nIQ==",
    "SKILLSUB_AUDIT_KEY": "cGxhY2Vob2xkZXItYXVkaXQta2V5LTMyLWJ5dGVzLWxvbg==",
    "DATABASE_URL": "postgresql://skillsub:pw@db:5432/skillsub_registry",
}


def settings_env_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def unknown_vars(env: Mapping[str, object]) -> set[str]:
    return set(env) - settings_env_names()


def missing_production_vars(env: Mapping[str, object]) -> set[str]:
    missing = {name for name in PRODUCTION_REQUIRED if name not in env}
    if not any(name in env for name in DATABASE_VARS):
        missing.add("DATABASE_URL")
    return missing


def settings_from(env: Mapping[str, str | None]) -> Settings:
    """Build Settings from the deployment's values, placeholders for the ones held elsewhere.

    Init kwargs win over the process environment, so the test machine's variables do not leak in.
    """
    values = {
        k.lower(): (PLACEHOLDERS.get(k, "placeholder") if v is None else v) for k, v in env.items()
    }
    return Settings(**values)
