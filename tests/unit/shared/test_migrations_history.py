"""Each migration history is one line: two branches that each add a revision on the same parent
merge cleanly in git and then fail at start ("multiple heads"); this says so before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from shared.db import SHARED_MIGRATIONS
from shared.settings import SERVICES

ROOT = Path(__file__).resolve().parents[3]
HISTORIES = {"shared": SHARED_MIGRATIONS} | {s: ROOT / "services" / s / "migrations" for s in SERVICES}


@pytest.mark.parametrize("name", sorted(HISTORIES))
def test_each_migration_history_has_exactly_one_head(name: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(HISTORIES[name]))
    script = ScriptDirectory.from_config(cfg)
    assert len(script.get_heads()) == 1, f"{name}: heads {script.get_heads()} (re-chain down_revision)"
    assert len(script.get_bases()) == 1, f"{name}: bases {script.get_bases()}"
