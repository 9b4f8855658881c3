"""How long a killed consumer takes to get its partitions back, with and without static membership.

A consumer process (the services' own settings: shared.kafka.make_consumer, session timeout 10 s,
heartbeat 1 s) joins a group on a 4-partition topic and holds every partition; it is SIGKILLed (no
LeaveGroup, as in a crash) and started again at once with the same group and, for static
membership, the same `group.instance.id`. Rejoin time: from the restart to the moment the new
process holds partitions again (it reports the moment itself), so Python's start-up counts in both
arms alike. `python -m bench.rejoin --bootstrap HOST:PORT` measures one broker; `skillsub bench`
measures each broker it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

PARTITIONS = 4


async def member(bootstrap: str, topic: str, group: str, instance: str | None) -> None:
    """The consumer process: print when it holds partitions, then keep polling until killed."""
    from shared.kafka import make_consumer

    consumer = make_consumer(bootstrap, topic, group_id=group, max_records=100, group_instance_id=instance)
    await consumer.start()
    reported = False
    while True:
        await consumer.getmany(timeout_ms=100)
        if consumer.assignment() and not reported:
            print(json.dumps({"assigned_at": time.time(), "partitions": len(consumer.assignment())}), flush=True)
            reported = True


@dataclass
class Rejoin:
    first_join_s: float
    rejoin_s: float


def _start(bootstrap: str, topic: str, group: str, instance: str | None) -> tuple[subprocess.Popen[str], float]:
    cmd = [sys.executable, "-m", "bench.rejoin", "--member", "--bootstrap", bootstrap, "--topic", topic,
           "--group", group] + (["--instance-id", instance] if instance else [])
    started = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    return proc, started


def _assigned_at(proc: subprocess.Popen[str], timeout: float) -> float:
    """The moment the process reported holding partitions (read by a thread: readline blocks)."""
    stdout = proc.stdout
    assert stdout is not None
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutError(f"no partitions after {timeout} s (exit {proc.poll()})") from None
    return float(json.loads(line)["assigned_at"])


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def _topic(bootstrap: str) -> str:
    topic = f"rejoin.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    return topic


def measure(bootstrap: str, *, static: bool, timeout: float = 60.0) -> Rejoin:
    """Join, kill, restart; the restart's time to hold partitions again."""
    topic = asyncio.run(_topic(bootstrap))
    group, instance = f"rejoin-{uuid.uuid4().hex[:8]}", ("member-0" if static else None)
    first, started = _start(bootstrap, topic, group, instance)
    try:
        first_join = _assigned_at(first, timeout) - started
        time.sleep(2.0)  # a couple of heartbeats: a member in good standing
    finally:
        _kill(first)
    again, restarted = _start(bootstrap, topic, group, instance)
    try:
        return Rejoin(first_join, _assigned_at(again, timeout) - restarted)
    finally:
        _kill(again)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rejoin", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--member", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--topic")
    parser.add_argument("--group")
    parser.add_argument("--instance-id")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if args.member:
        asyncio.run(member(args.bootstrap, args.topic, args.group, args.instance_id))
        return 0
    for static in (False, True):
        times = [measure(args.bootstrap, static=static).rejoin_s for _ in range(args.repeat)]
        label = "static membership" if static else "dynamic membership"
        print(f"{label:<20} rejoin after a kill: " + ", ".join(f"{t:.2f} s" for t in times))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
