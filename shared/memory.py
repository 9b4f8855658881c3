"""Memory the C allocator keeps: tuned once per service process, before it serves.

glibc raises its mmap threshold to the size of any large block freed (up to 32 MiB), after which
such blocks come from the heap of the thread's arena and stay resident when freed. The registry's
scrypt checks (16 MiB each, in worker threads, shared/auth.py) left about 50 MB resident that way
(12 checks, two at a time, in asyncio.to_thread: 71 MB RSS, 22 MB with a fixed threshold). A
fixed threshold hands large blocks back to the system on free; at most two arenas bound what
threads can hold apart from the main one (a service is one event loop plus a few helper threads).
Measured per service in docs/performance.md ("Memory").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger("skillsub.memory")
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 1 << 20  # blocks from 1 MiB up are mapped, and unmapped when freed
ARENA_MAX = 2


def return_freed_memory() -> bool:
    """Set glibc's allocator as above; False where the C library is not glibc (nothing to tune)."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or None).mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_ARENA_MAX, ARENA_MAX))
    if not ok:
        log.warning("mallopt refused the allocator settings")
    return ok


# The collector's thresholds once a service has started (gen0 allocations, then gen1 and gen2
# collections between older ones); Python's defaults are (700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 100)


def settle_start_up_heap() -> None:
    """Once started: long-lived start-up objects (modules, metadata, parameters) never become
    garbage, so they move out of the collector's sight, and it runs less often. Batches allocate
    many short-lived objects; at the default thresholds payments spent a third of its CPU in the
    collector (docs/performance.md, payments). The benches call this too, to run as a service does."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
