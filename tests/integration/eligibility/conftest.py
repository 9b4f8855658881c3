"""The real-path fixture of the per-clause scenarios (pipeline.py)."""

from tests.integration.eligibility.pipeline import pipeline  # noqa: F401 - a fixture
