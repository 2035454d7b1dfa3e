"""The ``tune-sched`` command line: one function per verb; a UsageError is one line on stderr and exit code 2.

Heavy imports (torch, Lightning, Ray) happen inside the verbs that need them, so ``--help`` and ``validate`` are
fast.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import signal
import sys
import textwrap
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from tune_sched.core.errors import SearchFailed, UsageError

__all__ = ["console_main", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are UsageErrors (one line, exit 2) instead of a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message, path=self.prog, fix=f"see '{self.prog} --help'")


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"must be comma-separated integers, but got {text!r}", path="--seeds",
                         fix="e.g. --seeds 1,2,3") from None
    if not seeds:
        raise UsageError("is empty", path="--seeds", fix="give at least one seed, e.g. --seeds 0")
    return seeds


# -- verbs ------------------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    # lazy: entry
    from tune_sched.config.run_config import load_run_config
    from tune_sched.train.preflight import preflight
    from tune_sched.train.progress import EpochPrinter, warnings_as_notes
    from tune_sched.train.trial import run_trial

    if args.resume and args.overwrite:
        raise UsageError("--resume and --overwrite exclude each other", path="tune-sched run",
                         fix="pass --resume to continue the run in --out, or --overwrite to replace it")
    if args.seeds and args.seed is not None:
        raise UsageError("--seed and --seeds exclude each other", path="tune-sched run",
                         fix="pass --seeds 1,2,3 for several seeds, or --seed N for one")
    config = load_run_config(args.config).with_overrides(seed=args.seed, max_epochs=args.max_epochs)
    preflight(config)
    if args.seeds:
        return _run_several(args, config, _seeds(args.seeds))
    out = Path(args.out) if args.out else Path("runs") / f"{Path(args.config).stem}-seed{config.seed}"
    _check_run_dir(out, resume=args.resume, overwrite=args.overwrite)
    printer = EpochPrinter(config)
    print(printer.header(out), flush=True)
    if args.resume and not (out / "last.ckpt").exists():
        print(f"note: nothing to resume in {out}; training from the start", flush=True)
    created = _first_missing(out)
    try:
        with warnings_as_notes() as shown:
            result = run_trial(config, out_dir=out, epoch_hook=printer, resume=args.resume, raise_errors=args.debug,
                               progress_bar=args.progress_bar)
    except UsageError:  # the config is wrong (found once training is set up): leave no new directory behind
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise
    except KeyboardInterrupt:
        again = ["tune-sched run", args.config, *(["--seed", str(args.seed)] if args.seed is not None else []),
                 *(["--max-epochs", str(args.max_epochs)] if args.max_epochs else []), "--out", str(out), "--resume"]
        print(f"interrupted; continue with: {' '.join(again)}", file=sys.stderr)
        return 130
    for note in result.notes:
        if " ".join(note.split()) not in shown:
            print(f"note: {note}")
    print(printer.summary(result, out))
    return 1 if result.status == "failed" else 0


def _run_several(args: argparse.Namespace, config: Any, seeds: list[int]) -> int:
    """``run --seeds``: every seed into ``<out>/seed<N>``, stacked or in lockstep as ``trainer.seed_mode`` allows."""
    # lazy: heavy
    from tune_sched.train.progress import EpochPrinter  # lazy: entry
    from tune_sched.train.seed_modes import seed_runner  # lazy: entry
    from tune_sched.train.stacked import Stacked

    out = Path(args.out) if args.out else Path("runs") / f"{Path(args.config).stem}-seeds{'-'.join(map(str, seeds))}"
    dirs = {seed: out / f"seed{seed}" for seed in seeds}
    for folder in dirs.values():
        _check_run_dir(folder, resume=args.resume, overwrite=args.overwrite)
    if not (args.resume or args.overwrite) and any(dirs[seeds[0]].glob("stacked-*.ckpt")):
        raise UsageError("holds an unfinished stacked run", path=str(dirs[seeds[0]]),
                         fix="pass --resume to continue it, --overwrite to start afresh, or another --out")
    printers = {seed: EpochPrinter(config.with_overrides(seed=seed), indent=f"seed {seed}: ") for seed in seeds}
    runner = seed_runner(config, seeds, dirs, resume=args.resume, raise_errors=args.debug,
                         progress_bar=args.progress_bar)
    mode = "stacked as one model" if isinstance(runner, Stacked) else "separately, in lockstep"
    print(f"{printers[seeds[0]].header(out).replace(f'on seed {seeds[0]}', 'on seeds ' + ','.join(map(str, seeds)))}"
          f" ({mode})", flush=True)
    epoch = 0
    try:
        while not runner.done:
            for seed, metrics in runner.step().items():
                printers[seed](epoch, metrics)
            epoch += 1
    except KeyboardInterrupt:
        again = ["tune-sched run", args.config, "--seeds", ",".join(map(str, seeds)),
                 *(["--max-epochs", str(args.max_epochs)] if args.max_epochs else []), "--out", str(out), "--resume"]
        print(f"interrupted; continue with: {' '.join(again)}", file=sys.stderr)
        return 130
    results = runner.results
    for seed in seeds:
        print(f"seed {seed}: {printers[seed].summary(results[seed], dirs[seed])}")
    return 1 if any(r.status == "failed" for r in results.values()) else 0


def _first_missing(path: Path) -> Path | None:
    """The outermost directory of ``path`` (itself included) that does not exist yet, or None."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def _check_run_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to train over a run in ``out`` unless told to continue it (--resume) or replace it (--overwrite)."""
    if resume or overwrite:
        return
    if (out / "result.json").exists():
        try:
            status = json.loads((out / "result.json").read_text())["status"]
        except (ValueError, KeyError, TypeError):
            status = "unknown"
        raise UsageError(f"already holds a finished run (status {status})", path=str(out),
                         fix="pass --resume to continue it, --overwrite to replace it, or another --out")
    if (out / "last.ckpt").exists():
        raise UsageError("holds an unfinished run (a last.ckpt but no result.json)", path=str(out),
                         fix="pass --resume to continue it, --overwrite to start afresh, or another --out")


