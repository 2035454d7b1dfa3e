"""SearchProgress: what a search prints, on a terminal and in a log (no Ray run: Tune's hooks called directly)."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from tune_sched.search.progress import SearchProgress, grid_labels, outcome


@dataclass
class Trial:
    """What the hooks read of a Tune trial."""

    trial_id: str
    config: dict[str, Any] = field(default_factory=dict)
    last_result: dict[str, Any] = field(default_factory=dict)
    num_failures: int = 0

    @property
    def path(self) -> str:
        return f"/exp/tune/{self.trial_id}"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


FINISHED = {"all_seeds_finished": 1}


@pytest.mark.parametrize("result,expected", [
    ({}, "pruned"),
    ({"score": 1.0}, "pruned"),
    ({**FINISHED, "seeds_completed": 2.0}, "completed"),
    ({**FINISHED, "seeds_completed": 1.0, "seeds_failed": 1.0}, "completed"),
    ({**FINISHED, "seeds_completed": 0.0, "seeds_failed": 2.0}, "failed"),
    ({**FINISHED, "seeds_completed": 0.0, "seeds_failed": 1.0, "seeds_diverged": 1.0}, "diverged"),
    ({**FINISHED, "seeds_completed": 0.0, "seeds_pruned": 2.0}, "pruned"),
    (FINISHED, "completed"),  # a result without seed counts
])
def test_outcome(result, expected):
    assert outcome(result) == expected


def run_hooks(progress: SearchProgress) -> None:
    config = {"optimizer.lr": 0.0123456, "optimizer": "Adam", "run_config": {"ignored": True}}
    progress.on_trial_start(0, [], Trial("a", config))
    progress.on_trial_result(0, [], Trial("a", config), {"score": 0.5, **FINISHED})
    progress.on_trial_complete(0, [], Trial("a", config, {"score": 0.5, **FINISHED, "seeds_completed": 2.0}))
    progress.on_trial_start(0, [], Trial("b", config))
    progress.on_trial_recover(0, [], Trial("b", config))
    progress.on_trial_complete(0, [], Trial("b", config, {"score": 1e30, **FINISHED, "seeds_completed": 0.0,
                                                          "seeds_diverged": 2.0}))
    progress.on_trial_start(0, [], Trial("c", config))
    progress.on_trial_error(0, [], Trial("c", config, num_failures=2))


@pytest.fixture(params=[5.0, 1e6], ids=["booted-5-s-ago", "up-11-days"])
def clock(request, monkeypatch):
    """``time.perf_counter()`` as on a machine booted seconds ago, and as on one up for days (it counts from boot)."""
    import time

    real = time.perf_counter
    start = real()
    monkeypatch.setattr(time, "perf_counter", lambda: request.param + (real() - start))
    return request.param


def test_plain_lines_without_a_terminal(clock):
    stream = io.StringIO()
    progress = SearchProgress(total=3, mode="min", stream=stream, interval_s=3600)
    run_hooks(progress)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert [line for line in lines if not line.startswith("[")] == [
        "completed a  score 0.5  optimizer=Adam optimizer.lr=0.0123",
        "retrying  b  (its worker died; its seeds continue from their last checkpoints)",
        "diverged  b  score n/a  optimizer=Adam optimizer.lr=0.0123  (seeds: 2 diverged)",
        "failed    c  optimizer=Adam optimizer.lr=0.0123  (its worker died; Ray's error: /exp/tune/c/error.txt)",
    ]
    assert len([line for line in lines if line.startswith("[")]) == 1  # one status line per interval
    progress.close()
    assert stream.getvalue().splitlines()[-1] == progress.status_text()  # the final counts, once
    progress.close()
    assert stream.getvalue().count("configs done 3/3") == 1
    assert progress.status_text().endswith(
        "configs done 3/3: 1 completed, 0 pruned, 1 failed, 1 diverged; 0 running; "
        "best score 0.5 (a: optimizer=Adam optimizer.lr=0.0123)")


def screen(text: str) -> list[str]:
    """What a terminal shows after ``text``: ``\r`` returns to the row's start and overwrites, ``\n`` ends it."""
    rows, row, col = [], [], 0
    for char in text:
        if char == "\n":
            rows.append("".join(row).rstrip())
            row, col = [], 0
        elif char == "\r":
            col = 0
        else:
            row[col:col + 1] = [char]
            col += 1
    return [*rows, "".join(row).rstrip()]


