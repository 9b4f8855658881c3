"""Fault injection points for the crash tests. Inert unless SKILLSUB_FAULT_POINT is set.

`SKILLSUB_FAULT_POINT=consumer.after_db_commit SKILLSUB_FAULT_AFTER=3` makes the process die with
SIGKILL semantics (os._exit, no cleanup) the third time it passes that point.
"""

from __future__ import annotations

import os

_counts: dict[str, int] = {}


def maybe_crash(point: str) -> None:
    if os.environ.get("SKILLSUB_FAULT_POINT") != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] >= int(os.environ.get("SKILLSUB_FAULT_AFTER", "1")):
        os._exit(137)
