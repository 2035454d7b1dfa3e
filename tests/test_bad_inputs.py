"""Bad input through the real command line: exit code 2, one line naming the key path and the fix, nothing created.

The corpus is ``tests/bad_inputs/cases.yaml`` (one entry per malformed input, most with their own YAML file beside
it). Every case runs ``python -m tune_sched.cli`` in a subprocess whose working directory is an empty temporary
directory holding only the case's files, and that directory must be exactly as it was afterwards. The cases that
need an existing experiment or run (refused without ``--resume``/``--overwrite``) are set up below.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = ROOT / "tests" / "bad_inputs"
CASES: list[dict[str, Any]] = yaml.safe_load((CASES_DIR / "cases.yaml").read_text(encoding="utf-8"))
TIMEOUT_S = 300
# What a user must never see: tracebacks, source lines, interpreter paths, object reprs.
INTERNALS = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|site-packages|"
                       r"<(class|module|function) |object at 0x|\bNoneType\b")


def tune_sched(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``tune-sched ARGS`` in ``cwd`` (the package and ``tests.bad_inputs`` importable, torch on one thread)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "tune_sched.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT_S, check=False)


def snapshot(directory: Path) -> dict[str, tuple[int, int, str]]:
    """Every file and folder under ``directory``: (size, mtime in ns, sha256), so any change shows."""
    out = {}
    for path in sorted(directory.rglob("*")):
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        out[str(path.relative_to(directory))] = (stat.st_size if path.is_file() else 0, stat.st_mtime_ns, digest)
    return out


def assert_rejected(result: subprocess.CompletedProcess[str], *, path: str, message: str, fix: str) -> str:
    """Exit code 2 and exactly ``error: <path>: <message>; <fix>`` on stderr; returns that line."""
    shown = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 2, shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1, shown
    line = lines[0]
    prefix = f"error: {path}: "
    assert line.startswith(prefix), f"expected the line to start with {prefix!r}\n{shown}"
    rest = line[len(prefix):]
    start = re.match(message, rest)
    assert start, f"message does not match {message!r}: {rest!r}"
    assert "; " in rest[start.end():], f"no fix after the message: {rest!r}"
    fix_text = rest[rest.index("; ", start.end()) + 2:]
    assert re.search(fix, fix_text), f"fix does not match {fix!r}: {fix_text!r}"
    assert not INTERNALS.search(result.stdout + result.stderr), shown
    return line


def _param(case: dict[str, Any]) -> Any:
    marks = [pytest.mark.slow] if case.get("slow") else []
    return pytest.param(case, id=case["id"], marks=marks)


def _workdir(tmp_path: Path, args: list[str]) -> Path:
    """An empty directory holding the corpus files that ``args`` names."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for arg in args:
        if "/" not in arg and (CASES_DIR / arg).is_file():
            shutil.copy2(CASES_DIR / arg, cwd / arg)
    return cwd


def test_the_corpus_is_large_and_well_formed():
    ids = [case["id"] for case in CASES]
    assert len(ids) >= 35
    assert len(set(ids)) == len(ids), "case ids must be unique"
    for case in CASES:
        assert set(case) <= {"id", "args", "path", "message", "fix", "slow"}, case["id"]
        assert {"args", "path", "message", "fix"} <= set(case), case["id"]
    used = {arg for case in CASES for arg in case["args"]}
    unused = sorted(p.name for p in CASES_DIR.glob("*.yaml")
                    if p.name not in used and p.name not in ("cases.yaml", "marker_module.yaml"))
    assert not unused, f"corpus files no case runs: {unused}"


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, tmp_path):
    cwd = _workdir(tmp_path, case["args"])
    before = snapshot(cwd)
    result = tune_sched(cwd, *case["args"])
    assert_rejected(result, path=case["path"].replace("{cwd}", str(cwd.resolve())), message=case["message"],
                    fix=case["fix"])
    assert snapshot(cwd) == before, "the command created or changed files"
    assert not (cwd / "pwned").exists()