def test_one_status_line_rewritten_on_a_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    stream = Terminal()
    progress = SearchProgress(total=3, mode="min", stream=stream)
    run_hooks(progress)
    rows = screen(stream.getvalue())
    assert rows[:-1] == [
        "completed a  score 0.5  optimizer=Adam optimizer.lr=0.0123",
        "retrying  b  (its worker died; its seeds continue from their last checkpoints)",
        "diverged  b  score n/a  optimizer=Adam optimizer.lr=0.0123  (seeds: 2 diverged)",
        "failed    c  optimizer=Adam optimizer.lr=0.0123  (its worker died; Ray's error: /exp/tune/c/error.txt)",
    ]
    status = progress.status_text(99)  # the one status row, fitted to the terminal's width
    assert rows[-1].split("]", 1)[1] == status.split("]", 1)[1]  # (the elapsed seconds may have moved on)
    segments = stream.getvalue().replace("\n", "\r").split("\r")
    assert all(len(seg) <= 99 for seg in segments if seg.startswith("[")), "a status row wider than the terminal"
    progress.close()
    assert screen(stream.getvalue())[-2].split("]", 1)[1] == status.split("]", 1)[1]  # kept, then a new row


def test_counts_and_best_continue_after_a_resume():
    first = SearchProgress(total=3, mode="max", stream=io.StringIO())
    run_hooks(first)
    second = SearchProgress(total=3, mode="max", stream=io.StringIO())
    second.set_state(first.get_state())
    assert second.counts == first.counts
    assert second.best == first.best
    assert second.failures == first.failures == {"c": 2}
    assert second.elapsed_s >= first.get_state()["elapsed_s"]


def test_a_pickled_printer_comes_back_as_the_live_one():
    """Tune saves the callbacks with the Tuner and a restored Tuner unpickles them: while the search's printer is
    live, that copy is the printer itself, printing to its stream; otherwise a copy that prints to stdout."""
    import pickle

    stream = io.StringIO()
    saved = SearchProgress(total=3, mode="max", stream=stream, key="exp")
    run_hooks(saved)
    blob = pickle.dumps(saved)
    assert b"StringIO" not in blob  # the stream is never pickled

    copy = pickle.loads(blob)
    assert copy is not saved and copy.counts == saved.counts and copy.stream is sys.stdout

    printer = SearchProgress(total=3, mode="max", stream=io.StringIO(), key="exp")
    with printer.live():
        assert pickle.loads(blob) is printer
    assert pickle.loads(blob) is not printer  # live only while open
    renamed = SearchProgress(total=3, mode="max", stream=io.StringIO(), key="exp-moved")
    with renamed.live():  # the experiment's folder was renamed: the one live printer still gets it
        assert pickle.loads(blob) is renamed
        with printer.live():  # two live searches: only the key decides
            assert pickle.loads(blob) is printer


def test_grid_points_are_named_by_what_varies():
    grid = [{"optimizer": {"name": "Adam", "lr": lr}, "trainer": {"max_epochs": 3}, "module_kwargs": {"f": f}}
            for lr in (0.01, 0.1) for f in ("a", "b")]
    assert grid_labels(grid) == ("module_kwargs.f=a optimizer.lr=0.01", "module_kwargs.f=b optimizer.lr=0.01",
                                 "module_kwargs.f=a optimizer.lr=0.1", "module_kwargs.f=b optimizer.lr=0.1")
    assert grid_labels(grid[:1]) == ("grid point 0",)
    with_block = [{"optimizer": {"name": "Adam", "lr": 0.01}},
                  {"optimizer": {"name": "Adam", "lr": 0.01}, "lr_scheduler": {"name": "StepLR", "step_size": 2}}]
    assert grid_labels(with_block) == ("lr_scheduler=none", "lr_scheduler.name=StepLR lr_scheduler.step_size=2")
    stream = io.StringIO()
    progress = SearchProgress(total=4, mode="min", stream=stream, grid_labels=grid_labels(grid))
    progress.on_trial_complete(0, [], Trial("t", {"grid_index": 3}, {"score": 2.0, **FINISHED}))
    assert "completed t  score 2  module_kwargs.f=b optimizer.lr=0.1" in stream.getvalue()


