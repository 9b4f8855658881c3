"""The bulk worker process (services/registry/bulk.py) ends with the service that started it,
however the service ends: a SIGKILL leaves no worker and no fork server behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[3]
SERVICE = """
import os, sys
from services.registry import bulk
if __name__ == "__main__":
    worker = bulk._pool().submit(os.getpid).result(timeout=120)
    print(worker, flush=True)
    sys.stdin.read()
"""


def _gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


def test_a_killed_service_leaves_no_bulk_worker_and_no_fork_server(tmp_path: Path) -> None:
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    service = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=os.environ | {"PYTHONPATH": str(ROOT)})
    try:
        assert service.stdout is not None
        worker_pid = int(service.stdout.readline())
        worker = psutil.Process(worker_pid)
        fork_server = worker.parent()
        assert worker_pid != service.pid and fork_server is not None
        service.send_signal(signal.SIGKILL)
        service.wait(10)
        assert _gone(worker_pid, 15), "the bulk worker outlived its service"
        assert _gone(fork_server.pid, 15), "the fork server outlived its service"
    finally:
        if service.poll() is None:
            service.kill()
