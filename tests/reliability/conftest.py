"""Fixtures of the reliability tests: the experiments shared with tests/search (each runs once per session)."""

from tests.search.experiments import fault_run, optuna_run  # noqa: F401 - fixtures
