"""Run the whole platform: embedded servers where nothing external is configured, and the four
services as their own processes. `skillsub up` uses it; so do the end-to-end tests.

The broker is the embedded Tansu (`broker_kind="tansu"`, memory only, the default) or a local
Apache Kafka (`"apache"`, shared/apache_kafka.py: durable, SASL/SCRAM per service principal with
ACLs, as production runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.apache_kafka import ApacheKafkaBroker
from shared.embedded import EmbeddedBroker, EmbeddedPostgres, distinct_free_ports, free_port, wait_for_port
from shared.settings import DEFAULT_PORTS, SERVICES


@dataclass
class Platform:
    data_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    env: dict[str, str] = field(default_factory=dict)
    broker_max_mb: float = 1024.0
    # After a restart the relays republish their retained outbox rows, so the broker refills to
    # about the retention window's size. The cap in force is at least twice that refill, measured
    # once it settles, so a large window cannot make the supervisor restart the broker in a loop:
    # memory stays bounded by max(broker_max_mb, 2 x retention window).
    _broker_cap_mb: float = 0.0
    _measure_refill_at: float | None = None
    pg: EmbeddedPostgres | None = None
    broker_kind: str = "tansu"
    broker: EmbeddedBroker | ApacheKafkaBroker | None = None
    owns_broker: bool = True  # False when sharing another platform's broker (its topics and ACLs)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    with_treasury: bool = True
    treasury: subprocess.Popen[bytes] | None = None

    def start_servers(self) -> None:
        """Start embedded PostgreSQL and broker unless DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        base = {**os.environ, **self.env}
        if not base.get("DATABASE_URL") and not all(base.get(f"{s.upper()}_DATABASE_URL") for s in SERVICES):
            self.pg = EmbeddedPostgres(self.data_dir / "pg")
            self.env["DATABASE_URL"] = self.pg.start()
            self._separate_roles(self.env["DATABASE_URL"])
        self.env.setdefault("SKILLSUB_REGISTRY_URL", self.url("registry"))
        if not base.get("KAFKA_BOOTSTRAP_SERVERS"):
            self._start_broker()
        if not base.get("TREASURY_URL") and self.with_treasury:
            self.env["TREASURY_URL"] = self._start_treasury_simulator()

    def _start_broker(self) -> None:
        if self.broker_kind == "apache":
            self.broker = ApacheKafkaBroker(self.data_dir / "kafka", log_path=self.data_dir / "broker.log")
            self.broker.start()
            self.env.update({"KAFKA_BROKER_KIND": "apache", "KAFKA_BOOTSTRAP_SERVERS": self.broker.sasl_bootstrap})
            self.provision_broker()
            return
        self.broker = EmbeddedBroker(log_path=self.data_dir / "broker.log")
        self.env.update({"KAFKA_BROKER_KIND": "tansu", "KAFKA_BOOTSTRAP_SERVERS": self.broker.start()})

    def provision_broker(self) -> None:
        """On Apache Kafka: this platform's topics (KAFKA_TOPIC_PREFIX, KAFKA_TOPIC_PARTITIONS) and
        each service principal's ACLs, as deploy/ declares them for production."""
        if isinstance(self.broker, ApacheKafkaBroker):
            env = {**os.environ, **self.env}
            self.broker.provision(env.get("KAFKA_TOPIC_PREFIX", ""),
                                  partitions=int(env.get("KAFKA_TOPIC_PARTITIONS", "4")))

    @property
    def admin_bootstrap(self) -> str:
        """A connection with every right (tests replaying events, benches): Apache Kafka's plain
        listener, or the embedded broker itself."""
        if isinstance(self.broker, ApacheKafkaBroker):
            return self.broker.bootstrap
        return {**os.environ, **self.env}["KAFKA_BOOTSTRAP_SERVERS"]
    def _separate_roles(self, server_url: str) -> None:
        """Each service runs as its runtime role and migrates as its owner role (shared/roles.py);
        DATABASE_URL stays the superuser's, for the operator's tools."""
        import asyncio

        from shared.roles import adopt_databases, provision_roles, role_urls
        from shared.settings import normalise_async_url

        url = normalise_async_url(server_url)
        asyncio.run(provision_roles(url))
        asyncio.run(adopt_databases(url))
        for name in SERVICES:
            runtime, owner = role_urls(url, name)
            self.env[f"{name.upper()}_DATABASE_URL"] = runtime
            self.env[f"{name.upper()}_MIGRATION_DATABASE_URL"] = owner

    def _start_treasury_simulator(self) -> str:
        """The treasury payments pays through, simulated (services/payments/treasury_sim.py)."""
        port = free_port(8013)
        log = open(self.data_dir / "treasury.log", "ab")  # noqa: SIM115 - the child keeps it
        self.treasury = subprocess.Popen(
            [sys.executable, "-m", "services.payments.treasury_sim", "--port", str(port)],
            stdout=log, stderr=log, start_new_session=True)
        wait_for_port(port)
        return f"http://127.0.0.1:{port}"

    def service_env(self, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """A service's environment; on Apache Kafka it connects as its own principal."""
        kafka = self.broker.service_env(name) if isinstance(self.broker, ApacheKafkaBroker) else {}
        return {**os.environ, **self.env, **kafka, **(extra or {}), "SKILLSUB_SERVICE": name}

    def start_service(self, name: str, extra_env: dict[str, str] | None = None) -> None:
        log = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115 - child keeps it
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "serve", name, "--port", str(self.ports[name])],
            env=self.service_env(name, extra_env), stdout=log, stderr=log, start_new_session=True)

    def start_services(self, names: tuple[str, ...] = SERVICES, timeout: float = 90.0) -> None:
        for name in names:
            self.start_service(name)
        self.wait_ready(names, timeout)

    def wait_ready(self, names: tuple[str, ...] = SERVICES, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                proc = self.procs.get(name)
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.data_dir}/{name}.log")
                try:
                    if httpx.get(f"{self.url(name)}/readyz", timeout=2).status_code == 200:
                        pending.discard(name)
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        if pending:
            raise TimeoutError(f"not ready after {timeout} s: {sorted(pending)}")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def kill_service(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def stop_service(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def kill_services(self) -> None:
        """SIGKILL every service process: no shutdown hooks, no offset commits, no flushes."""
        for name in list(self.procs):
            self.kill_service(name)

    def restart_broker(self, *, kill: bool = True) -> None:
        """Restart the broker on the same ports: Tansu comes back empty (memory only), Apache Kafka
        with every message and committed offset (after log recovery when killed)."""
        assert self.broker is not None, "the broker is external"
        if kill:
            self.broker.kill()
        self.broker.restart()

    def restart_postgres(self, *, crash: bool = True) -> None:
        """Restart the embedded PostgreSQL (crash = immediate shutdown, WAL recovery on start)."""
        assert self.pg is not None, "the database is external"
        self.pg.crash() if crash else self.pg.stop()
        self.env["DATABASE_URL"] = self.pg.start()

    def supervise_once(self) -> list[str]:
        """Restart services that died and a broker grown past its memory cap; say what was done."""
        done = []
        for name, proc in list(self.procs.items()):
            if proc.poll() is not None:
                self.start_service(name)
                done.append(f"restarted {name} (exit {proc.returncode})")
        if self.broker is not None and self.owns_broker:
            done += self._supervise_broker(self.broker)
        return done

    def _supervise_broker(self, broker: EmbeddedBroker | ApacheKafkaBroker) -> list[str]:
        if isinstance(broker, ApacheKafkaBroker):  # enforces its own retention: no memory cap
            if broker.alive():
                return []
            broker.restart()
            return ["restarted Apache Kafka (exited); nothing is republished, it kept its log"]
        now = time.monotonic()
        if self._measure_refill_at is not None and now >= self._measure_refill_at:
            self._broker_cap_mb, self._measure_refill_at = 2 * broker.rss_mb(), None
        cap = max(self.broker_max_mb, self._broker_cap_mb)
        if broker.alive() and broker.rss_mb() <= cap:
            return []
        reason = "exited" if not broker.alive() else f"RSS over {cap:.0f} MB"
        broker.restart()
        self._measure_refill_at = now + 60
        return [f"restarted the embedded broker ({reason}); outboxes republish their retained events"]

    def stop(self) -> None:
        for name in list(self.procs):
            self.stop_service(name)
        if self.treasury is not None and self.treasury.poll() is None:
            self.treasury.terminate()
            self.treasury.wait(10)
        if self.broker is not None and self.owns_broker:
            self.broker.stop()
        if self.pg is not None:
            self.pg.stop()


def free_ports() -> dict[str, int]:
    return dict(zip(SERVICES, distinct_free_ports(len(SERVICES)), strict=True))
