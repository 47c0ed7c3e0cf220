"""The experiment suite, read from the experiment configs themselves.

An experiment of the suite is a ``conf/experiment/<name>.yaml`` that declares a ``suite`` block
(other files there are presets); with its ``experiments/<name>/report.py`` and
``README.md.in`` that is all an experiment is. ``scripts/run_experiments.sh`` and the tests
take the list from here::

    suite:
      order: 4          # place in the suite
      cost_s: 200       # rough seconds on 2 CPU cores, for the remaining-time estimate
      slow_report: true # its report trains or simulates too (tested under -m slow)
      long:             # what scripts/run_experiments.sh --long adds
        overrides: [trainer.max_steps=8000]
        scripts:        # side studies, run with --out <sweep>/<stem>.json (and --jobs N)
          - {path: experiments/activations/deep_swish.py, jobs: true}

``python -m nnref.experiment.suite list|long NAME`` prints them for the shell.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = ["Entry", "entries", "names"]

CONF = Path(__file__).resolve().parents[3] / "conf"


@dataclass(frozen=True)
class Entry:
    """One experiment of the suite (see the module's docstring for the YAML it comes from)."""

    name: str
    order: int
    cost_s: int
    slow_report: bool = False
    long_overrides: tuple[str, ...] = ()
    long_scripts: tuple[dict, ...] = field(default_factory=tuple)


def entries(conf: Path | str = CONF) -> list[Entry]:
    """Every experiment of the suite, in its order (the YAML files read as they are, without
    composing: fast, and free of the rest of the config)."""
    out = []
    for path in sorted(Path(conf, "experiment").glob("*.yaml")):
        block = (yaml.safe_load(path.read_text()) or {}).get("suite")
        if not block:
            continue
        long = block.get("long") or {}
        out.append(Entry(path.stem, int(block["order"]), int(block.get("cost_s", 60)),
                         bool(block.get("slow_report")), tuple(long.get("overrides") or ()),
                         tuple(long.get("scripts") or ())))
    return sorted(out, key=lambda e: (e.order, e.name))


def names(conf: Path | str = CONF) -> list[str]:
    """The suite's experiment names, in order."""
    return [e.name for e in entries(conf)]


def _cli(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nnref.experiment.suite", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["list", "long"])
    p.add_argument("name", nargs="?")
    p.add_argument("--conf", type=Path, default=CONF)
    args = p.parse_args(argv)
    found = {e.name: e for e in entries(args.conf)}
    if args.what == "list":  # one line each: "<name> <cost_s>"
        print("\n".join(f"{e.name} {e.cost_s}" for e in found.values()))
        return 0
    if args.name not in found:
        print(f"unknown experiment: {args.name} (choose from: {' '.join(found)})",
              file=sys.stderr)
        return 2
    entry = found[args.name]
    # one line each: "override <text>" or "script <path> <jobs: 0|1>"
    for o in entry.long_overrides:
        print(f"override {o}")
    for s in entry.long_scripts:
        print(f"script {s['path']} {int(bool(s.get('jobs')))}")
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
