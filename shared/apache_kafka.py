"""Apache Kafka, the broker production runs, as a local single-node KRaft server for tests, benches
and `skillsub up --broker apache`.

The broker comes from Maven Central as jars (`scripts/kafka/pom.xml`: `org.apache.kafka:kafka_2.13`
and its run-time dependencies), copied by `mvn dependency:copy-dependencies` into a project-local,
git-ignored cache (`.cache/kafka/<version>/lib`, or `SKILLSUB_KAFKA_CACHE`); once there, starting
needs no network. The log directory is formatted once (`kafka.tools.StorageTool`) with one SCRAM
credential per service principal (`skillsub-<service>`, random passwords kept beside the log
directory) and survives restarts: unlike the embedded Tansu broker, a restart loses nothing.

Two client listeners on free loopback ports: PLAINTEXT, whose anonymous principal is a super user
(the administrator's: tests and topic set-up), and SASL_PLAINTEXT with SCRAM-SHA-512, where the
StandardAuthorizer holds each service principal to its ACLs (`shared.kafka.service_acls`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from shared.embedded import BrokerProcess, distinct_free_ports, wait_for_port
from shared.kafka import RETENTION_MS, SASL_MECHANISM, KafkaAccess, principal_for, service_acls
from shared.settings import SERVICES

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
POM = ROOT / "scripts" / "kafka" / "pom.xml"
ACLS_TOOL = ROOT / "scripts" / "kafka" / "Acls.java"
# Small heap and the serial collector: a single-node test broker on a 2-core machine shared with
# PostgreSQL and four services. Production sizes its brokers in deploy/k8s.
JVM_OPTS = ("-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-Djava.awt.headless=true")
# Short-lived tools (format, ACLs) start faster with the client compiler alone.
TOOL_OPTS = ("-Xmx256m", "-XX:TieredStopAtLevel=1")
LOG4J2 = """\
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.started.name=kafka.server.KafkaRaftServer
logger.started.level=INFO
"""


class KafkaUnavailable(RuntimeError):
    """Java or Maven is missing, or Maven Central could not supply the broker."""


def kafka_version() -> str:
    text = POM.read_text()
    return text.split("<kafka.version>", 1)[1].split("</kafka.version>", 1)[0].strip()


def cache_dir() -> Path:
    return Path(os.environ.get("SKILLSUB_KAFKA_CACHE", ROOT / ".cache" / "kafka")).resolve()


def java_available() -> bool:
    return shutil.which("java") is not None


def fetch(*, quiet: bool = True) -> Path:
    """The broker's jars in the cache, fetched with Maven when the pom changed or they are missing."""
    lib = cache_dir() / kafka_version() / "lib"
    stamp = lib / ".pom-sha1"
    digest = hashlib.sha1(POM.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return lib
    if shutil.which("mvn") is None or not java_available():
        raise KafkaUnavailable("Apache Kafka needs Java 17 and Maven (mvn) on PATH")
    shutil.rmtree(lib, ignore_errors=True)
    cmd = ["mvn", "-B", *(["-q"] if quiet else []), "-f", str(POM), "dependency:copy-dependencies",
           "-DincludeScope=runtime", f"-DoutputDirectory={lib}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise KafkaUnavailable(f"`{' '.join(cmd)}` failed ({done.returncode}):\n"
                               f"{done.stdout[-3000:]}{done.stderr[-2000:]}")
    stamp.write_text(digest)
    return lib


class ApacheKafkaBroker(BrokerProcess):
    """One KRaft node (broker and controller) whose data lives in `data_dir` and survives restarts
    and SIGKILL (the next start recovers the log). Same interface as EmbeddedBroker."""

    kind = "apache"
    stop_seconds = 30.0  # a controlled shutdown flushes and closes the log
    restart_seconds = 30.0

    def __init__(self, data_dir: Path, log_path: Path | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.log_path = log_path or self.data_dir / "broker.log"
        self.port, self.sasl_port, self.controller_port = distinct_free_ports(3)
        self.proc: subprocess.Popen[bytes] | None = None
        self._lib: Path | None = None
        self._credentials: dict[str, str] = {}
        self._provisioned: set[str] = set()

    @property
    def bootstrap(self) -> str:
        """The administrator's PLAINTEXT listener (super user)."""
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_port}"

    def access_for(self, service: str) -> KafkaAccess:
        """How a service reaches this broker: SASL/SCRAM as its own principal."""
        return KafkaAccess(self.sasl_bootstrap, kind="apache", security_protocol="SASL_PLAINTEXT",
                           username=principal_for(service), password=self._credentials[principal_for(service)])

    def service_env(self, service: str) -> dict[str, str]:
        a = self.access_for(service)
        return {"KAFKA_BOOTSTRAP_SERVERS": a.bootstrap, "KAFKA_BROKER_KIND": "apache",
                "KAFKA_SECURITY_PROTOCOL": a.security_protocol, "KAFKA_SASL_MECHANISM": SASL_MECHANISM,
                "KAFKA_SASL_USERNAME": a.username or "", "KAFKA_SASL_PASSWORD": a.password or ""}

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> str:
        self._lib = fetch()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        if not (self.logs / "meta.properties").exists():
            self._format()
        self._credentials = json.loads(self.credentials_file.read_text())
        out = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            ["java", *JVM_OPTS, f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
             "-cp", f"{self._lib}/*", "kafka.Kafka", str(self.config_file)],
            stdout=out, stderr=out, start_new_session=True)
        try:
            wait_for_port(self.port, timeout=90)
            wait_for_port(self.sasl_port, timeout=30)
            _wait_metadata(self.bootstrap, timeout=60)
        except (TimeoutError, OSError):
            self.kill()
            raise
        return self.bootstrap

    # --- topics and ACLs -----------------------------------------------------------------------

    def provision(self, prefix: str = "", *, partitions: int = 4) -> None:
        """Create the event topics under `prefix` and give each service principal exactly its ACLs
        (idempotent: existing topics and ACLs stay as they are)."""
        if prefix in self._provisioned:
            return
        from shared.events import TOPICS
        from shared.kafka import ensure_topics

        admin = KafkaAccess(self.bootstrap, kind="apache")
        run_async(lambda: ensure_topics(admin, partitions, 1, prefix, topics=TOPICS))
        lines = [" ".join(acl) for s in SERVICES for acl in service_acls(s, prefix)]
        assert self._lib is not None
        done = subprocess.run(
            ["java", *TOOL_OPTS, f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
             "-cp", f"{self._lib}/*", str(ACLS_TOOL), self.bootstrap],
            input="\n".join(lines), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise KafkaUnavailable(f"creating ACLs failed: {done.stdout[-2000:]}{done.stderr[-3000:]}")
        self._provisioned.add(prefix)

    # --- files ---------------------------------------------------------------------------------

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "credentials.json"

    def _write_config(self) -> None:
        """Ports are chosen per start object and written each start; the log directory keeps the
        cluster id, the metadata (topics, SCRAM credentials, ACLs) and every message."""
        p, s, c = self.port, self.sasl_port, self.controller_port
        props = {
            "process.roles": "broker,controller", "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{c}", "controller.listener.names": "CONTROLLER",
            "listeners": f"PLAINTEXT://127.0.0.1:{p},SASL_PLAINTEXT://127.0.0.1:{s},CONTROLLER://127.0.0.1:{c}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{p},SASL_PLAINTEXT://127.0.0.1:{s}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "sasl.enabled.mechanisms": SASL_MECHANISM,
            f"listener.name.sasl_plaintext.{SASL_MECHANISM.lower()}.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # The plain listener and the controller are the administrator's; services use SASL.
            "super.users": "User:ANONYMOUS", "allow.everyone.if.no.acl.found": "false",
            "log.dirs": str(self.logs), "auto.create.topics.enable": "false",
            # One node: every replication factor is 1 (deploy/ sets 3 and min.insync.replicas 2).
            "offsets.topic.replication.factor": "1", "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1", "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0", "num.network.threads": "2", "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1", "log.retention.ms": str(RETENTION_MS),
        }
        self.config_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.data_dir / "log4j2.properties").write_text(LOG4J2)

    def _format(self) -> None:
        assert self._lib is not None
        creds = {principal_for(s): secrets.token_urlsafe(24) for s in SERVICES}
        java = ["java", *TOOL_OPTS,
                f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}", "-cp", f"{self._lib}/*",
                "kafka.tools.StorageTool"]
        cluster = subprocess.run([*java, "random-uuid"], capture_output=True, text=True, check=True).stdout.strip()
        scram = [arg for user, pw in creds.items()
                 for arg in ("--add-scram", f"{SASL_MECHANISM}=[name={user},password={pw}]")]
        # The tool prints the SCRAM records it writes: keep that out of every log.
        done = subprocess.run([*java, "format", "-t", cluster, "-c", str(self.config_file), *scram],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise KafkaUnavailable(f"formatting {self.logs} failed: {done.stderr[-2000:]}")
        self.credentials_file.write_text(json.dumps(creds))
        self.credentials_file.chmod(0o600)


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, in a thread of its own, so that it works even
    when the caller's thread already runs an event loop."""
    result: list[T] = []
    errors: list[BaseException] = []

    def body() -> None:
        try:
            result.append(asyncio.run(make()))  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if errors:
        raise errors[0]
    return result[0]


def _wait_metadata(bootstrap: str, timeout: float) -> None:
    """The broker answers metadata requests (registered with its controller, ready for clients)."""
    from shared.kafka import broker_reachable

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if run_async(lambda: broker_reachable(bootstrap)):
                return
        time.sleep(0.3)
    raise TimeoutError(f"Apache Kafka at {bootstrap} not ready after {timeout} s")


def main(argv: list[str] | None = None) -> int:
    """`scripts/kafka.sh fetch` (jars into the cache) or `scripts/kafka.sh run DIR` (a broker in the
    foreground, topics and ACLs provisioned, until Ctrl-C)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="scripts/kafka.sh", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="fetch the broker's jars from Maven Central into the cache")
    run = sub.add_parser("run", help="format (once) and run a single-node broker")
    run.add_argument("data_dir", nargs="?", default=".data/kafka")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        print(fetch(quiet=False))
        return 0
    broker = ApacheKafkaBroker(Path(args.data_dir))
    broker.start()
    broker.provision("")
    print(f"Apache Kafka {kafka_version()} up: PLAINTEXT (admin) {broker.bootstrap}, "
          f"SASL_PLAINTEXT/{SASL_MECHANISM} {broker.sasl_bootstrap}; credentials in {broker.credentials_file}",
          flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(1.0) and broker.alive():
        pass
    broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
