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
DEV_PII_KEY = "ZGV2LW9ubHktcGlpLWtleS0zMi1ieXRlcy1sb25nISE="  # base64 of 32 dev bytes
DEV_AUDIT_KEY = "ZGV2LW9ubHktYXVkaXQta2V5LTMyLWJ5dGVzLWxvbmc="  # base64 of 32 dev bytes
# The development and test token-signing key (Ed25519): lets tests mint tokens without a registry
# running. Production refuses it (and refuses to start the registry without its own key file).
DEV_SIGNING_KEY = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIAUzKQr7aqLpj3OSoh0cm6keF6AiP7FCIdm0S1B4nmS4
-----END PRIVATE KEY-----
"""


class Settings(BaseSettings):
    """Every variable the services read. Names are the environment variable names."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    skillsub_env: Literal["development", "test", "production"] = "development"
    skillsub_data_dir: Path = Path(".data")
    skillsub_log_level: str = "INFO"
    skillsub_pii_key: str = DEV_PII_KEY
    skillsub_token_ttl_seconds: int = Field(default=900, ge=60, le=86400)
    # Tokens (docs/auth.md): the registry signs with the first Ed25519 key of this PEM file and
    # publishes every key in the file (the others are retiring keys) at /.well-known/jwks.json.
    skillsub_signing_key_file: Path | None = None
    # Where the other services find the registry: its JWKS and its revocation list.
    skillsub_registry_url: str | None = None
    # Public keys configured instead of (or beside) the registry's JWKS: a JWKS JSON file.
    skillsub_jwks_file: Path | None = None
    skillsub_revocation_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # A service refuses tokens (503) when its revocation list is older than this: revocation
    # reaches every service within this many seconds, or the service stops trusting tokens.
    skillsub_revocation_max_age_seconds: float = Field(default=5.0, gt=0, le=300)
    # Audit chain HMAC key (base64 of 32 bytes): held by the services, never by their databases.
    skillsub_audit_key: str = DEV_AUDIT_KEY
    skillsub_audit_checkpoint_seconds: float = Field(default=60.0, gt=0, le=86400)
    # Request bodies: every route is capped; NDJSON bulk uploads have their own, larger cap.
    skillsub_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    skillsub_max_bulk_bytes: int = Field(default=64 * 1_048_576, ge=1024)
    skillsub_bulk_chunk_lines: int = Field(default=5000, ge=1, le=100_000)
    # Token endpoint: attempts per client id, and per calling address, in a sliding minute.
    skillsub_token_attempts_per_minute: int = Field(default=20, ge=1)
    skillsub_token_attempts_per_address_per_minute: int = Field(default=120, ge=1)

    # Origins whose pages may call the APIs from a browser (the staff console, served by reporting
    # at /console): comma-separated. Empty: in development the console on 127.0.0.1/localhost:8004.
    skillsub_console_origins: str = ""

    database_url: str | None = None
    registry_database_url: str | None = None
    eligibility_database_url: str | None = None
    payments_database_url: str | None = None
    reporting_database_url: str | None = None
    # The owner role's connection (migrations, grants, the audit retention purge). The runtime
    # role above may not change the audit log or the ledger; without these, migrations run on
    # the runtime URL (development only: production requires them, and a different user).
    migration_database_url: str | None = None
    registry_migration_database_url: str | None = None
    eligibility_migration_database_url: str | None = None
    payments_migration_database_url: str | None = None
    reporting_migration_database_url: str | None = None
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
    # What one fetch may hold (shared/kafka.py): per partition, and across all of a response.
    kafka_max_partition_fetch_bytes: int = Field(default=1 << 20, ge=64 * 1024)
    kafka_fetch_max_bytes: int = Field(default=4 << 20, ge=64 * 1024)

    outbox_retention_hours: int = Field(default=168, ge=1)
    outbox_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    # How often eligibility ends the public notices (公示) whose last working day has passed.
    eligibility_notice_poll_seconds: float = Field(default=60.0, gt=0, le=3600)
    consumer_max_retries: int = Field(default=5, ge=0, le=100)

    treasury_url: str | None = None
    # The test clock (shared/clock.py reads the variable itself): tests and the demo only.
    skillsub_clock_file: str | None = None

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Settings:
        if self.skillsub_env == "production":
            if self.skillsub_clock_file:
                raise ValueError("SKILLSUB_CLOCK_FILE is a test clock: production refuses it")
            if self.skillsub_pii_key == DEV_PII_KEY or self.skillsub_audit_key == DEV_AUDIT_KEY:
                raise ValueError("SKILLSUB_PII_KEY and SKILLSUB_AUDIT_KEY must be set in production")
            if not self.skillsub_registry_url:
                raise ValueError("SKILLSUB_REGISTRY_URL must be set in production (JWKS, revocations)")
            if not self.kafka_bootstrap_servers:
                raise ValueError("KAFKA_BOOTSTRAP_SERVERS must be set in production")
            if self.kafka_broker_kind != "apache":
                raise ValueError("KAFKA_BROKER_KIND must be apache in production (the embedded broker keeps "
                                 "messages in memory only)")
            # A pod holds its own service's URL only (database_url_for refuses the others).
            if not (self.database_url or any(self.service_database_urls.values())):
                raise ValueError("DATABASE_URL (or the service's own) must be set in production")
        return self

    def signing_key_pem(self) -> str:
        """The registry's PEM key file; the development key outside production."""
        if self.skillsub_signing_key_file is not None:
            return self.skillsub_signing_key_file.read_text()
        if self.skillsub_env == "production":
            raise RuntimeError("SKILLSUB_SIGNING_KEY_FILE must be set for the registry in production")
        return DEV_SIGNING_KEY

    def migration_url_for(self, service: str) -> str:
        """The owner role's URL for `service` (migrations and grants); the runtime URL when unset,
        which production refuses: there the runtime role must not own its tables."""
        own = getattr(self, f"{service}_migration_database_url")
        if own:
            return normalise_async_url(own)
        if self.migration_database_url:
            return with_database(normalise_async_url(self.migration_database_url), f"skillsub_{service}")
        if self.skillsub_env == "production":
            raise RuntimeError(f"{service.upper()}_MIGRATION_DATABASE_URL (or MIGRATION_DATABASE_URL) "
                               "must be set in production: the runtime role may not own its tables")
        return self.database_url_for(service)

    @property
    def console_origins(self) -> list[str]:
        """Browser origins allowed to call the APIs (CORS), for the staff console."""
        given = [o.strip().rstrip("/") for o in self.skillsub_console_origins.split(",") if o.strip()]
        if given or self.skillsub_env != "development":
            return given
        port = DEFAULT_PORTS["reporting"]
        return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]

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
