"""A search that cannot succeed stops: the fail-fast rule, and the error it ends a search with.

When the first configs to finish (``FIRST``, or all of them in a smaller search) every one failed on all its seeds
with the same reason — an exception raised by the user's code or a config that training refused — the next
configs would fail the same way, so the search stops with that reason instead of burning every config. A
config's failure reaches the driver in its last result (``failure`` and ``failure_kind``, written by
:func:`tune_sched.search.config_runner.failure`); a worker process that died (a crash from outside the training,
which may be flaky) is not such a failure and never stops the search early.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ray import tune

from tune_sched.core.errors import SearchFailed

__all__ = ["FIRST", "FailFast", "failed_search", "verdict"]

FIRST = 3


def verdict(finished: Iterable[Mapping[str, Any]], *, first: int) -> tuple[str, str] | None:
    """``(reason, kind)`` when the first ``first`` finished configs' last results all carry the same
    ``failure``, else None. ``kind`` is ``usage`` (the config is wrong: exit 2) or ``error`` (exit 1)."""
    head = list(finished)[:first]
    if len(head) < first or first < 1:
        return None
    failures = {(r.get("failure"), r.get("failure_kind")) for r in head}
    if len(failures) != 1:
        return None
    reason, kind = failures.pop()
    return (reason, kind or "error") if reason else None


class FailFast(tune.Stopper):
    """Ray Tune stopper: stops the whole search once :func:`verdict` holds for the first configs to finish.

    Args:
        first: how many finished configs decide (at most the search's number of configs).
    """

    def __init__(self, first: int = FIRST) -> None:
        self.first = first
        self.finished: list[dict[str, Any]] = []

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        if result.get("all_seeds_finished"):
            self.finished.append({k: result.get(k) for k in ("failure", "failure_kind")})
        return False

    def stop_all(self) -> bool:
        return verdict(self.finished, first=self.first) is not None


def failed_search(reason: str, kind: str, *, configs: int, experiment: Any) -> SearchFailed:
    """The error a stopped search ends with: the shared reason in one line, and where the experiment is."""
    text = (f"{reason} (the first {configs} configs all failed this way, so the search stopped; their rows are in "
            f"{experiment})")
    return SearchFailed(" ".join(text.split()), exit_code=2 if kind == "usage" else 1)