@pytest.mark.parametrize("where", ["before the verb", "after the verb"])
def test_debug_shows_the_traceback_and_the_same_line(where, tmp_path):
    cwd = _workdir(tmp_path, ["unknown_optimizer.yaml"])
    args = ["validate", "unknown_optimizer.yaml"]
    plain = tune_sched(cwd, *args)
    debug = tune_sched(cwd, "--debug", *args) if where == "before the verb" else tune_sched(cwd, *args, "--debug")
    line = assert_rejected(plain, path="optimizer.name", message="unknown optimizer 'Adamm'", fix="use one of")
    assert debug.returncode == 2
    assert "Traceback (most recent call last)" in debug.stderr
    assert "UsageError" in debug.stderr
    assert debug.stderr.splitlines()[-1] == line


def test_an_existing_experiment_is_not_touched_without_resume(tmp_path):
    from tune_sched.results.experiment import create_experiment

    cwd = _workdir(tmp_path, ["valid_space.yaml"])
    experiment = cwd / "experiments" / "exp"
    create_experiment(experiment, space_source={"task": "tiny", "seeds": [0, 1]}, metric="val_loss", mode="min",
                      seeds=[0, 1])
    (experiment / "trials" / "c1" / "seed=0").mkdir(parents=True)
    (experiment / "trials" / "c1" / "seed=0" / "result.json").write_text('{"status": "completed"}\n')
    before = snapshot(cwd)

    result = tune_sched(cwd, "search", "--space", "valid_space.yaml", "--name", "exp")
    assert_rejected(result, path=str(experiment.resolve()), message="already exists", fix="pass --resume")
    resumed = tune_sched(cwd, "search", "--space", "valid_space.yaml", "--name", "exp", "--resume", "--seeds", "0,5")
    assert_rejected(resumed, path="--seeds", message=r"the experiment was started with seeds \[0, 1\], not \[0, 5\]",
                    fix="the same seeds")
    assert snapshot(cwd) == before


@pytest.mark.slow
def test_a_finished_run_is_not_overwritten_without_a_flag(tmp_path):
    cwd = _workdir(tmp_path, ["valid_run.yaml"])
    first = tune_sched(cwd, "run", "valid_run.yaml", "--out", "out")
    assert first.returncode == 0, first.stderr
    assert (cwd / "out" / "result.json").is_file()
    before = snapshot(cwd)

    again = tune_sched(cwd, "run", "valid_run.yaml", "--out", "out")
    assert_rejected(again, path="out", message="already holds a finished run", fix="--overwrite to replace it")
    assert snapshot(cwd) == before


def test_validate_of_a_built_in_task_imports_neither_torch_nor_user_code(tmp_path):
    """``validate`` of a file that trains a built-in task stays fast: no torch, no Lightning, no user code."""
    cwd = _workdir(tmp_path, ["valid_run.yaml", "valid_space.yaml"])
    probe = ("import sys; from tune_sched.cli import main; "
             "codes = [main(['validate', f]) for f in ('valid_run.yaml', 'valid_space.yaml')]; "
             "print(codes, sorted(m for m in ('torch', 'pytorch_lightning', 'ray', 'optuna') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.stdout.splitlines()[-1] == "[0, 0] []", result.stdout


def test_validate_imports_the_users_code_it_names_and_says_so(tmp_path):
    """A file naming the user's module: ``validate`` imports it to check the class (its help says so)."""
    cwd = _workdir(tmp_path, ["marker_module.yaml"])
    result = tune_sched(cwd, "validate", "marker_module.yaml")
    assert_rejected(result, path="module", message="module 'tests.bad_inputs.import_marker' has no attribute 'Model'",
                    fix="name a class defined in that module")
    assert (cwd / "imported-user-code").is_file()  # the module was imported: its side effect is there
    help_text = tune_sched(cwd, "validate", "--help").stdout + tune_sched(cwd, "--help").stdout
    assert "imports it" in " ".join(help_text.split())