def cmd_validate(args: argparse.Namespace) -> int:
    # lazy: entry
    from tune_sched.core.yaml_io import read_yaml
    from tune_sched.config.run_config import RunConfig

    data = read_yaml(args.file)
    # lazy: entry
    from tune_sched.config.space import SearchSpace, is_search_space

    if is_search_space(data):
        space = SearchSpace.from_dict(data)
        # lazy: entry
        from tune_sched.train.preflight import preflight

        space.check_each(preflight)
        print(f"{args.file}: a valid search space")
        print(space.summary())
    else:
        if data is None:
            raise UsageError("is empty", path=args.file, fix="write a run config or a search space")
        if not isinstance(data, Mapping):
            raise UsageError(f"must be a mapping of keys to values, but got {type(data).__name__}", path=args.file,
                             fix="write a run config or a search space ('key: value' lines)")
        config = RunConfig.from_dict(data)
        # lazy: entry
        from tune_sched.train.preflight import preflight

        preflight(config)
        sched = (config.lr_scheduler or {}).get("name", "constant LR")
        print(f"{args.file}: a valid run config ({config.task or config.module}, {config.optimizer['name']}, "
              f"{sched}, {config.trainer.max_epochs} epochs)")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    # lazy: entry
    from tune_sched.api import search

    terminated: list[int] = []

    def on_sigterm(signum: int, frame: Any) -> None:
        terminated.append(signum)
        raise KeyboardInterrupt  # the same clean stop as Ctrl-C: what finished is kept, the rest resumes

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        search(args.space, name=args.name, storage=args.storage, num_samples=args.num_samples, seeds=args.seeds,
               max_epochs=args.max_epochs, max_concurrent=args.max_concurrent, cpus_per_trial=args.cpus_per_trial,
               gpus_per_trial=args.gpus_per_trial, address=args.address, resume=args.resume)
    except KeyboardInterrupt as err:
        message = getattr(err, "command", str(err))  # the shell's resume command, not the Python call
        print(f"\n{message}" if message else "\ninterrupted", file=sys.stderr)
        return 128 + signal.SIGTERM if terminated else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    # lazy: heavy
    from tune_sched.analysis.arm_table import format_arm_section
    from tune_sched.analysis.experiment_analysis import ANALYSIS_FILE
    from tune_sched.analysis.ranking_table import format_ranking
    from tune_sched.api import analyze  # lazy: entry

    if args.top < 1:
        raise UsageError(f"must be at least 1, but got {args.top}", path="--top", fix="e.g. --top 10")
    analyzed = analyze(args.experiment)
    analysis = analyzed.details
    out = Path(args.out) if args.out else analysis.path
    report = analyzed.report(out, top=min(args.top, 3))
    table = out / ANALYSIS_FILE
    width = None if args.wide else ANALYZE_WIDTH
    print(format_ranking(analysis, top=args.top, params=[p for p in report.importance["param"]
                                                         if p.startswith("cfg.")] or None, width=width))
    print()
    print(_wrap_prose(report.verdict.replace("**", "").replace("`", ""), width))
    print()
    print(_wrap_prose(format_arm_section(analysis, width=width).replace("`", ""), width))
    print(f"\nwrote {table}, {report.path} ({len(report.figures)} figures)")
    print(f"next: tune-sched export {args.experiment} --out best.yaml   (the best config as a run config)")
    print(f"next: read {report.path}   (the ranking, the verdict, {len(report.figures)} figures)")
    return 0


