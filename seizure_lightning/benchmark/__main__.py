"""Command line of the benchmark protocol (see the package docstring)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from seizure_lightning.benchmark.protocol import (
    DEFAULT_PROTOCOL_FILE,
    ProtocolError,
    load_protocols,
    protocol_hash,
)
from seizure_lightning.benchmark.results import RESULTS_PAGE, render
from seizure_lightning.benchmark.runner import dry_run, plan_run, run
from seizure_lightning.utils.io import atomic_write_text

#: the exit status of a refused run (a report seed outside its protocol, a changed recipe)
REFUSED = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m seizure_lightning.benchmark",
                                     description=__doc__)
    parser.add_argument("--protocol", type=Path, default=DEFAULT_PROTOCOL_FILE,
                        help="the protocol file (default: %(default)s)")
    parser.add_argument("--repo", type=Path, default=Path("."),
                        help="the repository the recipe and the results live in (default: .)")
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run", help="run one setting on one seed")
    go.add_argument("--setting", required=True, help="a setting of the current protocol")
    go.add_argument("--seed", type=int, required=True)
    go.add_argument("--root", type=Path, default=Path("."),
                    help="paths.root_dir of every step (data, caches, logs; default: .)")
    go.add_argument("--jobs", type=int, default=2, help="LOSO folds in parallel (default: 2)")
    go.add_argument("--dry-run", action="store_true", help="print the commands only")
    go.add_argument("overrides", nargs="*",
                    help="extra Hydra overrides for every step (development seeds only)")
    res = sub.add_parser("results", help=f"write {RESULTS_PAGE} from the stored results")
    res.add_argument("--check", action="store_true",
                     help=f"exit 1 if {RESULTS_PAGE} differs from what would be written")
    sub.add_parser("show", help="the protocols, their hashes and report seeds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        protocols = load_protocols(args.repo / args.protocol)
        if args.command == "run":
            plan = plan_run(protocols, args.setting, args.seed, args.root.resolve(),
                            extra=args.overrides, jobs=args.jobs)
            if args.dry_run:
                print(dry_run(plan))
                return 0
            print(f"results: {run(plan, args.repo.resolve())}")
        elif args.command == "results":
            page, text = args.repo / RESULTS_PAGE, render(protocols, args.repo)
            if args.check:
                same = page.is_file() and page.read_text() == text
                print(f"{page}: {'up to date' if same else 'differs; run without --check'}")
                return 0 if same else 1
            atomic_write_text(page, text)
            print(page)
        else:
            for pid, protocol in protocols.protocols.items():
                mark = " (current)" if pid == protocols.current else ""
                print(f"{pid}{mark}: recipe {protocol.recipe_commit}, hash "
                      f"{protocol_hash(protocol)}, report seeds {list(protocol.report_seeds)}, "
                      f"settings {', '.join(protocol.settings)}")
    except ProtocolError as error:
        print(f"refused: {error}", file=sys.stderr)
        return REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main())
