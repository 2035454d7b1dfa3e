"""A search that cannot succeed stops: the first configs all failing the same way end it with that one reason
(exit 2 when the config is to blame, 1 otherwise), and a search whose every config failed never succeeds."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from tune_sched.config.space import SearchSpace
from tune_sched.core.errors import SearchFailed
from tune_sched.search.fail_fast import verdict

CRASH = {"failure": "RuntimeError: boom in training_step", "failure_kind": "error"}
REFUSED = {"failure": "module_kwargs: Faulty(**module_kwargs) raised ValueError", "failure_kind": "usage"}
OK: dict[str, str] = {}


@pytest.mark.parametrize("finished,first,expected", [
    ([CRASH, CRASH, CRASH], 3, (CRASH["failure"], "error")),
    ([REFUSED, REFUSED, REFUSED, OK], 3, (REFUSED["failure"], "usage")),
    ([CRASH, CRASH], 3, None),  # too few finished yet
    ([CRASH, OK, CRASH], 3, None),  # one config trained: the search can succeed
    ([CRASH, REFUSED, CRASH], 3, None),  # different reasons: nothing to say in one line
    ([CRASH], 1, (CRASH["failure"], "error")),  # a one-config search
    ([], 0, None),
])
def test_verdict(finished, first, expected):
    assert verdict(finished, first=first) == expected


def space(module_kwargs: dict, *, samples: int = 8) -> SearchSpace:
    return SearchSpace.from_dict({
        "module": "tests.search.user_modules:Faulty",
        "module_kwargs": module_kwargs,
        "seeds": [0, 1],
        "search": {"algorithm": "random", "num_samples": samples, "max_concurrent": 1, "pruner": "none"},
        "optimizer": {"name": "Adam", "lr": {"min": 1.0e-3, "max": 1.0e-2, "log": True}},
        "trainer": {"max_epochs": 2},
    })


def configs_in(experiment) -> int:
    return len(pq.read_table(experiment / "trials.parquet").column("config_id").unique())


@pytest.mark.slow
def test_a_search_whose_first_configs_crash_stops_with_exit_1(tmp_path, ray_cluster):
    from tune_sched.search.driver import run_search

    with pytest.raises(SearchFailed, match=r"^RuntimeError: injected crash \(the first 3 configs all failed this "
                                           r"way, so the search stopped") as err:
        run_search(space({"fault": "crash", "at_epoch": 0}), name="crash", storage=tmp_path)
    assert err.value.exit_code == 1
    assert "\n" not in str(err.value)
    assert 3 <= configs_in(tmp_path / "crash") < 8  # not every config was burnt


@pytest.mark.slow
def test_a_config_that_training_refuses_stops_the_search_with_exit_2(tmp_path, ray_cluster):
    """The preflight binds the kwargs (they fit the signature); the constructor itself rejects the value."""
    from tune_sched.search.driver import run_search

    with pytest.raises(SearchFailed, match=r"^module_kwargs: Faulty\(\*\*module_kwargs\) raised ValueError: fault "
                                           r"must be one of") as err:
        run_search(space({"fault": "no-such-fault"}, samples=4), name="refused", storage=tmp_path)
    assert err.value.exit_code == 2
    assert configs_in(tmp_path / "refused") == 3
    trials = pq.read_table(tmp_path / "refused" / "trials.parquet").to_pandas()
    assert set(trials["status"]) == {"failed"}
    assert trials["reason"].str.contains("fault must be one of").all()


@pytest.mark.slow
def test_a_search_where_every_config_failed_is_no_success(tmp_path, ray_cluster):
    """Two configs (fewer than the fail-fast count) that both fail: the search runs them and exits non-zero,
    and its final table ranks neither but counts them with their reason."""
    import io

    from tune_sched.search.driver import run_search

    stream = io.StringIO()
    with pytest.raises(SearchFailed) as err:
        run_search(space({"fault": "crash", "at_epoch": 1}, samples=2), name="all", storage=tmp_path, stream=stream)
    assert err.value.exit_code == 1
    output = stream.getvalue()
    assert "2 of 2 configs failed on every seed and are not ranked; the commonest reason: RuntimeError: injected " \
           "crash" in output
    assert "rank" not in output.split("experiment:")[0].split("2 of 2 configs")[0].splitlines()[-1]
    assert configs_in(tmp_path / "all") == 2
