"""The ``tune-sched`` command line: one function per verb; a UsageError is one line on stderr and exit code 2.

Heavy imports (torch, Lightning, Ray) happen inside the verbs that need them, so ``--help`` and ``validate`` are
fast.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from tune_sched.errors import UsageError

__all__ = ["main"]


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
    from tune_sched.config.run_config import load_run_config
    from tune_sched.train.progress import EpochPrinter
    from tune_sched.train.trial import run_trial

    config = load_run_config(args.config).with_overrides(seed=args.seed, max_epochs=args.max_epochs)
    out = Path(args.out) if args.out else Path("runs") / f"{Path(args.config).stem}-seed{config.seed}"
    if (out / "result.json").exists() and not (args.resume or args.overwrite):
        raise UsageError("already holds a finished run", path=str(out),
                         fix="pass --resume to continue it, --overwrite to replace it, or another --out")
    printer = EpochPrinter(config)
    print(f"training {config.task or config.module} on seed {config.seed} -> {out}", flush=True)
    result = run_trial(config, out_dir=out, epoch_hook=printer, resume=args.resume, raise_errors=args.debug,
                       progress_bar=args.progress_bar)
    for note in result.notes:
        print(f"note: {note}")
    print(printer.summary(result))
    return 1 if result.status == "failed" else 0


def cmd_validate(args: argparse.Namespace) -> int:
    from tune_sched.config._yaml import read_yaml
    from tune_sched.config.run_config import RunConfig

    data = read_yaml(args.file)
    from tune_sched.config.space import SearchSpace, is_search_space

    if is_search_space(data):
        space = SearchSpace.from_dict(data)
        print(f"{args.file}: a valid search space")
        print(space.summary())
    else:
        if data is None:
            raise UsageError("is empty", path=args.file, fix="write a run config or a search space")
        config = RunConfig.from_dict(data)
        sched = (config.lr_scheduler or {}).get("name", "constant LR")
        print(f"{args.file}: a valid run config ({config.task or config.module}, {config.optimizer['name']}, "
              f"{sched}, {config.trainer.max_epochs} epochs)")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from tune_sched.config.space import load_search_space
    from tune_sched.search.driver import run_search

    space = load_search_space(args.space).with_overrides(
        num_samples=args.num_samples, seeds=args.seeds, max_epochs=args.max_epochs,
        max_concurrent=args.max_concurrent, cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
    )
    try:
        run_search(space, name=args.name, storage=args.storage, resume=args.resume, address=args.address,
                   space_name=Path(args.space).stem)
    except KeyboardInterrupt as err:
        print(f"\n{err}" if str(err) else "\ninterrupted", file=sys.stderr)
        return 130
    return 0


# -- parser -----------------------------------------------------------------------------------------------------
COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {
    "run": (cmd_run, "train one run config on one seed and record its metrics"),
    "search": (cmd_search, "search a space on Ray Tune: every config on every seed, ranked by a robust score"),
    "validate": (cmd_validate, "check a run config or a search space without running anything"),
}


def _add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    if name == "run":
        p.add_argument("config", help="run config YAML (e.g. search_spaces/champion_trial69.yaml)")
        p.add_argument("--seed", type=int, help="override the config's seed")
        p.add_argument("--out", help="output directory (default runs/<config>-seed<N>)")
        p.add_argument("--max-epochs", type=int, help="override trainer.max_epochs")
        p.add_argument("--resume", action="store_true", help="continue from the output's last checkpoint")
        p.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
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


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tune-sched", description=__doc__.splitlines()[0] if __doc__ else None)
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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
