"""Settings read from the environment (pydantic-settings). One class for every service.

With nothing configured the platform runs embedded: `skillsub up` starts PostgreSQL and a
Kafka-protocol broker and hands their addresses to the services through these same variables.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("registry", "eligibility", "payments", "reporting")
DEFAULT_PORTS = {"registry": 8001, "eligibility": 8002, "payments": 8003, "reporting": 8004}
DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"
DEV_PII_KEY = "ZGV2LW9ubHktcGlpLWtleS0zMi1ieXRlcy1sb25nISE="  # base64 of 32 dev bytes


class Settings(BaseSettings):
    """Every variable the services read. Names are the environment variable names."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    skillsub_env: Literal["development", "test", "production"] = "development"
    skillsub_data_dir: Path = Path(".data")
    skillsub_log_level: str = "INFO"
    skillsub_secret_key: str = DEV_SECRET
    skillsub_pii_key: str = DEV_PII_KEY
    skillsub_token_ttl_seconds: int = Field(default=900, ge=60, le=86400)

    database_url: str | None = None
    registry_database_url: str | None = None
    eligibility_database_url: str | None = None
    payments_database_url: str | None = None
    reporting_database_url: str | None = None
    db_pool_size: int = Field(default=10, ge=1, le=200)

    kafka_bootstrap_servers: str | None = None
    # Which broker: `apache` (Apache Kafka, production: durable; idempotent producers, static
    # membership) or `tansu` (the embedded memory-only broker; the outbox republishes after it
    # restarts). The embedded platform and the tests set it; production refuses `tansu`.
    kafka_broker_kind: Literal["apache", "tansu"] = "apache"
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None  # the service's principal, e.g. skillsub-registry
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None  # SASL_SSL: the brokers' CA bundle (default: system trust)
    # Static membership id of this consumer (default on Apache Kafka: <service>-<host name>).
    kafka_group_instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]+$")
    kafka_topic_partitions: int = Field(default=4, ge=1, le=256)
    kafka_replication_factor: int = Field(default=1, ge=1, le=5)
    kafka_topic_prefix: str = Field(default="", pattern=r"^[a-z0-9._-]*$")
    # 500 measured best on the 2-core reference machine: more throughput and less RSS than 2000.
    kafka_consumer_batch: int = Field(default=500, ge=1, le=100000)

    outbox_retention_hours: int = Field(default=168, ge=1)
    outbox_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    consumer_max_retries: int = Field(default=5, ge=0, le=100)

    treasury_url: str | None = None

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Settings:
        if self.skillsub_env == "production":
            if self.skillsub_secret_key == DEV_SECRET or self.skillsub_pii_key == DEV_PII_KEY:
                raise ValueError(
                    "SKILLSUB_SECRET_KEY and SKILLSUB_PII_KEY must be set in production"
                )
            if not self.kafka_bootstrap_servers:
                raise ValueError("KAFKA_BOOTSTRAP_SERVERS must be set in production")
            if self.kafka_broker_kind != "apache":
                raise ValueError("KAFKA_BROKER_KIND must be apache in production (the embedded broker keeps "
                                 "messages in memory only)")
            if not (self.database_url or all(self.service_database_urls.values())):
                raise ValueError("DATABASE_URL (or one per service) must be set in production")
        return self

    @cached_property
    def service_database_urls(self) -> dict[str, str | None]:
        return {name: getattr(self, f"{name}_database_url") for name in SERVICES}

    def database_url_for(self, service: str) -> str:
        """The service's own database: its own variable, else `skillsub_<service>` on DATABASE_URL."""
        own = self.service_database_urls[service]
        if own:
            return normalise_async_url(own)
        if not self.database_url:
            raise RuntimeError(f"no database configured for {service}: set DATABASE_URL")
        return with_database(normalise_async_url(self.database_url), f"skillsub_{service}")


def normalise_async_url(url: str) -> str:
    """Accept postgresql:// or postgres:// URLs and use the asyncpg driver."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def with_database(url: str, database: str) -> str:
    """Replace the database name of a SQLAlchemy URL, keeping host, socket and credentials."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)
