"""Fixtures of the search tests: the shared experiments of :mod:`tests.search.experiments`."""

from tests.search.experiments import fault_run, optuna_run  # noqa: F401 - fixtures