ANALYZE_WIDTH = 100
"""The columns ``analyze`` fits its output in (``--wide``: no limit)."""


def _wrap_prose(text: str, width: int | None) -> str:
    """Lines of prose longer than ``width`` wrapped at spaces; table rows (two spaces between columns) kept."""
    if width is None:
        return text
    return "\n".join(textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False)
                     if len(line) > width and "  " not in line.strip() else line for line in text.splitlines())


def cmd_export(args: argparse.Namespace) -> int:
    # lazy: heavy
    from tune_sched.analysis.export import export_config

    result = export_config(args.experiment, args.out, rank=args.rank, config_id=args.trial, force=args.force)
    which = "its best seed" if result.best_seed else "0: no seed finished without diverging"
    print(f"wrote {result.path}: config {result.config_id} (rank {result.rank}, score {result.score:.4g}), "
          f"seed {result.seed} ({which})\nnext: tune-sched run {result.path}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    # lazy: entry
    from tune_sched.rerun.reproduce import reproduce

    result = reproduce(args.source, trial=args.trial, against=args.against,
                       seeds=_seeds(args.seeds) if args.seeds else None, tolerance=args.tolerance, out=args.out,
                       num_threads=args.threads, progress=lambda line: print(line, flush=True))
    print(result.summary())
    return 0 if result.ok else 1


def cmd_compare(args: argparse.Namespace) -> int:
    # lazy: heavy
    from tune_sched.analysis.compare import compare_arms
    from tune_sched.analysis.compare_report import comparison_text, write_comparison
    from tune_sched.rerun.arms import make_arms

    a, b = make_arms(args.a, args.b, config_a=args.config_a, config_b=args.config_b,
                     seeds=_seeds(args.seeds) if args.seeds else None, max_epochs=args.max_epochs, out=args.out,
                     num_threads=args.threads, progress=lambda line: print(line, flush=True))
    comparison = compare_arms(a, b)
    print(comparison_text(comparison))
    for path in write_comparison(comparison, json_path=args.json, markdown_path=args.markdown):
        print(f"wrote {path}")
    return 0


# -- parser -----------------------------------------------------------------------------------------------------
COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {
    "run": (cmd_run, "train one run config on one seed and record its metrics"),
    "search": (cmd_search, "search a space on Ray Tune: every config on every seed, ranked by a robust score"),
    "validate": (cmd_validate, "check a run config or a search space without training anything (a file that "
                               "names your own module imports it, to check its class and kwargs)"),
    "analyze": (cmd_analyze, "rank an experiment's configs by quality and stability; write report.md with plots"),
    "export": (cmd_export, "write one config of an experiment (the best by default) as a run config YAML"),
    "reproduce": (cmd_reproduce, "train a recorded run again and check every metric comes back (exit 1 if not)"),
    "compare": (cmd_compare, "A/B study: two experiments' best configs, or two run configs on the same seeds"),
}


def _add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    if name == "run":
        p.add_argument("config", help="run config YAML (e.g. run_configs/champion_trial69.yaml)")
        p.add_argument("--seed", type=int, help="override the config's seed")
        p.add_argument("--seeds", help="several seeds, e.g. 1,2,3: each into <out>/seed<N>, stacked as one model "
                                       "where trainer.seed_mode allows (docs/seeds.md)")
        p.add_argument("--out", help="output directory (default runs/<config>-seed<N>)")
        p.add_argument("--max-epochs", type=int, help="override trainer.max_epochs")
        p.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its last checkpoint (with a larger --max-epochs, "
                            "train a finished run further)")
        p.add_argument("--overwrite", action="store_true", help="replace the run in --out")
        p.add_argument("--progress-bar", action="store_true", help="show Lightning's progress bar")
    elif name == "search":
        p.add_argument("--space", required=True, help="search space YAML (e.g. search_spaces/plateau.yaml)")
        p.add_argument("--name", help="experiment name (default <space>-<date>-<time>)")
        p.add_argument("--storage", help="where experiments live (default ./experiments)")
        p.add_argument("--num-samples", type=int, help="configs to try (overrides search.num_samples)")
        p.add_argument("--seeds", help="comma-separated seeds, e.g. 1,2,3 (overrides seeds)")
        p.add_argument("--max-epochs", type=int, help="override trainer.max_epochs")
        p.add_argument("--max-concurrent", type=int, help="configs trained at once")
        p.add_argument("--cpus-per-trial", type=float, help="CPUs per config (its seeds share them)")
        p.add_argument("--gpus-per-trial", type=float, help="GPUs per config, fractions allowed (e.g. 0.25)")
        p.add_argument("--address", help="attach to an existing Ray cluster (e.g. 127.0.0.1:6379)")
        p.add_argument("--resume", action="store_true", help="continue an interrupted experiment")
    elif name == "validate":
        p.add_argument("file", help="a run config or search space YAML")
    elif name == "analyze":
        p.add_argument("experiment", help="experiment directory (made by 'tune-sched search')")
        p.add_argument("--out", help="where to write analysis.parquet, report.md, figures/ (default: the experiment)")
        p.add_argument("--top", type=int, default=10, help="configs in the printed table (default 10)")
        p.add_argument("--wide", action="store_true",
                       help="every column of the ranking and unwrapped text (default: fit 100 columns)")
    elif name == "export":
        p.add_argument("experiment", help="experiment directory")
        p.add_argument("--rank", type=int, help="the config's rank in 'tune-sched analyze' (default 1, the best)")
        p.add_argument("--trial", help="the config id instead of a rank")
        p.add_argument("--out", required=True, help="the run config YAML to write, e.g. best.yaml")
        p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    elif name == "reproduce":
        p.add_argument("source", help="a run config YAML, or an experiment directory (with --trial)")
        p.add_argument("--trial", help="the config id to reproduce (experiments)")
        p.add_argument("--seeds", help="comma-separated seeds (default: every recorded seed / the config's seed)")
        p.add_argument("--against", help="a run directory made by 'tune-sched run' with this config to compare with")
        p.add_argument("--tolerance", type=float, default=1e-6, help="largest relative deviation (default 1e-6)")
        p.add_argument("--out", help="keep the new runs in this new directory (default: a temporary one)")
        p.add_argument("--threads", type=int, help="torch threads (default: as recorded, else torch's default)")
    elif name == "compare":
        p.add_argument("a", help="A, the control: an experiment directory or a run config YAML")
        p.add_argument("b", help="B, the treatment: the same kind as A")
        p.add_argument("--config-a", help="config id in experiment A (default: its best)")
        p.add_argument("--config-b", help="config id in experiment B (default: its best)")
        p.add_argument("--seeds", help="seeds for two run configs (default 0,1,2)")
        p.add_argument("--max-epochs", type=int, help="override trainer.max_epochs of two run configs")
        p.add_argument("--out", help="keep the two run configs' runs here (<out>/A, <out>/B)")
        p.add_argument("--threads", type=int, help="torch threads for training (default: torch's)")
        p.add_argument("--json", help="write the comparison as JSON here")
        p.add_argument("--markdown", help="write a Markdown report here (and its figure beside it)")


DESCRIPTION = """\
Find optimizer and learning-rate-schedule settings for PyTorch Lightning models
that are good and stable: search a space of configs, train each on several
seeds, rank them by a robust score (quality, spread across seeds, divergence,
loss spikes), and carry the best back into training."""

EPILOG = """\
a typical session:
  tune-sched validate search_spaces/plateau.yaml
  tune-sched search --space search_spaces/plateau.yaml --name plateau
  tune-sched analyze experiments/plateau
  tune-sched export experiments/plateau --out best.yaml
  tune-sched run best.yaml --seed 5

'tune-sched COMMAND --help' shows a command's options. Exit codes: 0 success,
2 wrong input (one line naming the key and the fix; --debug shows the
traceback), 1 anything else, 130 interrupted."""


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tune-sched", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("--version", action="version", version="tune-sched 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        _add_arguments(name, p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = _parser().parse_args(argv)
        if args.command is None:
            _parser().print_help()
            return 0
        args.debug = getattr(args, "debug", False) or debug
        return COMMANDS[args.command][0](args)
    except UsageError as err:
        if debug:
            traceback.print_exc()
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SearchFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def console_main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``tune-sched`` command: :func:`main`, then exit without the interpreter's final garbage collection.

    After a search, that collection walks every object Ray, Tune and pandas created (about a second on 2 cores,
    docs/BENCHMARKS.md) only to free memory the exit frees anyway. ``gc.freeze()`` leaves them out of it; exit
    handlers still run. Programs calling :func:`main` keep their collector as it was.
    """
    code = main(argv)
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    console_main()
