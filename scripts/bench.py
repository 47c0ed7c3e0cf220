"""Benchmarks: speed (and memory) of every reference as a ratio against the torch built-in.

Each area of the library contributes a section module ``nnref.bench_<area>`` exposing
``run(args) -> str`` (a markdown table). Run all sections, or some:

    python scripts/bench.py                      # everything
    python scripts/bench.py --section activations --device cpu
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import torch

import nnref.bench


def sections() -> dict[str, object]:
    found = {}
    for info in pkgutil.iter_modules(nnref.bench.__path__):
        if not info.name.startswith("_"):
            found[info.name] = f"nnref.bench.{info.name}"
    return dict(sorted(found.items()))


def main(argv: list[str] | None = None) -> int:
    available = sections()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--section", action="append", choices=list(available),
                   help="only this section (repeatable); default: all")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--quick", action="store_true", help="smaller sizes and shorter timings")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile columns")
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}")
    for name in args.section or available:
        start = time.perf_counter()
        module = importlib.import_module(available[name])
        print(f"\n## {name}\n")
        print(module.run(args))
        print(f"\n({name}: {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
