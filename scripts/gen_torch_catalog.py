"""Write tune_sched/config/catalog/torch_signatures.json, the snapshot of the installed torch's signatures.

The snapshot is the catalog's fast path for the torch the suite runs on; any other torch is read once and cached
(tune_sched/config/catalog/_installed_torch.py). Run it on that torch after upgrading, then commit the JSON:

    python scripts/gen_torch_catalog.py          # write the snapshot
    python scripts/gen_torch_catalog.py --check  # exit 1 unless the snapshot is the installed torch's, as is
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tune_sched.config.catalog._installed_torch import release_of
from tune_sched.config.catalog._torch_snapshot import SNAPSHOT_PATH, live_signatures, read_snapshot, render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--out", type=Path, default=SNAPSHOT_PATH, help="the snapshot file (default: %(default)s)")
    args = parser.parse_args(argv)
    live = live_signatures()
    if not args.check:
        args.out.write_text(render(live), encoding="utf-8")
        print(f"wrote {args.out} (torch {live['torch_version']}: {len(live['optimizers'])} optimizers, "
              f"{len(live['lr_schedulers'])} LR schedulers)")
        return 0
    committed = read_snapshot(args.out)
    if release_of(committed["torch_version"]) != release_of(live["torch_version"]):
        print(f"{args.out}: STALE, it is torch {committed['torch_version']}'s and torch {live['torch_version']} "
              "is installed (rerun without --check on the torch the suite runs on)")
        return 1
    same = {k: v for k, v in committed.items() if k != "torch_version"} == {
        k: v for k, v in live.items() if k != "torch_version"
    }
    print(f"{args.out}: {'up to date' if same else 'STALE, rerun without --check'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
