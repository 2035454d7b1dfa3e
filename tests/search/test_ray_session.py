"""ray_session leaves the caller's environment as it found it (a notebook keeps its own settings)."""

from __future__ import annotations

import os

import pytest

from tune_sched.search.ray_session import ray_session

pytestmark = pytest.mark.slow  # needs the session's Ray


def test_environment_is_restored_after_a_session(ray_cluster, monkeypatch, tmp_path):
    monkeypatch.delenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", raising=False)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    monkeypatch.chdir(tmp_path)
    before = dict(os.environ)
    with ray_session(address="127.0.0.1:1"):  # Ray is initialised already: the session is reused, not attached
        inside = dict(os.environ)
    assert inside["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
    assert inside["RAY_AUTH_MODE"] == "token"
    assert inside["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path)
    assert dict(os.environ) == before
