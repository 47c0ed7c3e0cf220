"""Benchmarks: the speed (and memory) of the references as a ratio against the torch built-ins,
measured in the same run; ``python -m nnref bench``.

Every module of this package not starting with ``_`` is a section exposing
``run(args) -> list[Table]``: ``args`` carries ``device``, ``quick`` (smaller sizes, shorter
timings), ``no_compile`` (no ``torch.compile`` columns), ``reps`` (alternating repetitions
behind every ratio) and ``bandwidth`` (the machine's copy bandwidth in bytes/s, measured once
at the start of the run). ``models`` is the headline: whole training steps of a CNN and an
MLP; the other sections time one kind of component each.

Every ratio is printed as ``median (min–max)`` over the per-repetition ratios; every per-op
row is checked against the copy bandwidth (a row faster than it is flagged, not compared).
``--json PATH`` writes the run as a record (device, torch version, git commit, date,
bandwidth, every table's cells); :func:`markdown` renders such a record as the tables
printed here, so documentation is generated from the record, never copied from a terminal.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import pkgutil
import platform
import subprocess
import time
from pathlib import Path

import torch

from nnref.bench._harness import REPS, copy_bandwidth, render

__all__ = ["load", "main", "markdown", "sections"]

_HEADLINE = "models"
FORMAT = 1  # version of the JSON record's layout


def sections() -> list[str]:
    """The section names, the headline first, then alphabetically."""
    names = sorted(info.name for info in pkgutil.iter_modules(__path__)
                   if not info.name.startswith("_"))
    return sorted(names, key=lambda name: name != _HEADLINE)


def _commit() -> str:
    """The git commit of the source tree, ``+dirty`` when it has uncommitted changes;
    ``unknown`` outside a git checkout."""
    root = Path(__file__).resolve().parents[3]
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty.strip() else "")


def _device_name(device: str) -> str:
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def load(path: str | Path) -> dict:
    """Read a record written by ``--json``, refusing one of another layout version."""
    record = json.loads(Path(path).read_text())
    if record.get("format") != FORMAT:
        raise ValueError(f"{path}: bench record format {record.get('format')!r}, "
                         f"this nnref reads {FORMAT}")
    return record


def markdown(record: dict | str | Path, sections: list[str] | None = None) -> str:
    """The tables of a bench record (a dict or a ``--json`` file) as markdown, preceded by one
    line naming where and when they were measured: what the README and the book print."""
    if not isinstance(record, dict):
        record = load(record)
    m = record["meta"]
    out = [f"Measured {m['date']} at commit {m['commit']}: torch {m['torch']}, {m['device']} "
           f"({m['device_name']}), {m['threads']} thread(s), copy bandwidth "
           f"{m['bandwidth'] / 1e9:.1f} GB/s{', --quick sizes' if m['quick'] else ''}."
           + (f" {m['note']}" if m.get("note") else "")]
    for name, tables in record["sections"].items():
        if sections is None or name in sections:
            out += [render(t) for t in tables]
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark sections named in ``argv`` (all by default) and print their tables."""
    available = sections()
    p = argparse.ArgumentParser(prog="nnref bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--section", action="append", choices=available,
                   help="only this section (repeatable); default: all")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--quick", action="store_true", help="smaller sizes and shorter timings")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile columns")
    p.add_argument("--reps", type=int, default=REPS,
                   help=f"alternating repetitions behind every ratio (at least 5; default {REPS})")
    p.add_argument("--json", metavar="PATH", help="also write the run as a JSON record")
    p.add_argument("--note", default="",
                   help="one line kept in the record and printed with it (e.g. 'loaded machine')")
    args = p.parse_args(argv)
    if args.reps < 5:
        p.error(f"--reps must be at least 5 (a ratio's interval needs them), got {args.reps}")
    args.bandwidth = copy_bandwidth(args.device, nbytes=(1 << 25) if args.quick else (1 << 28))
    meta = {"device": args.device, "device_name": _device_name(args.device),
            "torch": torch.__version__, "commit": _commit(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "threads": torch.get_num_threads(), "bandwidth": args.bandwidth,
            "quick": args.quick, "compile": not args.no_compile, "reps": args.reps,
            "note": args.note}
    record = {"format": FORMAT, "meta": meta, "sections": {}}
    print(markdown(record))
    for name in args.section or available:
        start = time.perf_counter()
        print(f"\n## {name}\n")
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            # the training section needs the optional experiment stack (Lightning, Hydra)
            if args.section or (err.name or "").startswith("nnref"):
                raise
            print(f"skipped: needs the `sweeps` extra ({err})")
            continue
        tables = [t.to_dict() for t in module.run(args)]
        record["sections"][name] = tables
        print("\n\n".join(render(t) for t in tables), flush=True)
        print(f"\n({name}: {time.perf_counter() - start:.0f} s)")
        if args.json:  # after each section: a long run interrupted keeps what it measured
            Path(args.json).write_text(json.dumps(record, indent=1) + "\n")
    return 0
