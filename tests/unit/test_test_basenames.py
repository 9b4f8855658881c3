"""Test modules are imported by basename (pytest's default rootdir-less import mode, no
__init__.py in most test folders): two files with one name stop the whole run at collection, which
a branch that runs only its own folders does not see. Run with the unit tests, so it shows there."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_has_a_basename_of_its_own() -> None:
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert [n for n, k in names.items() if k > 1] == []