def busy_search(progress: SearchProgress) -> None:
    """Two configs finished (one pruned at epoch 5, one completed at 30), two running at epochs 3 and 12."""
    lr = {"optimizer.lr": 0.0123456, "optimizer": "AdamW", "lr_scheduler": "CosineAnnealingWarmRestarts",
          "lr_scheduler.CosineAnnealingWarmRestarts.T_0": 6}
    for name, epochs, score in (("cfg_00001", 5, 0.031), ("cfg_00002", 30, 0.0152)):
        progress.on_trial_start(0, [], Trial(name, lr))
        for epoch in range(1, epochs + 1):
            progress.on_trial_result(0, [], Trial(name, lr), {"score": score, "epoch": epoch})
        finished = {"score": score, "epoch": epochs, **({**FINISHED, "seeds_completed": 3.0} if epochs == 30 else {})}
        progress.on_trial_complete(0, [], Trial(name, lr, finished))
    for name, epochs in (("cfg_00003", 3), ("cfg_00004", 12)):
        progress.on_trial_start(0, [], Trial(name, lr))
        progress.on_trial_result(0, [], Trial(name, lr), {"score": 0.02, "epoch": epochs})


@pytest.mark.parametrize("columns", [80, 120])
def test_status_line_fits_the_terminal_without_cutting_words(monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    stream = Terminal()
    progress = SearchProgress(total=40, mode="min", stream=stream, max_epochs=30)
    progress.start -= 600  # ten minutes in: 35 epochs trained, 5 configs' worth of epochs to go per finished mean
    busy_search(progress)
    full = progress.status_text()
    assert "epochs 3/30 12/30" in full and "ETA ~" in full and "best score 0.0152 (cfg_00002: " in full
    row = screen(stream.getvalue())[-1]
    assert 0 < len(row) <= columns - 1
    assert row.split("]", 1)[1].split()[0:3] == ["configs", "done", "2/40:"]
    kept = [part.strip() for part in row.split("]", 1)[1].split(";")]
    whole = [part.strip() for part in full.split("]", 1)[1].split(";")]
    assert all(part in whole or part.endswith(")") or part.startswith("best score") for part in kept), (row, full)
    assert "no score yet" not in row
    if columns == 120:
        assert "epochs 3/30 12/30" in row and "best score 0.0152" in row and "ETA ~" in row
    else:
        assert row.endswith("2 running; best score 0.0152")  # the config's values and id go first


def test_eta_only_after_a_config_finished_and_from_the_epochs_left():
    progress = SearchProgress(total=4, mode="min", stream=io.StringIO(), max_epochs=10)
    progress.start -= 100
    progress.on_trial_start(0, [], Trial("a"))
    progress.on_trial_result(0, [], Trial("a"), {"score": 1.0, "epoch": 4})
    assert progress.eta_s() is None and "ETA" not in progress.status_text()
    progress.on_trial_complete(0, [], Trial("a", last_result={"score": 1.0, "epoch": 4}))  # pruned at 4
    progress.on_trial_start(0, [], Trial("b"))
    progress.on_trial_result(0, [], Trial("b"), {"score": 1.0, "epoch": 6})
    # 10 epochs in ~100 s; left: b's 4, two configs not started at the finished mean of 4 epochs: 12 epochs
    assert progress.eta_s() == pytest.approx(12 / (10 / progress.elapsed_s))
    assert "ETA ~2 min" in progress.status_text()


def test_no_score_yet_never_follows_a_printed_score():
    stream = io.StringIO()
    progress = SearchProgress(total=3, mode="min", stream=stream, interval_s=0)
    progress.on_trial_start(0, [], Trial("a"))
    progress.on_trial_result(0, [], Trial("a"), {"score": 0.015, "epoch": 1})
    progress.on_trial_complete(0, [], Trial("a", last_result={"score": 0.015, "epoch": 1}))  # pruned
    lines = stream.getvalue().splitlines()
    printed = next(i for i, line in enumerate(lines) if "score 0.015" in line)
    assert not any("no score yet" in line for line in lines[printed:])
    assert "best score 0.015 (a" in progress.status_text()


def test_a_config_is_described_by_its_own_family_only():
    from tune_sched.search.progress import _short

    config = {"lr_scheduler": "StepLR", "lr_scheduler.StepLR.gamma": 0.5,
              "lr_scheduler.CosineAnnealingLR.eta_min": None, "optimizer.lr": 0.01}
    assert _short(config) == "lr_scheduler=StepLR gamma=0.5 optimizer.lr=0.01"
