"""Parameters as dated data in the database: each uploaded file is one immutable version row.

At start the shipped file (params/parameters.yaml) is loaded if its set_version is new; the bureau
can POST a new file later. The newest row is in force; every decision records the set version and
the (key, version) of each value it read. Instances notice a newer row with one cheap query a batch.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import sqlalchemy as sa
import yaml
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import store
from services.eligibility.params import PARAMETERS_FILE, ParameterSet, load_parameters_text

if TYPE_CHECKING:
    from shared.app import Runtime

STATE_KEY = "params"
SEQ_KEY = "params_seq"


def parse(text: str) -> ParameterSet:
    """Parse or raise ValueError with the reason (the route turns it into a 422)."""
    try:
        return load_parameters_text(text)
    except (KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
        raise ValueError(f"malformed parameter file: {exc!r}") from None


async def add_version(session: AsyncSession, text: str, loaded_by: str) -> tuple[ParameterSet, bool]:
    """Store a new version of the whole file; False when that set_version is already stored."""
    params = parse(text)
    stmt = insert(store.parameter_versions).values(
        set_version=params.set_version, sha256=hashlib.sha256(text.encode()).hexdigest(),
        source_yaml=text, loaded_by=loaded_by).on_conflict_do_nothing()
    created = (await session.execute(stmt.returning(store.parameter_versions.c.seq))).first() is not None
    return params, created


async def load_shipped(session: AsyncSession) -> None:
    """Insert the shipped file once (by set_version); a bureau upload stays newer."""
    await add_version(session, PARAMETERS_FILE.read_text(encoding="utf-8"), "shipped-file")


async def current(session: AsyncSession, runtime: Runtime) -> ParameterSet:
    """The newest stored version, parsed once per version and cached in the runtime."""
    pv = store.parameter_versions
    seq = (await session.execute(sa.select(sa.func.max(pv.c.seq)))).scalar_one()
    if runtime.state.get(SEQ_KEY) == seq and STATE_KEY in runtime.state:
        return runtime.state[STATE_KEY]  # type: ignore[no-any-return]
    text = (await session.execute(sa.select(pv.c.source_yaml).where(pv.c.seq == seq))).scalar_one()
    params = parse(text)
    runtime.state[STATE_KEY], runtime.state[SEQ_KEY] = params, seq
    return params


async def history(session: AsyncSession) -> list[dict[str, object]]:
    pv = store.parameter_versions
    rows = await session.execute(sa.select(pv.c.seq, pv.c.set_version, pv.c.sha256, pv.c.loaded_by,
                                           pv.c.loaded_at).order_by(pv.c.seq))
    return [dict(r) for r in rows.mappings()]
