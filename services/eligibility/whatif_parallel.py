"""Run a what-if on several cores: shard persons by id, run `what_if` per shard, merge.

Not part of the pure domain: it forks worker processes (POSIX only). Shards are disjoint sets of
persons, so each person's certificates stay in one shard and the 十三 limits act as in one run.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence

from .catalog import CatalogView
from .params import ParameterSet
from .whatif import WhatIfCase, WhatIfSummary, by_person, merge, what_if, what_if_groups

# Set just before forking so workers inherit the groups instead of receiving them pickled.
_JOB: tuple[list[list[WhatIfCase]], ParameterSet, ParameterSet, CatalogView, int] | None = None


def _run_shard(index: int) -> WhatIfSummary:
    assert _JOB is not None
    groups, base, changed, catalog, shards = _JOB
    return what_if_groups(groups[index::shards], base, changed, catalog=catalog)


def what_if_parallel(
    cases: Sequence[WhatIfCase], params_base: ParameterSet, params_changed: ParameterSet,
    *, catalog: CatalogView, workers: int = 2,
) -> WhatIfSummary:
    """`what_if` over `workers` forked processes; falls back to one process when workers < 2."""
    if workers < 2:
        return what_if(cases, params_base, params_changed, catalog=catalog)
    global _JOB
    _JOB = (list(by_person(cases).values()), params_base, params_changed, catalog, workers)
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            return merge(pool.map(_run_shard, range(workers)))
    finally:
        _JOB = None
