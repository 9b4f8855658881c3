"""The allocator settings every service process starts with (shared/memory.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shared.memory import return_freed_memory

# Twelve client-secret checks as the token endpoint runs them (two at a time, in worker threads),
# then the process's resident size in kB.
SCRIPT = """
import asyncio, sys
from shared.auth import verify_secret, hash_secret
from shared.memory import return_freed_memory
if sys.argv[1] == "tuned":
    assert return_freed_memory()
stored = hash_secret("demo-bureau-secret")
def rss():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
async def main():
    before, slots = rss(), asyncio.Semaphore(2)
    async def check(i):
        async with slots:
            await asyncio.to_thread(verify_secret, f"wrong-{i}", stored)
    for _ in range(3):
        await asyncio.gather(*(check(i) for i in range(12)))
    print(rss() - before)
asyncio.run(main())
"""


def _growth_kb(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=120,
                          check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux") or not return_freed_memory(), reason="glibc only")
def test_scrypt_checks_in_threads_hand_their_16_mib_buffers_back() -> None:
    assert _growth_kb("tuned") < 16 * 1024  # less than one scrypt buffer stays resident
