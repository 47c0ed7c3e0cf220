"""Benchmarks: the speed (and memory) of the references as a ratio against the torch built-ins,
measured in the same run; ``python -m nnref bench``.

Every module of this package not starting with ``_`` is a section exposing
``run(args) -> str``, a markdown table: ``args`` carries ``device``, ``quick`` (smaller sizes,
shorter timings) and ``no_compile`` (no ``torch.compile`` columns). ``models`` is the headline:
whole training steps of a CNN and an MLP; the other sections time one kind of component each.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import time

import torch

__all__ = ["main", "sections"]

_HEADLINE = "models"


def sections() -> list[str]:
    """The section names, the headline first, then alphabetically."""
    names = sorted(info.name for info in pkgutil.iter_modules(__path__)
                   if not info.name.startswith("_"))
    return sorted(names, key=lambda name: name != _HEADLINE)


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
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}")
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
        print(module.run(args), flush=True)
        print(f"\n({name}: {time.perf_counter() - start:.0f} s)")
    return 0
