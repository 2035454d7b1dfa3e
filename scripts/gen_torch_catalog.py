"""Regenerate tune_sched/optim/torch_signatures.json from the installed torch.

Run it after upgrading torch, then commit the JSON:

    python scripts/gen_torch_catalog.py          # write the snapshot
    python scripts/gen_torch_catalog.py --check  # exit 1 if the committed snapshot differs from live torch
"""

from __future__ import annotations

import argparse
import sys

from tune_sched.optim._torch_snapshot import SNAPSHOT_PATH, live_signatures, read_snapshot, render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    live = live_signatures()
    if args.check:
        committed = read_snapshot()
        same = {k: v for k, v in committed.items() if k != "torch_version"} == {
            k: v for k, v in live.items() if k != "torch_version"
        }
        print(f"{SNAPSHOT_PATH}: {'up to date' if same else 'STALE, rerun without --check'}")
        return 0 if same else 1
    SNAPSHOT_PATH.write_text(render(live), encoding="utf-8")
    print(f"wrote {SNAPSHOT_PATH} (torch {live['torch_version']}: {len(live['optimizers'])} optimizers, "
          f"{len(live['lr_schedulers'])} LR schedulers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
